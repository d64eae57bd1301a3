"""The station's agency private keys (issue 25): after a rotation it keeps every key, and each
encrypted session is played and exported with the key its open record names; a session whose
key it lacks, or a key file others may read, is refused in one sentence."""
from __future__ import annotations

import base64
import html
import json
import re
import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from evidence.encryption import agency_key_id, enrol_agency_key, unwrap
from evidence.paths import DataDir
from evidence.records import read_record
from station.cli import main as station_main
from station.services import pull
from station.web.deps import Settings
from sync.ptywire import PtyWire
from tests.conftest import record
from tests.test_dock_archive import device_serving, enrolled_copy
from tests.test_encrypted_export import pictures
from tests.test_station_access import OFFICER, PASSWORD, UNIT, Desk
from tests.test_web import PASSWORD as WEB_PASSWORD, browser, served, sign_in, until  # noqa: F401
from tests.web import Client


def public_pem(private: X25519PrivateKey) -> str:
    return private.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def key_id(private: X25519PrivateKey) -> str:
    return agency_key_id(private.public_key().public_bytes_raw())


def key_file(path: Path, private: X25519PrivateKey, mode: int = 0o600) -> Path:
    path.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    path.chmod(mode)
    return path


@pytest.fixture(scope="module")
def rotated(tmp_path_factory):
    """A station's archive holding two encrypted sessions of one device: the first wrapped for
    agency key A, the second for key B, enrolled in its place (a rotation); yields (archive,
    {session: the private key it was wrapped for}, A, B)."""
    old, new = X25519PrivateKey.generate(), X25519PrivateKey.generate()
    base = tmp_path_factory.mktemp("rotated")
    recorded = base / "recorded"
    for agency in (old, new):
        enrol_agency_key(DataDir(recorded).device, public_pem(agency))
        record(recorded, 1, officer=OFFICER, unit=UNIT)
    device, archive = enrolled_copy(recorded, base)
    with PtyWire() as wire, device_serving(device, wire):
        assert not pull(archive, wire.b).failed
    wrapped_for = {key_id(old): old, key_id(new): new}
    sessions = {}
    for opened in archive.glob("[0-9]*/*/*/*/*/*/*/session-open.json"):
        body = read_record(opened).body
        sessions[body["session"]] = wrapped_for[body["encryption"]["agency_key"]]
    assert sorted(map(key_id, sessions.values())) == sorted(wrapped_for)       # one session for each key
    return archive, sessions, old, new


def station_copy(rotated, tmp_path: Path, agency_key: str) -> tuple[Desk, Path]:
    """A copy of the archive with its users, and a configuration whose ``[encryption] agency_key``
    is ``agency_key`` (TOML: a path or a list of them)."""
    archive, *_ = rotated
    copy = tmp_path / "archive"
    shutil.copytree(archive, copy)
    config = tmp_path / "station.toml"
    config.write_text(f'archive = "{copy}"\n[encryption]\nagency_key = {agency_key}\n')
    return Desk(copy), config


def approved(desk: Desk, session: str) -> int:
    wanted = desk.exports.request(desk.user("rev"), "session", session, reason="移送人民法院作为证据",
                                  recipient="rev", destination="某区人民法院")
    desk.exports.decide(desk.user("sup"), wanted.id, True)
    return wanted.id


def export_make(capsys, config: Path, number: int, out: Path) -> tuple[int, str]:
    """``bodycam-station export make`` by the reviewer: (status, what it said, and only that)."""
    capsys.readouterr()
    status = station_main(["--config", str(config), "export", "make", str(number), "--out", str(out), "--user", "rev"])
    said = capsys.readouterr()
    return status, said.out + said.err


def one_sentence(text: str) -> str:
    said = text.strip().removeprefix("bodycam-station: ")
    assert "\n" not in said and ". " not in said, said
    return said


