"""The review page on real footage pulled over the dock link, served by uvicorn, in Debian's
Chromium (Playwright drives it; no browser is downloaded) and through a plain HTTP client."""
from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from evidence.keys import FileSigner, add_key, load_public_key
from evidence.paths import ArchiveDir, DataDir
from station.catalogue.catalogue import Catalogue, sessions
from station.custody import audit
from station.custody.access import Access
from station.custody.audit import AuditTrail, entries
from station.services import dock_init, open_station, pull, recheck
from station.web.app import create_app
from station.web.deps import Settings
from sync.ptywire import PtyWire
from tests.conftest import copy_archive
from tests.test_dock_archive import device_serving, record_marked
from tests.web import ARTEFACTS, CHROMIUM, CHROMIUM_FLAGS, Client, MovableClock, serving, wait_for

PASSWORD = "correct horse 7"
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+08:00")


def pulled_archive(tmp_path_factory, seconds: float) -> Path:
    """An archive holding one real session (2 s segments, a marker) pulled over a pty link."""
    device, archive = tmp_path_factory.mktemp("device"), tmp_path_factory.mktemp("station") / "archive"
    record_marked(device, seconds)
    dock_init(archive, [DataDir(device).public_key.read_text()])
    add_key(DataDir(device).docks, (archive / "dock" / "dock.pub").read_text())
    with PtyWire() as wire, device_serving(device, wire):
        assert not pull(archive, wire.b).failed
    return archive


@pytest.fixture(scope="module")
def pulled(tmp_path_factory) -> Path:
    return pulled_archive(tmp_path_factory, 3)


@pytest.fixture
def archive(pulled, tmp_path) -> Path:
    """A copy of the pulled archive a test may tamper with (its evidence read-only, as pulled)."""
    copy = tmp_path / "archive"
    copy_archive(pulled, copy)
    return copy


def served(archive: Path, settings: Settings = Settings(zone=ZoneInfo("Asia/Shanghai"))):
    """The page for ``archive`` with the station's users (an administrator, a reviewer, a
    supervisor, a custodian); yields (base URL, the station's database, the clock)."""
    clock = MovableClock()
    opened = open_station(archive, clock=clock)
    engine = opened.engine
    gate = Access(engine, AuditTrail(engine, FileSigner(ArchiveDir(archive).key), source="test"))
    admin = gate.add_user(None, "admin", "Administrator", "administrator", PASSWORD)
    for name, full_name, role in (("li", "李明", "reviewer"), ("wang", "王强", "supervisor"), ("zhao", "赵刚", "custodian")):
        gate.add_user(admin, name, full_name, role, PASSWORD)
    app = create_app(opened, settings)
    with serving(app) as base:
        yield base, engine, clock
    engine.dispose()


@pytest.fixture
def station(archive):
    yield from served(archive)


def session_id(archive: Path) -> str:
    return next(archive.glob("[0-9]*/*/*/*/*/*/*/session-open.json")).parent.name


def segment_file(archive: Path, number: int) -> Path:
    return next(archive.glob(f"[0-9]*/*/*/*/*/*/*/seg-{number:06d}.mp4"))


def flip_a_byte(video: Path, offset: int) -> None:
    """Change one bit of an archived video (the archive keeps evidence read-only: allow it first)."""
    video.chmod(stat.S_IRUSR | stat.S_IWUSR)
    with video.open("r+b") as file:
        file.seek(offset)
        byte = file.read(1)
        file.seek(offset)
        file.write(bytes([byte[0] ^ 0x01]))
    video.chmod(stat.S_IRUSR)


def trail(engine, session: str | None = None) -> list[dict]:
    """The audit entries (their bodies) made by the page: the tests' own set-up left out."""
    return [entry.body for entry in entries(engine, session) if entry.body["source"] != "test"]


def refusals(engine) -> list[dict]:
    return [entry for entry in trail(engine) if entry["outcome"] == "refused"]


# -- in Chromium ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} is not installed (scripts/system-deps.sh installs Debian's chromium)")
    with playwright.sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


def screenshot(page, name: str) -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / f"{name}.png"), full_page=True)
    print(f"screenshot {ARTEFACTS / name}.png")


def until(page, expression: str, deadline_s: float = 30.0) -> None:
    """Wait until ``expression`` is true in the page (polled from here: the page's CSP forbids
    the string evaluation Playwright's own wait uses)."""
    wait_for(lambda: page.evaluate(expression), expression, deadline_s)


