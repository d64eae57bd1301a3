"""The review page plays an encrypted session (issue 25) in Chromium through EME Clear Key: the
station answers the licence request with that session's content key only, over the signed-in
session, once a reason was given; docking and verification are unchanged."""
from __future__ import annotations

import base64
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from evidence.encryption import enrol_agency_key
from evidence.keys import add_key
from evidence.paths import DataDir
from evidence.records import read_record
from station.services import dock_init, pull
from station.web.deps import Settings
from sync.ptywire import PtyWire
from tests.test_dock_archive import device_serving, record_marked
from tests.test_web import browser, give_reason_and_play, served, session_id, sign_in, trail, until  # noqa: F401
from tests.web import Client


@pytest.fixture(scope="module")
def encrypted_station(tmp_path_factory):
    """An archive holding one encrypted session (3 s in 2 s segments) pulled over a pty link,
    served with the agency's private key; yields (base URL, engine, archive, agency key)."""
    agency = X25519PrivateKey.generate()
    device, station = tmp_path_factory.mktemp("device"), tmp_path_factory.mktemp("station")
    archive = station / "archive"
    public = agency.public_key().public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    enrol_agency_key(DataDir(device).device, public)
    record_marked(device, 3)
    dock_init(archive, [DataDir(device).public_key.read_text()])
    add_key(DataDir(device).docks, (archive / "dock" / "dock.pub").read_text())
    with PtyWire() as wire, device_serving(device, wire):
        assert not pull(archive, wire.b).failed
    key_file = station / "agency.key"
    key_file.write_bytes(agency.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
    key_file.chmod(0o600)
    for base, engine, _clock in served(archive, Settings(zone=ZoneInfo("Asia/Shanghai"), agency_keys=(key_file,))):
        yield base, engine, archive, agency


def kid_of(archive: Path) -> bytes:
    opened = next(archive.glob("[0-9]*/*/*/*/*/*/*/session-open.json"))
    return bytes.fromhex(read_record(opened).body["encryption"]["kid"])


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_chromium_plays_an_encrypted_session_across_a_segment_boundary(encrypted_station, browser):  # noqa: F811
    base, engine, archive, _agency = encrypted_station
    session = session_id(archive)
    page = browser.new_page()
    sign_in(page, base, "li")
    give_reason_and_play(page, base, session)
    boundary = page.evaluate("JSON.parse(document.getElementById('player-data').textContent).segments[1].start")
    until(page, f"document.getElementById('video').currentTime > {boundary + 0.3}", 60)
    assert page.evaluate("document.getElementById('video').error") is None
    assert page.inner_text("#player-error") == ""
    assert [entry["action"] for entry in trail(engine, session)].count("view") == 1
    page.close()


def test_the_licence_needs_a_reason_and_gives_only_that_sessions_key(encrypted_station):
    base, _engine, archive, _agency = encrypted_station
    session, kid = session_id(archive), kid_of(archive)
    client = Client(base)
    client.sign_in("li", "correct horse 7")
    message = json.dumps({"kids": [b64(kid), b64(bytes(16))], "type": "temporary"})
    before = client.post(f"/sessions/{session}/licence", {"csrf": client.csrf(f"/sessions/{session}"), "message": message})
    assert before.status == 403
    client.post(f"/sessions/{session}/view", {"csrf": client.csrf(f"/sessions/{session}"), "reason": "supervision sample"})
    answer = client.post(f"/sessions/{session}/licence", {"csrf": client.csrf(f"/sessions/{session}"), "message": message})
    assert answer.status == 200 and answer.headers["Cache-Control"] == "private, no-store"
    keys = json.loads(answer.body)["keys"]
    assert [k["kid"] for k in keys] == [b64(kid)] and len(base64.urlsafe_b64decode(keys[0]["k"] + "==")) == 16
    forged = client.post(f"/sessions/{session}/licence", {"csrf": "forged", "message": message})
    assert forged.status == 403
