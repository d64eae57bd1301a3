"""The review page tried as an attacker would (issue 27, security): a spoofed client address,
links out of the archive, a forged Host, sign-in sessions across a restart, login throttling
and field sizes, over plain HTTP against the page served by uvicorn as the station serves it."""
from __future__ import annotations

import os

from evidence.keys import FileSigner
from evidence.paths import ArchiveDir
from station.custody.access import Access
from station.custody.audit import AuditTrail
from station.services import open_station
from station.web.app import create_app
from station.web.deps import Settings
from tests.test_web import PASSWORD, archive, pulled, refusals, segment_file, session_id, station, trail  # noqa: F401 (fixtures)
from tests.web import Client, MovableClock, serving, wait_for


def test_a_forwarded_for_header_is_not_believed_from_an_unnamed_proxy(station, archive):
    base, engine, _clock = station
    client = Client(base)
    client.get("/", {"X-Forwarded-For": "6.6.6.6", "Accept": "text/html"})
    [refused] = refusals(engine)
    assert refused["source"] == "web 127.0.0.1"


def test_a_forwarded_for_header_is_believed_from_a_named_proxy(archive):
    opened = open_station(archive, clock=MovableClock())
    with serving(create_app(opened, Settings(trusted_proxies=("127.0.0.1",)))) as base:
        Client(base).get("/", {"X-Forwarded-For": "10.1.2.3", "Accept": "text/html"})
    [refused] = refusals(opened.engine)
    assert refused["source"] == "web 10.1.2.3"


def viewer(base: str, session: str) -> Client:
    client = Client(base)
    assert client.sign_in("li", PASSWORD).status == 303
    assert client.post(f"/sessions/{session}/view", {"csrf": client.csrf(), "reason": "supervision sample"}).status == 303
    return client


def test_a_link_inside_a_session_folder_is_not_followed_out_of_the_archive(station, archive, tmp_path):
    base, _engine, _clock = station
    session = session_id(archive)
    folder = segment_file(archive, 1).parent
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:the secret\n")
    folder.chmod(0o755)
    os.symlink(secret, folder / "seg-000009.mp4")
    os.symlink(segment_file(archive, 1), folder / "seg-000008.mp4")     # inside, but still a link
    client = viewer(base, session)
    for name in ("seg-000009.mp4", "seg-000008.mp4"):
        answer = client.get(f"/sessions/{session}/media/{name}")
        assert answer.status == 404 and b"the secret" not in answer.body and b"ftyp" not in answer.body
        assert client.get(f"/sessions/{session}/frames/{name}").status == 404
    assert client.get(f"/sessions/{session}/media/seg-000001.mp4", {"Range": "bytes=0-9"}).status == 206


def test_only_the_configured_host_names_are_served(station):
    base, _engine, _clock = station
    client = Client(base)
    assert client.get("/login", {"Host": "evil.example"}).status == 400
    assert client.get("/login", {"Host": "localhost"}).status == 200
    assert client.get("/login").status == 200                                   # 127.0.0.1:port


def test_the_language_switch_redirects_only_to_a_path_of_this_page(station):
    base, _engine, _clock = station
    client = Client(base)
    foreign = client.get("/lang/en", {"Host": "evil.example", "Referer": "http://evil.example/phish"})
    assert "evil.example" not in (foreign.headers.get("Location") or "")
    back = client.get("/lang/en", {"Referer": f"{base}/sessions/x?y=1"})
    assert back.status == 303 and back.headers["Location"] == "/sessions/x?y=1"
    for referer in (f"{base}//evil.example/", "http://evil.example/", "/\\evil.example"):
        assert client.get("/lang/en", {"Referer": referer}).headers["Location"] == "/"