def test_a_station_keeping_both_keys_exports_the_sessions_wrapped_for_each(rotated, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("BODYCAM_PASSWORD", PASSWORD)
    _, sessions, old, new = rotated
    keys = [key_file(tmp_path / "old.key", old), key_file(tmp_path / "new.key", new)]
    desk, config = station_copy(rotated, tmp_path, json.dumps([str(path) for path in keys]))
    for session, agency in sessions.items():
        number = approved(desk, session)
        status, said = export_make(capsys, config, number, tmp_path / "out")
        assert status == 0, said
        made = tmp_path / "out" / f"export-{number:06d}"
        opened = read_record(made / "footage" / session / "session-open.json").body
        content_key = unwrap(opened["encryption"], session, agency)
        assert json.loads((made / "keys" / "content" / f"{session}.json").read_text())["key"] == content_key.hex()
        originals = sorted((made / "footage" / session).glob("seg-*.mp4"))
        assert originals
        for original in originals:
            assert pictures(made / "clear" / session / original.name) == pictures(original, content_key)


def test_a_session_wrapped_for_a_key_the_station_lacks_is_refused_naming_that_key(rotated, tmp_path, capsys,
                                                                                   monkeypatch):
    monkeypatch.setenv("BODYCAM_PASSWORD", PASSWORD)
    _, sessions, old, new = rotated
    desk, config = station_copy(rotated, tmp_path, json.dumps(str(key_file(tmp_path / "new.key", new))))
    by_key = {key_id(agency): session for session, agency in sessions.items()}
    number = approved(desk, by_key[key_id(new)])                  # the one-path form a station already has
    assert export_make(capsys, config, number, tmp_path / "out")[0] == 0
    number = approved(desk, by_key[key_id(old)])
    status, said = export_make(capsys, config, number, tmp_path / "out")
    assert status != 0 and not (tmp_path / "out" / f"export-{number:06d}").exists()
    assert one_sentence(said) == (f"session {by_key[key_id(old)]} is wrapped for agency key {key_id(old)}, which this "
                                  f"station does not hold ([encryption] agency_key names {key_id(new)})")


def page_copy(rotated, tmp_path: Path, *keys: Path):
    """The review page of a copy of the archive, given the agency key files ``keys``; yields its base URL."""
    archive, *_ = rotated
    copy = tmp_path / "page-archive"
    shutil.copytree(archive, copy)
    for base, _engine, _clock in served(copy, Settings(zone=ZoneInfo("Asia/Shanghai"), agency_keys=keys)):
        yield base


def licence(base: str, archive: Path, session: str) -> tuple[int, str]:
    """The page's Clear Key licence for the session's key id, asked once a reason was given:
    (status, the key in hex, or the refused page's sentence)."""
    client = Client(base)
    assert client.sign_in("li", WEB_PASSWORD).status in (200, 303)
    token = client.csrf(f"/sessions/{session}")
    assert client.post(f"/sessions/{session}/view", {"csrf": token, "reason": "supervision sample"}).status == 303
    opened = next(archive.glob(f"[0-9]*/*/*/*/*/*/{session}/session-open.json"))
    kid = bytes.fromhex(read_record(opened).body["encryption"]["kid"])
    message = json.dumps({"kids": [b64url(kid)], "type": "temporary"})
    answer = client.post(f"/sessions/{session}/licence", {"csrf": token, "message": message})
    if answer.status != 200:
        return answer.status, html.unescape(re.search(r'<p class="error" id="refused">(.*?)</p>', answer.text, re.DOTALL)[1])
    (key,) = json.loads(answer.body)["keys"]
    assert key["kid"] == b64url(kid)
    return answer.status, base64.urlsafe_b64decode(key["k"] + "==").hex()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_the_page_keeping_both_keys_gives_each_sessions_key_and_refuses_one_it_lacks(rotated, tmp_path):
    archive, sessions, old, new = rotated
    both = key_file(tmp_path / "old.key", old), key_file(tmp_path / "new.key", new)
    for base in page_copy(rotated, tmp_path / "both", *both):
        for session, agency in sessions.items():
            opened = next(archive.glob(f"[0-9]*/*/*/*/*/*/{session}/session-open.json"))
            assert licence(base, archive, session) == (200, unwrap(read_record(opened).body["encryption"], session,
                                                                   agency).hex())
    for base in page_copy(rotated, tmp_path / "new", both[1]):
        session = next(session for session, agency in sessions.items() if agency is old)
        status, said = licence(base, archive, session)
        assert status == 409 and one_sentence(said) == (
            f"session {session} is wrapped for agency key {key_id(old)}, which this station does not hold "
            f"([encryption] agency_key names {key_id(new)})")


def test_an_agency_key_file_others_may_read_is_refused_by_the_licence_and_the_export(
        rotated, tmp_path, capsys, monkeypatch, browser):  # noqa: F811
    monkeypatch.setenv("BODYCAM_PASSWORD", PASSWORD)
    archive, sessions, _old, new = rotated
    session = next(session for session, agency in sessions.items() if agency is new)
    exposed = key_file(tmp_path / "new.key", new, 0o644)
    refusal = f"{exposed} may be read by others than its owner: chmod 600 it (the agency key unwraps every " \
              f"encrypted session)"
    for base in page_copy(rotated, tmp_path / "page", exposed):
        status, said = licence(base, archive, session)
        assert status == 409 and one_sentence(said) == refusal
        page = browser.new_page()
        sign_in(page, base, "li")
        page.goto(f"{base}/sessions/{session}")
        page.fill("#reason", "supervision sample")
        page.click("#view")
        until(page, "document.getElementById('player-error').textContent !== ''", 60)
        assert page.inner_text("#player-error") == f"licence: {refusal}"
        page.close()
    desk, config = station_copy(rotated, tmp_path, json.dumps(str(exposed)))
    number = approved(desk, session)
    status, said = export_make(capsys, config, number, tmp_path / "out")
    assert status != 0 and one_sentence(said) == refusal
    assert not (tmp_path / "out" / f"export-{number:06d}").exists()
