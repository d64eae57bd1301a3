"""The review page and exports on footage the station no longer holds, read from a real Ceph
gateway (tests/ceph.py) in byte ranges: played in Chromium after the local copy was freed, and
two stations sharing a PostgreSQL catalogue and one bucket, the session docked at A, freed
there, and reviewed and exported at B; an encrypted session freed, then verified, played and
exported with its clear copies from the store."""
from __future__ import annotations

import json
import urllib.parse
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from evidence.encryption import enrol_agency_key, unwrap
from evidence.keys import FileSigner, add_key
from evidence.paths import ArchiveDir, DataDir
from evidence.records import read_record
from station.cli import main as station_main
from station.config import load as load_config
from station.custody.access import Access
from station.custody.audit import AuditTrail
from station.services import dock_init, open_station, pull, store_settings
from station.store import bucket as bucket_module
from station.web.app import create_app
from station.web.deps import Settings
from sync.ptywire import PtyWire
from tests.ceph import ceph_store  # noqa: F401
from tests.postgres import postgres_server, postgres_url  # noqa: F401
from tests.test_dock_archive import device_serving, record_marked
from tests.test_encrypted_export import pictures
from tests.test_web import PASSWORD, browser, give_reason_and_play, sign_in, until  # noqa: F401
from tests.web import Client, MovableClock, serving


def docked(tmp_path: Path, url: str | None, agency_public: str | None = None) -> Path:
    """An archive holding one real session (2 s segments, a marker) pulled over a pty link;
    encrypted for the agency key ``agency_public`` (PEM) when given."""
    device, archive = tmp_path / "device", tmp_path / "a" / "archive"
    if agency_public:
        enrol_agency_key(DataDir(device).device, agency_public)
    record_marked(device, 3)
    dock_init(archive, [DataDir(device).public_key.read_text()])
    add_key(DataDir(device).docks, (archive / "dock" / "dock.pub").read_text())
    with PtyWire() as wire, device_serving(device, wire):
        assert not pull(archive, wire.b, url=url).failed
    return archive


def configured(tmp_path: Path, store, url: str | None, monkeypatch) -> Path:
    """The stations' configuration: the bucket (a new one) and the shared catalogue; the
    store's credentials and the users' password in the environment."""
    config = tmp_path / "station.toml"
    config.write_text((f'catalogue = "{url}"\n' if url else "")
                      + f'[store]\nendpoint = "{store.endpoint}"\nbucket = "footage-{uuid.uuid4().hex[:12]}"\n')
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "BODYCAM_CATALOGUE", "BODYCAM_USER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", store.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", store.secret_key)
    monkeypatch.setenv("BODYCAM_PASSWORD", PASSWORD)
    return config


def bytes_fetched(monkeypatch) -> dict[str, list[tuple[int, int | None]]]:
    """By object path, the byte ranges (first, last; None: to the end) of every GET the
    station's S3 clients send from now on."""
    spans: dict[str, list[tuple[int, int | None]]] = {}
    made = bucket_module.client

    def watched(settings):
        s3_client = made(settings)

        def seen(request, **_):
            first, _, last = (request.headers.get("Range") or "bytes=0-").removeprefix("bytes=").partition("-")
            path = urllib.parse.unquote(urllib.parse.urlsplit(request.url).path)
            spans.setdefault(path, []).append((int(first), int(last) if last else None))
        s3_client.meta.events.register_last("before-sign.s3.GetObject", seen)
        return s3_client
    monkeypatch.setattr(bucket_module, "client", watched)
    return spans


def fetched_size(spans: list[tuple[int, int | None]], size: int) -> int:
    """How many bytes of an object of ``size`` bytes the GETs of ``spans`` asked for, counted
    as many times as asked."""
    return sum(min(size - 1 if last is None else last, size - 1) - first + 1 for first, last in spans)


def run(capsys, config: Path, *args: str) -> tuple[int, str]:
    status = station_main(["--config", str(config), *args])
    out, err = capsys.readouterr()
    return status, out + err