def test_a_sign_in_survives_a_restart_of_the_page_and_still_expires(archive):
    clock = MovableClock()
    opened = open_station(archive, clock=clock)
    gate = Access(opened.engine, AuditTrail(opened.engine, FileSigner(ArchiveDir(archive).key), source="test"))
    gate.add_user(None, "admin", "Administrator", "administrator", PASSWORD)
    gate.add_user(gate.user("admin"), "li", "李明", "reviewer", PASSWORD)
    session = session_id(archive)
    with serving(create_app(opened)) as first:
        client = viewer(first, session)
        client.get("/lang/en", {"Referer": f"{first}/"})
    [cookie] = [c.value for c in client.jar if c.name == "bodycam_session"]
    stored = b"".join(path.read_bytes() for path in archive.glob("catalogue.sqlite*"))
    assert cookie.encode() not in stored                # only a hash of the id is kept
    with serving(create_app(open_station(archive, clock=clock))) as second:
        client.base = second
        page = client.get("/")
        assert page.status == 200 and 'id="who"' in page.text and 'lang="en"' in page.text
        assert client.get(f"/sessions/{session}/media/seg-000001.mp4", {"Range": "bytes=0-9"}).status == 206
        clock.ahead_ns += 16 * 60 * 10**9              # idle longer than a session lives unused
        assert client.get("/", {"Accept": "text/html"}).status == 303
    clock.ahead_ns = 0
    with serving(create_app(opened)) as third:
        client = Client(third)
        assert client.sign_in("li", PASSWORD).status == 303
        for _ in range(3):                             # in use, but past the 8 hours a sign-in lasts
            clock.ahead_ns += 10 * 60 * 10**9
            assert client.get("/").status == 200
        clock.ahead_ns += 8 * 3600 * 10**9
        assert client.get("/", {"Accept": "text/html"}).status == 303


def test_repeated_wrong_passwords_lock_the_user_out_and_the_page_says_so(station):
    base, engine, clock = station
    client = Client(base)
    for _ in range(5):
        assert client.sign_in("li", "not the password").status == 401
    locked = client.sign_in("li", PASSWORD)
    assert locked.status == 401 and 'id="login-locked"' in locked.text
    lockouts = [e for e in trail(engine) if e["action"] == "login-lockout"]
    assert [(e["detail"]["user"], e["detail"]["address"]) for e in lockouts][:1] == [("li", None)]
    assert {e["detail"].get("address") for e in lockouts} >= {"127.0.0.1"}
    clock.ahead_ns += 16 * 60 * 10**9                  # the lockout's 15 minutes are over
    assert Client(base).sign_in("li", PASSWORD).status == 303


def test_an_overlong_reason_is_refused_in_one_sentence_on_the_page(station, archive):
    base, engine, _clock = station
    session = session_id(archive)
    client = Client(base)
    client.sign_in("li", PASSWORD)
    answer = client.post(f"/sessions/{session}/view", {"csrf": client.csrf(), "reason": "x" * 1001})
    assert answer.status == 400 and "a reason has at most 1000 characters" in answer.text
    assert not [e for e in trail(engine) if e["action"] == "view"]


def test_the_station_s_web_command_believes_no_forwarded_for_and_answers_only_its_hosts(archive):
    import socket
    import subprocess
    import sys

    opened = open_station(archive)
    Access(opened.engine, AuditTrail(opened.engine, FileSigner(ArchiveDir(archive).key), source="test")).add_user(
        None, "admin", "Administrator", "administrator", PASSWORD)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "station", "web", "--archive", str(archive), "--port", str(port),
               "--allowed-host", "station.example"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "review page on" in server.stdout.readline()
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: _answers(base), "the review page to answer")
        client = Client(base)
        assert client.get("/login", {"Host": "evil.example"}).status == 400
        assert client.get("/login", {"Host": "station.example"}).status == 200
        client.get("/", {"X-Forwarded-For": "6.6.6.6", "Accept": "text/html"})
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert [e["source"] for e in refusals(opened.engine)] == ["web 127.0.0.1"]


def _answers(base: str) -> bool:
    try:
        return Client(base).get("/login").status == 200
    except OSError:
        return False
