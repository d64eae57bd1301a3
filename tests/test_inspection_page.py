"""The sample inspection page (抽检) on real footage, in Debian's Chromium and over plain HTTP:
a supervisor draws from a seed, reviews the sampled session (giving a reason to play it),
records the finding and reads the ledger (检查台账); Chinese by default; every step an entry
of the audit trail, which verifies; other roles are refused."""
from __future__ import annotations

import json

from evidence.paths import ArchiveDir
from evidence.records import record_hash
from station.custody import audit
from station.services import dock_signer
from tests.test_web import (  # noqa: F401
    PASSWORD, archive, browser, give_reason_and_play, pulled, refusals, screenshot, session_id, sign_in, station, trail)
from tests.web import Client


def test_a_supervisor_draws_reviews_and_records_a_finding_in_chromium(station, archive, browser):
    base, engine, _clock = station
    session = session_id(archive)
    page = browser.new_page()
    sign_in(page, base, "wang")
    assert page.locator("#nav-inspections").inner_text() == "抽检"
    page.click("#nav-inspections")
    page.wait_for_selector("#draw-form")
    assert page.locator("html").get_attribute("lang") == "zh-CN" and page.locator("h1").inner_text() == "抽检"
    page.fill("#draw-count", "1")
    page.fill("#draw-seed", "网页种子-1")
    page.click("#draw")
    page.wait_for_selector("#draw-facts")
    assert page.locator("#draw-seed").inner_text() == "网页种子-1"
    assert page.locator(".sampled").get_attribute("data-session") == session
    screenshot(page, "inspection-draw-zh")

    give_reason_and_play(page, base, session)           # the review page: playing needs a reason, as always
    page.goto(f"{base}/inspections/draws/1")
    page.check(f"#finding-{session} input[name=check_D1][value=no]")
    page.check(f"#finding-{session} input[name=verdict][value=noncompliant]")
    page.fill(f"#finding-{session} textarea[name=note]", "叠加时间与设备时钟不符")
    page.click(f"#finding-{session} .record-finding")
    page.wait_for_selector(f"#finding-{session} table.finding")
    assert page.locator(f"#finding-{session} .verdict").inner_text() == "不规范"

    page.goto(f"{base}/inspections")
    line = page.locator(f".ledger-line[data-session='{session}']")
    assert line.locator(".verdict").inner_text() == "不规范"
    assert line.locator(".ledger-state").inner_text() == "签名有效"
    screenshot(page, "inspection-ledger-zh")

    done = [(e["action"], e["reason"]) for e in trail(engine) if e["actor"] == "wang" and e["outcome"] == "done"]
    actions = [action for action, _ in done]
    assert actions.index("inspection-draw") < actions.index("view") < actions.index("inspection-finding")
    assert ("view", "supervision sample") in done and ("inspection-finding", "叠加时间与设备时钟不符") in done
    assert actions[-1] == "inspection-ledger"
    finding = next(e for e in trail(engine) if e["action"] == "inspection-finding")
    stored = archive / finding["detail"]["file"]
    assert stored.parent == ArchiveDir(archive).inspections / session
    assert finding["detail"]["checks"]["D1"] == "no" and finding["detail"]["verdict"] == "noncompliant"
    assert audit.verify(engine, {dock_signer(archive).public_key}) == []


def test_the_ledger_downloads_and_other_roles_are_refused(station, archive):
    base, engine, _clock = station
    session = session_id(archive)
    reviewer = Client(base)
    reviewer.sign_in("li", PASSWORD)
    assert reviewer.get("/inspections").status == 403
    assert reviewer.post("/inspections/draws", {"csrf": reviewer.csrf("/"), "count": "1"}).status == 403
    assert "nav-inspections" not in reviewer.get("/").text
    assert [(e["actor"], e["action"]) for e in refusals(engine)] == [("li", "inspect"), ("li", "inspect")]

    supervisor = Client(base)
    supervisor.sign_in("wang", PASSWORD)
    drawn = supervisor.post("/inspections/draws", {"csrf": supervisor.csrf("/"), "count": "1", "seed": "s"})
    assert drawn.status == 303 and drawn.headers["Location"] == "/inspections/draws/1"
    bad = supervisor.post("/inspections/draws", {"csrf": supervisor.csrf("/"), "count": "many"})
    assert bad.status == 400 and "whole number" in bad.text
    recorded = supervisor.post("/inspections/draws/1/findings", {
        "csrf": supervisor.csrf("/"), "session": session, "verdict": "compliant", "note": "规范",
        **{f"check_{rule}": "yes" for rule in ("R5", "R2", "R3R4", "D1", "D3")}})
    assert recorded.status == 303
    sheet = supervisor.get("/inspections/ledger.csv")
    assert sheet.status == 200 and sheet.body.startswith("\ufeff".encode())
    assert f"{session}," in sheet.text and ",规范," in sheet.text and "签名有效" in sheet.text
    printed = supervisor.get("/inspections/ledger.pdf")
    assert printed.status == 200 and printed.body.startswith(b"%PDF")
    assert printed.headers["Content-Type"] == "application/pdf"
    finding = next(e for e in trail(engine) if e["action"] == "inspection-finding")["detail"]
    assert finding["hash"] == record_hash(json.loads((archive / finding["file"]).read_text())["record"])