def sign_in(page, base: str, user: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#user", user)
    page.fill("#password", PASSWORD)
    page.click("#sign-in")
    page.wait_for_selector("#who")


def test_review_search_play_tamper_export_and_audit_in_chromium(station, archive, browser):
    base, engine, _clock = station
    session = session_id(archive)
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: "Content Security Policy" in message.text and errors.append(message.text))

    page.goto(f"{base}/login")
    page.click("#lang-en")                       # English for the artefacts; Chinese is the default
    page.wait_for_selector("text=Sign in")
    screenshot(page, "1-login")
    sign_in(page, base, "li")
    page.fill("#q-device", "BC00001")
    page.fill("#q-marker", "party objects")
    page.click("#search")
    page.wait_for_selector("#results .session-link")
    assert page.locator("#results .session-link").all_inner_texts() == [session]
    screenshot(page, "2-search")

    page.click("#results .session-link")
    assert page.locator("#segments .verdict").all_inner_texts() == ["OK", "OK"]
    assert page.locator("#stop-reason").inner_text() == "duration reached"
    assert page.locator("#timeline .marker").count() == 1
    assert page.locator("#video").count() == 0   # no player before a reason is given
    page.fill("#reason", "complaint 2026-118: check what the officer said")
    page.click("#view")
    page.wait_for_selector("#video")
    assert page.locator("#granted-reason").inner_text() == "complaint 2026-118: check what the officer said"

    boundary = page.evaluate("JSON.parse(document.getElementById('player-data').textContent).segments[1].start")
    assert boundary > 1.5
    page.evaluate("() => { const v = document.getElementById('video'); v.muted = true; v.play(); }")
    until(page, f"document.getElementById('video').currentTime > {boundary + 0.3}", 60)
    assert page.evaluate("document.getElementById('video').error") is None
    assert page.locator("#player-error").inner_text() == ""
    until(page, "document.getElementById('playing-segment').textContent === 'seg-000002.mp4'")
    page.evaluate("document.getElementById('video').pause()")
    until(page, "/\\+08:00$/.test(document.getElementById('capture-time').textContent)")
    assert ISO.fullmatch(page.locator("#capture-time").inner_text())
    screenshot(page, "3-session-playing")

    assert page.locator("#needs-writeup").count() == 1      # stopped for "duration reached", not the end
    page.select_option("#writeup-reason", "other")
    page.fill("#writeup-text", "测试录像：按计划录制 3 秒后停止")
    page.click("#write-up")
    page.wait_for_selector(".writeup")
    assert "测试录像" in page.locator(".writeup").inner_text() and page.locator("#needs-writeup").count() == 0
    page.fill("#export-reason", "court order 2026-0042")
    page.fill("#export-destination", "district court")
    page.fill("#export-recipient", "zhao")
    page.click("#request-export")
    page.wait_for_selector("#export-status")
    assert page.locator("#export-status .state").inner_text() == "awaiting approval"
    assert page.locator("a[href='/exports']").count() == 0      # a reviewer does not decide exports
    page.click("#logout")

    sign_in(page, base, "wang")
    page.goto(f"{base}/exports")
    page.click("#export-1 .approve")
    page.wait_for_selector("#export-1.export-approved")
    screenshot(page, "4-exports")

    page.goto(f"{base}/sessions/{session}")
    page.fill("#case-number", "K-2026-118")
    page.fill("#case-name", "complaint at the station")
    page.click("#link-case")
    page.wait_for_selector("#case-list li")
    page.fill("#hold-reason", "complaint under investigation")
    page.click("#place-hold")
    page.wait_for_selector("#hold-list li")
    assert [c["number"] for c in Catalogue(engine).cases(session)] == ["K-2026-118"]
    assert [h["reason"] for h in Catalogue(engine).holds(session)] == ["complaint under investigation"]

    video = segment_file(archive, 2)
    checked_at = page.locator("#checked-at").inner_text()
    flip_a_byte(video, video.stat().st_size // 2)
    page.goto(f"{base}/sessions/{session}")      # the verdicts stored at ingest, and when: no byte read
    assert page.locator("#segments .verdict").all_inner_texts() == ["OK", "OK"]
    assert page.locator("#checked-at").inner_text() == checked_at and ISO.fullmatch(checked_at)
    page.click("#verify-now")                    # reads every byte again, stores what it finds
    page.wait_for_selector("#segments .verdict >> text=TAMPERED")
    assert page.locator("#segments .verdict").all_inner_texts() == ["OK", "TAMPERED"]
    assert page.locator("#timeline .span.state-TAMPERED").count() == 1
    assert "differs from what was sealed" in page.locator("#seg-2").inner_text()
    screenshot(page, "5-session-tampered")

    page.click("#audit-link")
    page.wait_for_selector("#audit")
    rows = [row for row in page.locator("#audit tr").all_inner_texts()[1:] if "\tsearch\t" not in row]
    actions = [row.split("\t")[2] for row in rows]
    assert actions == ["view", "write-up", "export-request", "export-approve", "case-linked", "hold-placed",
                       "verify"]
    assert "li (reviewer)" in rows[0] and "complaint 2026-118: check what the officer said" in rows[0]
    assert "li (reviewer)" in rows[1] and "reason: other" in rows[1]
    assert "li (reviewer)" in rows[2] and "court order 2026-0042" in rows[2] and "district court" in rows[2]
    assert all("wang (supervisor)" in row for row in rows[3:]) and "complaint under investigation" in rows[5]
    screenshot(page, "6-audit")
    steps = [(e["actor"], e["action"], e["footage"], e["detail"].get("criteria")) for e in trail(engine)
             if e["action"] in ("login", "logout", "search")]
    assert steps == [("li", "login", [], None), ("li", "search", [session], {}),
                     ("li", "search", [session], {"device": "BC00001", "marker": "party objects"}),
                     ("li", "logout", [], None), ("wang", "login", [], None), ("wang", "search", [session], {})]
    assert not errors and not refusals(engine)
    dock_key = load_public_key(ArchiveDir(archive).public_key.read_text())
    assert audit.verify(engine, {dock_key}) == []          # the page's entries are signed and chained


def give_reason_and_play(page, base: str, session: str) -> None:
    page.goto(f"{base}/sessions/{session}")
    page.fill("#reason", "supervision sample")
    page.click("#view")
    page.wait_for_selector("#video")
    page.evaluate("() => { const v = document.getElementById('video'); v.muted = true; v.play(); }")


def test_playback_goes_on_over_a_deleted_segment(tmp_path_factory, browser):
    archive = pulled_archive(tmp_path_factory, 5)              # three segments: 2 s, 2 s, 1 s
    middle = segment_file(archive, 2)
    middle.parent.chmod(0o755)
    middle.unlink()
    assert recheck(archive) == 1                                # the scheduled check finds it gone
    for base, _engine, _clock in served(archive):
        page = browser.new_page()
        sign_in(page, base, "li")
        give_reason_and_play(page, base, session_id(archive))
        assert page.locator("#segments .verdict").all_inner_texts() == ["完好", "缺失", "完好"]  # labels, in Chinese
        last = page.evaluate("JSON.parse(document.getElementById('player-data').textContent).segments[1].start")
        assert last > 3.5                                       # the player's second segment is the third
        until(page, f"document.getElementById('video').currentTime > {last + 0.3}", 60)
        assert page.evaluate("document.getElementById('video').error") is None
        until(page, "document.getElementById('playing-segment').textContent === 'seg-000003.mp4'")


def test_the_page_is_in_chinese_by_default_with_every_code_labelled(station, archive, browser):
    """Stop reasons, verification states and details, roles, audit actions and the audit
    entries' details read in Chinese: no code, no English sentence, no Python repr."""
    base, _engine, _clock = station
    session = session_id(archive)
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    sign_in(page, base, "li")
    assert page.locator("#search").inner_text() == "检索"
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert "(查阅员)" in page.locator(".who").inner_text()
    page.fill("#q-device", "BC00001")
    page.click("#search")
    page.wait_for_selector("#results .session-link")
    assert "达到单段录制时长" in page.locator("#results").inner_text()
    screenshot(page, "0-search-zh")
    page.click("#results .session-link")
    assert page.locator("#stop-reason").inner_text() == "达到单段录制时长"
    assert page.locator("#segments .verdict").all_inner_texts() == ["完好", "完好"]
    assert "秘密侦查措施" in page.locator("#writeup-reason").inner_text()
    video = segment_file(archive, 2)
    flip_a_byte(video, video.stat().st_size // 2)
    page.click("#verify-now")
    page.wait_for_selector("#segments .verdict >> text=被篡改")
    tampered = page.locator("#seg-2").inner_text()
    assert re.search(r"第 \d+ 个分片与签名封存时不一致（字节 \d+\.\.\d+）", tampered), tampered
    assert "differs" not in tampered
    screenshot(page, "0-session-tampered-zh")
    page.click("#logout")
    sign_in(page, base, "wang")
    page.goto(f"{base}/sessions/{session}/audit")
    page.wait_for_selector("#audit")
    trail = page.locator("#audit").inner_text()
    assert "检索条件: 设备：BC00001" in trail and "查阅员" in trail and "重新核验" in trail
    assert "criteria=" not in trail and "{'" not in trail and "_ns=" not in trail and "duration reached" not in trail
    screenshot(page, "0-audit-zh")


# -- over plain HTTP --------------------------------------------------------------------------

def test_footage_without_a_session_is_refused_and_logged(station, archive):
    base, engine, _clock = station
    session = session_id(archive)
    client = Client(base)
    answer = client.get(f"/sessions/{session}/media/seg-000001.mp4", {"Range": "bytes=0-99"})
    assert answer.status == 401 and b"ftyp" not in answer.body
    assert client.get(f"/sessions/{session}", {"Accept": "text/html"}).status == 303    # to the sign-in page
    [media, page] = refusals(engine)
    assert media["actor"] is None and media["detail"]["path"].endswith("media/seg-000001.mp4")
    assert "not signed in" in page["detail"]["why"] and media["source"] == "web 127.0.0.1"


def test_a_forged_csrf_token_is_refused_and_logged(station, archive):
    base, engine, _clock = station
    client = Client(base)
    client.csrf()                                  # the browser has a session, but not this token
    answer = client.post("/login", {"csrf": "forged", "user": "li", "password": PASSWORD})
    assert answer.status == 403 and "bodycam_session" not in (answer.headers.get("Set-Cookie") or "")
    assert client.post("/login", {"user": "li", "password": PASSWORD}).status == 403      # none at all
    assert client.sign_in("li", PASSWORD).status == 303
    session = session_id(archive)
    assert client.post(f"/sessions/{session}/view", {"csrf": "forged", "reason": "looking around"}).status == 403
    assert [(e["actor"], e["action"], e["detail"]["why"]) for e in refusals(engine)] == [
        (None, "csrf", "the form's CSRF token is missing or forged")] * 2 + [
        ("li", "csrf", "the form's CSRF token is missing or forged")]
    assert not [e for e in trail(engine) if e["action"] == "view"]


def test_a_wrong_password_is_refused_and_logged(station):
    base, engine, _clock = station
    client = Client(base)
    answer = client.sign_in("li", "not the password")
    assert answer.status == 401 and 'id="login-error"' in answer.text
    assert [(e["actor"], e["action"]) for e in refusals(engine)] == [("li", "login")]


def test_a_role_that_may_not_view_gets_no_footage_and_is_logged(station, archive):
    base, engine, _clock = station
    session = session_id(archive)
    custodian = Client(base)
    assert custodian.sign_in("zhao", PASSWORD).status == 303
    page = custodian.get(f"/sessions/{session}")
    assert page.status == 200 and 'id="may-not-view"' in page.text and 'id="reason-form"' not in page.text
    token = custodian.csrf(f"/sessions/{session}")
    assert custodian.post(f"/sessions/{session}/view", {"csrf": token, "reason": "curious"}).status == 403
    assert custodian.get(f"/sessions/{session}/media/seg-000001.mp4").status == 403
    reviewer = Client(base)                        # a reviewer, but no reason given yet
    assert reviewer.sign_in("li", PASSWORD).status == 303
    assert reviewer.get(f"/sessions/{session}/media/seg-000001.mp4").status == 403
    assert [(e["actor"], e["action"], e["footage"]) for e in refusals(engine)] == [
        ("zhao", "view", [session]), ("zhao", "view", [session]), ("li", "view", [session])]


def test_a_confidential_session_is_hidden_from_a_reviewer(station, archive):
    base, engine, _clock = station
    session = session_id(archive)
    reviewer = Client(base)
    reviewer.sign_in("li", PASSWORD)
    reviewer.post(f"/sessions/{session}/view", {"csrf": reviewer.csrf(), "reason": "before it was marked"})
    assert reviewer.get(f"/sessions/{session}/media/seg-000001.mp4", {"Range": "bytes=0-9"}).status == 206
    gate = Access(engine, AuditTrail(engine, FileSigner(ArchiveDir(archive).key), source="test"))
    gate.mark_confidential(gate.user("wang"), session, "private", "a minor is seen")
    assert session not in reviewer.get("/").text
    assert reviewer.get(f"/sessions/{session}").status == 403
    assert reviewer.get(f"/sessions/{session}/media/seg-000001.mp4", {"Range": "bytes=0-9"}).status == 403
    supervisor = Client(base)
    supervisor.sign_in("wang", PASSWORD)
    shown = supervisor.get(f"/sessions/{session}")
    assert shown.status == 200 and 'id="confidential">个人隐私<' in shown.text
    assert [(e["actor"], e["action"]) for e in refusals(engine)] == [("li", "view"), ("li", "view")]


def test_video_is_served_in_byte_ranges_once_a_reason_is_given(station, archive):
    base, engine, _clock = station
    session, original = session_id(archive), segment_file(archive, 1).read_bytes()
    client = Client(base)
    client.sign_in("li", PASSWORD)
    too_short = client.post(f"/sessions/{session}/view", {"csrf": client.csrf(f"/sessions/{session}"), "reason": "x"})
    assert too_short.status == 400 and 'id="reason-error"' in too_short.text
    given = client.post(f"/sessions/{session}/view", {"csrf": client.csrf(f"/sessions/{session}"),
                                                      "reason": "supervision sample"})
    assert given.status == 303
    ranged = client.get(f"/sessions/{session}/media/seg-000001.mp4", {"Range": "bytes=1000-1999"})
    assert ranged.status == 206 and ranged.body == original[1000:2000]
    assert ranged.headers["Content-Range"] == f"bytes 1000-1999/{len(original)}"
    whole = client.get(f"/sessions/{session}/media/seg-000001.mp4")
    assert whole.status == 200 and whole.body == original and whole.headers["Accept-Ranges"] == "bytes"
    assert client.get(f"/sessions/{session}/media/seg-000001.mp4",
                      {"Range": f"bytes={len(original)}-"}).status == 416
    assert client.get(f"/sessions/{session}/media/..%2Fsession-open.json").status == 404
    frames = client.get(f"/sessions/{session}/frames/seg-000001.mp4")
    assert frames.status == 200 and frames.text.startswith('{"frames":[[0,')
    [view] = [e for e in trail(engine) if e["action"] == "view"]
    assert (view["actor"], view["role"], view["footage"], view["reason"]) == (
        "li", "reviewer", [session], "supervision sample")


def test_cookies_are_httponly_samesite_and_sessions_expire(station, archive):
    base, engine, clock = station
    client = Client(base)
    login = client.get("/login")
    cookie = login.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie and "Secure" not in cookie
    assert "frame-ancestors 'none'" in login.headers["Content-Security-Policy"]
    signed = client.sign_in("li", PASSWORD)
    assert signed.headers["Set-Cookie"].split(";")[0] != cookie.split(";")[0]     # a new id on sign-in
    assert client.get("/").status == 200
    clock.ahead_ns += 16 * 60 * 10**9              # idle longer than the 15 min a session lives unused
    assert client.get("/", {"Accept": "text/html"}).status == 303
    assert "not signed in" in refusals(engine)[-1]["detail"]["why"]


def routes(found: list) -> list:
    """Every endpoint of an app, through included routers (which newer FastAPI keeps nested)."""
    from fastapi.routing import APIRoute

    endpoints = []
    for route in found:
        if isinstance(route, APIRoute):
            endpoints.append(route)
        elif hasattr(route, "original_router") or hasattr(route, "routes"):
            endpoints += routes(getattr(route, "original_router", route).routes)
    return endpoints


def test_every_route_but_signing_in_refuses_a_request_without_a_session(station, archive):
    base, engine, _clock = station
    app = create_app(open_station(archive, clock=MovableClock()))
    public = {("/login", "GET"), ("/login", "POST"), ("/lang/{lang}", "GET")}
    checked = 0
    for route in routes(app.routes):
        for method in route.methods:
            if (route.path, method) in public:
                continue
            path = re.sub(r"\{(\w+)\}", lambda name: {"name": "seg-000001.mp4"}.get(name.group(1), "1"), route.path)
            client = Client(base)
            token = client.csrf()
            answer = client.post(path, {"csrf": token}) if method == "POST" else client.get(path)
            assert answer.status == 401, (method, route.path, answer.status)
            checked += 1
    assert checked >= 12


def test_the_search_page_s_date_is_a_day_in_the_station_s_zone(station, archive):
    """02:00 Beijing time on 7 December is 18:00 UTC on the 6th: on the page, a session begun then
    is on the 7th, and its start is shown at +08:00."""
    base, engine, _clock = station
    session = session_id(archive)
    early = datetime(2026, 12, 7, 2, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    with engine.begin() as connection:
        connection.execute(sa.update(sessions).where(sessions.c.session == session)
                           .values(started_ns=int(early.timestamp()) * 10**9))
    client = Client(base)
    client.sign_in("li", PASSWORD)
    links = re.compile(r'class="session-link" href="[^"]+">([^<]+)<')
    assert links.findall(client.get("/?date=2026-12-07").text) == [session]
    assert links.findall(client.get("/?date=2026-12-06").text) == []


def test_the_scheduled_verify_stores_what_it_finds_and_the_page_shows_it_with_its_time(station, archive):
    base, _engine, _clock = station
    session = session_id(archive)
    client = Client(base)
    client.sign_in("li", PASSWORD)
    states = re.compile(r'<td class="verdict"><span class="badge state-([A-Z-]+)">')
    checked = re.compile(r'id="checked-at">([^<]+)<')
    first = client.get(f"/sessions/{session}").text
    flip_a_byte(segment_file(archive, 1), 100)
    stored = client.get(f"/sessions/{session}").text           # as checked at ingest: no byte read
    assert states.findall(stored) == ["OK", "OK"] and checked.findall(stored) == checked.findall(first)
    done = subprocess.run([sys.executable, "-m", "station", "verify", str(archive)], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    again = client.get(f"/sessions/{session}").text
    assert states.findall(again) == ["TAMPERED", "OK"]
    assert ISO.fullmatch(checked.findall(again)[0]) and checked.findall(again) != checked.findall(first)


def test_search_by_state_reads_the_footage_and_a_bad_date_gets_one_sentence(station, archive):
    base, _engine, _clock = station
    session = session_id(archive)
    client = Client(base)
    client.sign_in("li", PASSWORD)
    links = re.compile(r'class="session-link" href="/sessions/([^"]+)"')
    assert links.findall(client.get("/?state=verified").text) == [session]
    assert links.findall(client.get("/?state=TAMPERED").text) == []
    video = segment_file(archive, 1)
    flip_a_byte(video, video.stat().st_size - 100)
    assert links.findall(client.get("/?state=TAMPERED").text) == [session]
    assert links.findall(client.get("/?state=OK&officer=999999").text) == []
    bad = client.get("/?date=31.01.2026")
    assert bad.status == 200 and "is not a date YYYY-MM-DD" in bad.text and "Traceback" not in bad.text


def test_an_export_decided_by_its_requester_or_refused_without_a_note_is_refused(station, archive):
    base, engine, _clock = station
    session = session_id(archive)
    supervisor = Client(base)
    supervisor.sign_in("wang", PASSWORD)
    asked = supervisor.post(f"/sessions/{session}/exports", {"csrf": supervisor.csrf(), "reason": "court order 7",
                                                             "destination": "court", "recipient": "zhao"})
    assert asked.status == 303 and asked.headers["Location"].endswith("?export=1#exports")
    own = supervisor.post("/exports/1/decision", {"csrf": supervisor.csrf(), "decision": "approve"})
    assert own.status == 403 and "another supervisor must decide it" in own.text
    other = Client(base)
    reviewer = other.sign_in("li", PASSWORD)
    assert reviewer.status == 303
    assert other.post("/exports/1/decision", {"csrf": other.csrf(), "decision": "approve"}).status == 403
    assert [(e["actor"], e["action"]) for e in refusals(engine)] == [("wang", "export-approve"),
                                                                     ("li", "export-decide")]
    assert [e["action"] for e in trail(engine, session) if e["outcome"] == "done"] == ["export-request"]