def stored_and_freed(capsys, config: Path, archive: Path) -> dict[str, bytes]:
    """The archive pushed, its videos freed; what they held, by name."""
    videos = {p.name: p.read_bytes() for p in archive.glob("[0-9]*/*/*/*/*/*/*/seg-*.mp4")}
    for verb in ("init", "push"):
        assert run(capsys, config, "store", verb, "--archive", str(archive))[0] == 0
    status, out = run(capsys, config, "store", "free", "--days", "0", "--archive", str(archive))
    assert status == 0 and out.startswith(f"freed {len(videos)} video(s) of 1 session(s)")
    assert not list(archive.glob("[0-9]*/*/*/*/*/*/*/seg-*.mp4"))
    return videos


def with_users(archive: Path, config: Path, url: str | None):
    """The page of ``archive``'s station, reading from the store, with a reviewer (li) and a
    supervisor (wang), given the configuration's agency keys; yields the base URL."""
    opened = open_station(archive, url, clock=MovableClock(), store=store_settings(load_config(config)))
    gate = Access(opened.engine, AuditTrail(opened.engine, FileSigner(ArchiveDir(archive).key), source="test"))
    if not gate.has_users():
        admin = gate.add_user(None, "admin", "Administrator", "administrator", PASSWORD)
        gate.add_user(admin, "li", "李明", "reviewer", PASSWORD)
        gate.add_user(admin, "wang", "王强", "supervisor", PASSWORD)
    settings = Settings(zone=ZoneInfo("Asia/Shanghai"), agency_keys=load_config(config).agency_keys)
    with serving(create_app(opened, settings)) as base:
        yield base
    opened.engine.dispose()


def played(browser, base: str, session: str) -> None:  # noqa: F811
    """The session played in Chromium past its first segment, every segment OK."""
    page = browser.new_page()
    sign_in(page, base, "li")
    give_reason_and_play(page, base, session)
    assert set(page.locator("#segments .verdict").all_inner_texts()) == {"完好"}      # OK, on the page in Chinese
    until(page, "document.getElementById('video').currentTime > 2.3", 60)
    assert page.evaluate("document.getElementById('video').error") is None
    page.close()


def ranged(base: str, session: str, videos: dict[str, bytes]) -> None:
    """The player's byte ranges, asked of the station the way the browser asks, are the originals'."""
    client = Client(base)
    assert client.sign_in("li", PASSWORD).status in (200, 303)
    token = client.csrf(f"/sessions/{session}")
    assert client.post(f"/sessions/{session}/view", {"csrf": token, "reason": "supervision sample"}).status == 303
    answer = client.get(f"/sessions/{session}/media/seg-000001.mp4", {"Range": "bytes=100-4099"})
    assert answer.status == 206 and answer.body == videos["seg-000001.mp4"][100:4100]
    assert answer.headers["Content-Range"] == f"bytes 100-4099/{len(videos['seg-000001.mp4'])}"


def reviewed(browser, archive: Path, config: Path, url: str | None, session: str,  # noqa: F811
             videos: dict[str, bytes]) -> None:
    """The session asked for in byte ranges and played in Chromium on ``archive``'s page."""
    for base in with_users(archive, config, url):
        ranged(base, session, videos)
        played(browser, base, session)


def session_of(archive: Path) -> str:
    return next(archive.glob("[0-9]*/*/*/*/*/*/*/session-open.json")).parent.name


def test_the_review_page_plays_a_session_from_the_store_after_its_local_copy_was_freed(
        tmp_path, ceph_store, browser, capsys, monkeypatch):  # noqa: F811
    archive = docked(tmp_path, None)
    config = configured(tmp_path, ceph_store, None, monkeypatch)
    videos = stored_and_freed(capsys, config, archive)
    reviewed(browser, archive, config, None, session_of(archive), videos)


def test_two_stations_one_bucket_a_session_docked_and_freed_at_a_is_reviewed_and_exported_at_b(
        tmp_path, ceph_store, postgres_url, browser, capsys, monkeypatch):  # noqa: F811
    archive_a = docked(tmp_path, postgres_url)
    archive_b = tmp_path / "b" / "archive"
    dock_init(archive_b)
    config = configured(tmp_path, ceph_store, postgres_url, monkeypatch)
    videos, session = stored_and_freed(capsys, config, archive_a), session_of(archive_a)
    reviewed(browser, archive_b, config, postgres_url, session, videos)
    assert not list(archive_b.rglob("seg-*.mp4"))          # B plays it from the store; no video was copied
    status, out = run(capsys, config, "export", "request", "--session", session, "--reason", "移送法院",
                      "--recipient", "li", "--for", "某区人民法院", "--archive", str(archive_b), "--user", "li")
    assert status == 0, out
    assert run(capsys, config, "export", "approve", "1", "--archive", str(archive_b), "--user", "wang")[0] == 0
    fetched = bytes_fetched(monkeypatch)
    status, out = run(capsys, config, "export", "make", "1", "--out", str(tmp_path / "out"),
                      "--archive", str(archive_b), "--user", "li")
    assert status == 0, out
    package = tmp_path / "out" / "export-000001"
    assert {p.name: p.read_bytes() for p in (package / "footage" / session).glob("seg-*.mp4")} == videos
    fetched_videos = {path.rpartition("/")[2]: spans for path, spans in fetched.items() if path.endswith(".mp4")}
    assert {name: fetched_size(spans, len(videos[name])) for name, spans in fetched_videos.items()} == \
        {name: len(data) for name, data in videos.items()}        # each video read from the store once
    verification = (package / "verification.txt").read_text()
    assert "read from the central store, version" in verification and "C2PA" in verification


def test_an_encrypted_session_freed_here_is_verified_played_and_exported_with_clear_copies_from_the_store(
        tmp_path, ceph_store, browser, capsys, monkeypatch):  # noqa: F811
    agency = X25519PrivateKey.generate()
    archive = docked(tmp_path, None, agency.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode())
    session = session_of(archive)
    opened = read_record(next(archive.glob(f"[0-9]*/*/*/*/*/*/{session}/session-open.json"))).body
    key = unwrap(opened["encryption"], session, agency)
    agency_file = tmp_path / "agency.key"
    agency_file.write_bytes(agency.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()))
    agency_file.chmod(0o600)
    config = configured(tmp_path, ceph_store, None, monkeypatch)
    config.write_text(config.read_text() + f'[encryption]\nagency_key = "{agency_file}"\n')
    videos = stored_and_freed(capsys, config, archive)
    status, out = run(capsys, config, "verify", str(archive))
    assert status == 0 and out.count("read from the central store, version") == len(videos), out
    for base in with_users(archive, config, None):
        played(browser, base, session)              # the Clear Key licence, the segments from the store
    status, out = run(capsys, config, "export", "request", "--session", session, "--reason", "移送法院",
                      "--recipient", "li", "--for", "某区人民法院", "--archive", str(archive), "--user", "li")
    assert status == 0, out
    assert run(capsys, config, "export", "approve", "1", "--archive", str(archive), "--user", "wang")[0] == 0
    fetched = bytes_fetched(monkeypatch)
    status, out = run(capsys, config, "export", "make", "1", "--out", str(tmp_path / "out"),
                      "--archive", str(archive), "--user", "li")
    assert status == 0, out
    package = tmp_path / "out" / "export-000001"
    assert {p.name: p.read_bytes() for p in (package / "footage" / session).glob("seg-*.mp4")} == videos
    assert {path.rpartition("/")[2]: fetched_size(spans, len(videos[path.rpartition("/")[2]]))
            for path, spans in fetched.items() if path.endswith(".mp4")} == \
        {name: len(data) for name, data in videos.items()}      # each read once: the clear copy from the package's
    assert json.loads((package / "keys" / "content" / f"{session}.json").read_text())["key"] == key.hex()
    for name in videos:
        assert pictures(package / "clear" / session / name) == pictures(package / "footage" / session / name, key)
    assert "read from the central store, version" in (package / "verification.txt").read_text()
