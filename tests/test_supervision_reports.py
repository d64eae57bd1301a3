"""The supervisors' reports (issue 24): the periodic usage report, the devices not docked and
the chain-of-custody report.

A month of activity is made through the catalogue's own API (signed device records filed by
``Catalogue.take``, dockings noted by ``Catalogue.docked``, the device ledger, write-ups, a
docking the witness refused); the stored verification verdicts and the central store's stored
sessions are written into their tables as ``verify`` and ``store push`` write them (no bucket
here). Every figure of the report is checked against a count the test makes from its own list
of what it generated; the PDFs are read back with pdftotext and drawn with pdftoppm."""
from __future__ import annotations

import csv
import functools
import hashlib
import io
import os
import random
import re
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from evidence.keys import FileSigner
from evidence.records import FORMAT, GENESIS, sign
from station.catalogue import ledger, writeup
from station.catalogue.catalogue import DAY_NS, Catalogue, station_id
from station.catalogue.verdicts import segment_verdicts, session_checks
from station.custody import audit
from station.custody.access import Access
from station.intake.witness import Witness
from station.services import dock_init, open_station, recheck
from station.store.store import stored_sessions
from station.supervision import reports, usage
from station.supervision.undocked import undocked
from tests.web import Client

HOUR = 3600 * 10**9
PASSWORD = "correct horse 7"
UNITS = {"330100000001": "城东派出所", "330100000002": "城西派出所"}
OFFICERS = {"100001": ("张三", "330100000001"), "100002": ("李四", "330100000001"),
            "100003": ("王五", "330100000001"), "200001": ("赵六", "330100000002")}
DEVICES = {"BC00001": "100001", "BC00002": "100002", "BC00003": "100003", "BC00004": "200001"}
STOPS = ["end_of_enforcement"] * 6 + ["unspecified", "witness_request", "battery"]
REFUSAL = "device BC00003 rewound its chain: its head is record 3, but this station took record 9 of it already"


@dataclass
class Made:
    """One session as the test made it: what every figure is counted from."""

    session: str
    device: str
    key_id: str
    officer: str
    unit: str
    started: int
    ended: int
    stop: str | None              # None: no close record
    interrupted: bool = False
    segments: int = 1
    written: bool = False
    tampered: int = 0
    stored: int | None = None


@dataclass
class Month:
    archive: Path
    now: int
    since: int
    until: int
    made: list[Made]
    dockings: dict[str, list[int]] = field(default_factory=dict)     # key id -> docked at


def _records(signer: FileSigner, made: Made, seq: int, prev: str, rng: random.Random):
    """The signed records of ``made``: open, its segments' manifests, the close (unless none)."""
    name, unit = OFFICERS[made.officer][0], made.unit
    common = {"format": FORMAT, "device": made.device, "key_id": signer.key_id, "session": made.session}
    who = {"officer": {"police_number": made.officer, "name": name},
           "unit": {"number": unit, "name": UNITS[unit]}, "firmware": "1", "clock": {"status": "trusted"}}
    opened = sign({**common, **who, "type": "session-open", "seq": seq, "prev": prev, "started_wall": made.started,
                   "link": None, "pre_event_ms": 0}, signer)
    items, last = [("session-open.json", opened)], opened
    step = (made.ended - made.started) // made.segments
    for number in range(1, made.segments + 1):
        first = {"n": 0, "pts": 0, "mono": 0, "wall": made.started + (number - 1) * step}
        final = {"n": 9, "pts": 9, "mono": step, "wall": made.started + number * step}
        last = sign({**common, **who, "type": "segment", "seq": seq + number, "prev": last.hash, "segment": number,
                     "file": {"name": f"seg-{number:06d}.mp4", "size": 1, "sha256": f"{rng.getrandbits(256):064x}"},
                     "parts": [], "index": {"name": "i", "size": 1, "sha256": "0" * 64},
                     "frames": {"count": 10, "first": first, "last": final}, "flags": [], "markers": [],
                     "place": {}, "sealed_wall": final["wall"]}, signer)
        items += [(f"seg-{number:06d}.mp4.manifest", last), (f"seg-{number:06d}.mp4.idx", None),
                  (f"seg-{number:06d}.mp4", None)]
    if made.stop is not None:
        items.append(("session-close.json", sign({
            **common, "type": "session-close", "seq": seq + made.segments + 1, "prev": last.hash,
            "segments": made.segments, "last_segment": last.hash, "reason": made.stop,
            "flags": ["interrupted"] if made.interrupted else [], "ended_wall": made.ended}, signer)))
    return items


def _plan(rng: random.Random, since: int, now: int) -> list[Made]:
    """About a month of sessions: each device most days, a session recorded by an officer the
    ledger does not name (D3), one interrupted, one never closed; the last ends 3 days before now."""
    made: list[Made] = []
    for day in range(28):
        for device, officer in DEVICES.items():
            for turn in range(rng.choice((0, 1, 1, 2))):
                started = since + day * DAY_NS + (8 + 6 * turn + rng.randrange(5)) * HOUR + rng.randrange(HOUR)
                if started > now - 3 * DAY_NS:
                    continue
                ended = started + rng.randrange(5, 90) * 60 * 10**9
                made.append(Made(f"{device}-{started}", device, "", officer, OFFICERS[officer][1], started, ended,
                                 rng.choice(STOPS), segments=rng.randrange(1, 4)))
    made.sort(key=lambda m: m.started)
    swapped = next(m for m in made if m.device == "BC00002")
    swapped.officer = "100003"                                        # wore another officer's device
    cut = next(m for m in made if m.device == "BC00001" and m.stop == "end_of_enforcement")
    cut.stop, cut.interrupted = "power loss", True
    never_closed = next(m for m in reversed(made) if m.device == "BC00003")
    never_closed.stop = None
    return made


def _dock_delays(made: list[Made], rng: random.Random) -> dict[str, int | None]:
    """When each session's device docks after it (hours); the last session of BC00004 never docks."""
    delays: dict[str, int | None] = {m.session: rng.choice((1, 3, 8, 20, 30, 50)) for m in made}
    delays[[m for m in made if m.device == "BC00004"][-1].session] = None
    return delays


@pytest.fixture(scope="module")
def month(tmp_path_factory) -> Month:
    folder = tmp_path_factory.mktemp("supervision")
    archive = folder / "archive"
    dock_init(archive)
    now = time.time_ns()
    since = (now // DAY_NS - 30) * DAY_NS
    rng = random.Random(24)
    made = _plan(rng, since, now)
    delays = _dock_delays(made, rng)
    station = open_station(archive)
    at = [0]
    catalogue = Catalogue(station.engine, clock=lambda: at[0])
    trail = station.trail("test")
    keeper = station.desk(None).catalogue
    for device, officer in DEVICES.items():
        ledger.assign(keeper, device, officer, actor="custodian", at_ns=since - DAY_NS)
    signers = {device: FileSigner.generate(folder / f"{device}.key") for device in DEVICES}
    chain = {device: (1, GENESIS) for device in DEVICES}
    result = Month(archive, now, since, (now // DAY_NS + 1) * DAY_NS, made)
    me = station_id(archive)
    for m in made:
        signer = signers[m.device]
        m.key_id = signer.key_id
        items = _records(signer, m, *chain[m.device], rng)
        chain[m.device] = (items[-1][1].body["seq"] + 1 if items[-1][1] else 0, _last_hash(items))
        delay = delays[m.session]
        docked = m.ended + (delay or 1) * HOUR
        if delay is not None:
            at[0] = docked
            catalogue.docked(me, signer.key_id)
            result.dockings.setdefault(signer.key_id, []).append(docked)
        folder_name = f"{m.unit}/{m.device}/{m.officer}/{m.session}"
        for name, record in items:
            catalogue.take(me, folder_name, name, record, docked)
    needing = [m for m in made if _needs_writeup(m)]
    for m in needing[::2]:
        at[0] = m.ended + 30 * HOUR
        writeup.write_up(catalogue, archive, m.session, "witness_request", "当事人要求停止录像。", actor="zhang",
                         signer=station.signer)
        m.written = True
    _verdicts(station.engine, made[3::7], rng)
    _stored(station.engine, made[::3], rng)
    Witness(station.engine, trail).refuse(signers["BC00003"].key_id, "BC00003", REFUSAL)
    gate = Access(station.engine, trail)
    admin = gate.add_user(None, "admin", "Administrator", "administrator", PASSWORD)
    gate.add_user(admin, "wang", "王强", "supervisor", PASSWORD)
    gate.add_user(admin, "li", "李明", "reviewer", PASSWORD)
    station.engine.dispose()
    return result


def _last_hash(items) -> str:
    return [record for _, record in items if record is not None][-1].hash


def _needs_writeup(m: Made) -> bool:
    return m.stop is not None and (m.stop != "end_of_enforcement" or m.interrupted)


def _verdicts(engine, chosen: list[Made], rng: random.Random) -> None:
    """Stored verdicts as ``verify`` writes them: some segments found TAMPERED."""
    with engine.begin() as connection:
        for m in chosen:
            m.tampered = rng.randrange(0, m.segments + 1)
            connection.execute(session_checks.insert().values(session=m.session, checked_ns=m.ended + DAY_NS,
                                                              layout="{}"))
            connection.execute(segment_verdicts.insert(), [
                {"session": m.session, "name": f"seg-{n:06d}.mp4", "state": "TAMPERED" if n <= m.tampered else "OK",
                 "detail": ""} for n in range(1, m.segments + 1)])


def _stored(engine, chosen: list[Made], rng: random.Random) -> None:
    """Stored sessions as ``store push`` records them, some within 48 h of their end, some later."""
    with engine.begin() as connection:
        for m in chosen:
            m.stored = m.ended + rng.choice((10, 40, 47, 49, 70)) * HOUR
            connection.execute(stored_sessions.insert().values(session=m.session, files=3, retain_until_ns=0,
                                                               stored_ns=m.stored))


# -- the figures, counted by the test ----------------------------------------------------------

def _docked_at(month: Month, m: Made) -> int | None:
    after = [at for at in month.dockings.get(m.key_id, []) if at >= m.ended]
    return min(after) if after else None


def _ended(m: Made) -> int:
    return m.ended if m.stop is not None else m.started + (m.ended - m.started) // m.segments * m.segments


def expected(month: Month, unit: str | None, since: int, until: int) -> dict[str, str]:
    chosen = [m for m in month.made if since <= m.started < until and unit in (None, m.unit)]
    docking = Counter()
    for m in chosen:
        docked = _docked_at(month, m)
        docking["on" if docked is not None and docked - _ended(m) <= DAY_NS else
                "late" if docked is not None else "never"] += 1
    stored = Counter("none" if m.stored is None else "in" if m.stored - _ended(m) <= 2 * DAY_NS else "late"
                     for m in chosen)
    devices = {m.device for m in chosen}
    refused = 1 if "BC00003" in devices or unit is None else 0
    return {"录像数": str(len(chosen)), "录像时长（小时）": f"{sum(_ended(m) - m.started for m in chosen) / HOUR:.1f}",
            "使用设备数": str(len(devices)), "佩戴民警数": str(len({m.officer for m in chosen})),
            "结束后24小时内接入": str(docking["on"]), "结束后超过24小时接入": str(docking["late"]),
            "结束后尚未接入": str(docking["never"]), "48小时内存入中心存储": str(stored["in"]),
            "超过48小时存入中心存储": str(stored["late"]), "尚未存入中心存储": str(stored["none"]),
            "中断录像数": str(sum(m.interrupted for m in chosen)),
            "需补录说明的录像": str(sum(_needs_writeup(m) for m in chosen)),
            "尚未补录说明": str(sum(_needs_writeup(m) and not m.written for m in chosen)),
            "拒绝接入次数（链回退或分叉）": str(refused), "被篡改分段数": str(sum(m.tampered for m in chosen)),
            "签名民警与设备台账不符": str(sum(m.officer != DEVICES[m.device] for m in chosen))}


def _open(month: Month):
    return open_station(month.archive).desk(None).catalogue


def test_every_figure_of_the_usage_report_is_the_count_made_independently(month):
    catalogue = _open(month)
    period = usage.Period(month.since, month.until, "30 days")
    for unit in (*UNITS, None):
        report = usage.usage(catalogue, unit, period, month.now, UTC)
        assert dict(reports.figures(report)) == expected(month, unit, month.since, month.until), unit
        chosen = [m for m in month.made if unit in (None, m.unit)]
        assert Counter(code or "" for code in report.stops.elements()) == \
            Counter(m.stop or "" for m in chosen)
        for officer in {m.officer for m in chosen}:
            mine = [m for m in chosen if m.officer == officer]
            share = report.officers[officer]
            assert (share.sessions, share.worn) == (len(mine), {m.device for m in mine})
            assert round(share.hours, 6) == round(sum(_ended(m) - m.started for m in mine) / HOUR, 6)
        for device in {m.device for m in chosen}:
            assert report.devices[device].worn == {f"{OFFICERS[o][0]}（{o}）" for o in
                                                   {m.officer for m in chosen if m.device == device}}
        assert sum(count for _, count, _ in report.days) == len(chosen)
        assert [day for day, count, _ in report.days if count] == sorted({
            time.strftime("%Y-%m-%d", time.gmtime(m.started // 10**9)) for m in chosen})
    this_month = usage.month(time.strftime("%Y-%m", time.gmtime(month.now // 10**9)), UTC)
    report = usage.usage(catalogue, "330100000001", this_month, month.now, UTC)
    assert dict(reports.figures(report)) == expected(month, "330100000001", this_month.since_ns, this_month.until_ns)


def test_inspection_findings_reach_the_report_through_its_hook(month):
    period = usage.Period(month.since, month.until, "30 days")
    asked = []

    def findings(catalogue, unit, since, until):
        asked.append((unit, since, until))
        return {"compliant": 4, "noncompliant": 1}

    report = usage.usage(_open(month), "330100000001", period, month.now, UTC, findings)
    assert asked == [("330100000001", month.since, month.until)]
    assert ("抽检结论：规范", "4") in reports.figures(report) and ("抽检结论：不规范", "1") in reports.figures(report)


def test_devices_not_docked_and_late_dockings(month):
    found = undocked(_open(month), month.now, month.since)
    assert [d["device"] for d in found.devices] == ["BC00004"]
    late = sorted(m.session for m in month.made
                  if (docked := _docked_at(month, m)) is not None and docked - _ended(m) > DAY_NS)
    assert sorted(s["session"] for s in found.late) == late and late
    assert undocked(_open(month), month.now, month.since, "330100000001").devices == []


# -- the command line, its PDF and CSV ------------------------------------------------------------

def station_command(month: Month | Path, *args: str, user: str = "wang") -> subprocess.CompletedProcess:
    env = {**os.environ, "BODYCAM_USER": user, "BODYCAM_PASSWORD": PASSWORD}
    env.pop("BODYCAM_CATALOGUE", None)
    archive = month.archive if isinstance(month, Month) else month
    return subprocess.run([sys.executable, "-m", "station", *args, "--archive", str(archive)],
                          capture_output=True, text=True, env=env, timeout=120, check=False)


def pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout


def rendered(path: Path, folder: Path) -> list[Path]:
    subprocess.run(["pdftoppm", "-r", "50", "-png", str(path), str(folder / "page")], check=True)
    pages = sorted(folder.glob("page*.png"))
    assert pages and all(page.stat().st_size > 5_000 for page in pages)
    return pages


def test_the_usage_report_command_writes_a_pdf_and_csv_whose_figures_match(month, tmp_path):
    first = time.strftime("%Y-%m-%d", time.gmtime(month.since // 10**9))
    last = time.strftime("%Y-%m-%d", time.gmtime((month.until - DAY_NS) // 10**9))
    pdf, table = tmp_path / "usage.pdf", tmp_path / "usage.csv"
    done = station_command(month, "report", "usage", "--unit", "330100000001", "--since", first, "--until", last,
                           "--out", str(pdf), "--csv", str(table))
    assert done.returncode == 0, done.stderr
    figures = expected(month, "330100000001", month.since, month.until)
    text = pdf_text(pdf)
    assert reports.TITLE in text and "城东派出所（330100000001）" in text and f"{first} – {last}" in text
    for label, value in figures.items():
        assert re.search(rf"^\s*{re.escape(label)}\s+{re.escape(value)}\s*$", text, re.MULTILINE), (label, value)
    for officer in ("100001", "100002", "100003"):
        assert f"{OFFICERS[officer][0]}（{officer}）" in text
    assert "每日录像时长（小时）" in text and "停止录像原因（条）" in text and "未选择原因" in text
    rendered(pdf, tmp_path)
    rows = list(csv.reader(io.StringIO(table.read_text(encoding="utf-8"))))
    assert rows[0] == ["类别", "对象", "指标", "数值"]
    assert {row[2]: row[3] for row in rows if row[0] == "汇总"} == figures
    counted = Counter(m.officer for m in month.made if m.unit == "330100000001")
    assert {row[1]: int(row[3]) for row in rows if row[0] == "民警" and row[2] == "录像数"} == counted
    [entry] = [e.body for e in audit.entries(_open(month).engine) if e.body["action"] == "report-usage"]
    assert entry["actor"] == "wang" and entry["detail"]["pdf"]["sha256"] == hashlib.sha256(pdf.read_bytes()).hexdigest()
    assert entry["detail"]["csv"]["sha256"] == hashlib.sha256(table.read_bytes()).hexdigest()
    assert station_command(month, "audit", "verify").returncode == 0


def test_the_undocked_command_names_the_device_and_the_late_sessions(month):
    done = station_command(month, "report", "undocked", "--days", "40")
    assert done.returncode == 1, done.stderr
    assert re.search(r"^1 device\(s\) not docked.*\n  BC00004 ", done.stdout, re.MULTILINE)
    late = [m.session for m in month.made if (d := _docked_at(month, m)) is not None and d - _ended(m) > DAY_NS]
    assert f"{len(late)} session(s) docked more than 24 h after their end" in done.stdout
    assert all(session in done.stdout for session in late)
    overdue = [m for m in month.made if m.stored is None]      # all docked (archived) days ago, not stored
    assert f"{len(overdue)} session(s) docked more than 24 h ago and not in the central store" in done.stdout


# -- the chain of custody of real footage ---------------------------------------------------------

CASE = "K-2026-0042"


@pytest.fixture(scope="module")
def handled(tmp_path_factory) -> tuple[Path, str]:
    """A real session pulled over the dock link, verified, viewed, held, linked to a case and
    asked for by a court: each step as the station's users do it."""
    from tests.test_web import pulled_archive, session_id

    archive = pulled_archive(tmp_path_factory, 3)
    session = session_id(archive)
    recheck(archive)
    station = open_station(archive)
    gate = Access(station.engine, station.trail("test"))
    admin = gate.add_user(None, "admin", "Administrator", "administrator", PASSWORD)
    wang = gate.add_user(admin, "wang", "王强", "supervisor", PASSWORD)
    li = gate.add_user(admin, "li", "李明", "reviewer", PASSWORD)
    gate.add_user(admin, "zhao", "赵刚", "custodian", PASSWORD)
    assert station_command(archive, "view", session, "--reason", "复核现场执法过程", user="li").returncode == 0
    supervisor = station.desk(wang, "test")
    supervisor.catalogue.hold("诉讼保全：案件审理中", actor="wang", session=session)
    supervisor.catalogue.open_case(CASE, "盗窃案", "张某", actor="wang")
    supervisor.catalogue.link(CASE, session, actor="wang")
    asked = station.desk(li, "test").exports.request(li, "session", session, reason="法院调取证据", recipient="zhao",
                                                     destination="某某区人民法院")
    supervisor.exports.decide(wang, asked.id, True)
    station.engine.dispose()
    return archive, session


def flat(path: Path) -> str:
    """The PDF's text in the order it was written, without the spaces and line breaks of its layout."""
    text = subprocess.run(["pdftotext", "-raw", str(path), "-"], capture_output=True, text=True, check=True).stdout
    return re.sub(r"\s+", "", text)


def test_the_custody_report_lists_every_step_and_audit_entry_of_the_footage(handled, tmp_path):
    from station.words import labels

    archive, session = handled
    pdf = tmp_path / "custody.pdf"
    done = station_command(archive, "report", "custody", session, "--out", str(pdf))
    assert done.returncode == 0, done.stderr
    assert "the audit trail verifies" in done.stdout
    text = flat(pdf)
    engine = open_station(archive).engine
    row = Catalogue(engine).session(session)
    assert f"对象会话{session}" in text and "审计日志校验通过" in text
    assert f"校验状态{session}完整" in text and "各分段均与签名一致" in text
    for step in ("开始录制（设备签名记录）", "结束录制（设备签名记录）", "接入工作站", "入库（校验签名与哈希后归档）",
                 "逐字节校验"):
        assert step in text, step
    assert f"{row['officer']}（{row['police_number']}）" in text and f"设备{row['device']}" in text
    entries = [e.body for e in audit.entries(engine, session=session) if e.body["action"] != "report-custody"]
    assert {"view", "hold-placed", "case-linked", "export-request", "export-approve"} <= {e["action"] for e in entries}
    for entry in entries:
        assert f"审计第{entry['seq']}条" in text and labels.label("action", entry["action"], "zh") in text
    assert "理由：复核现场执法过程" in text and "理由：诉讼保全：案件审理中" in text
    field = functools.partial(labels.label, "field", lang="zh")
    assert f"{field('destination')}：某某区人民法院" in text and f"{field('recipient')}：zhao" in text
    assert f"{field('case')}：{CASE}" in text
    rendered(pdf, tmp_path)
    [made] = [e.body for e in audit.entries(engine) if e.body["action"] == "report-custody"]
    assert made["footage"] == [session] and made["detail"]["sha256"] == hashlib.sha256(pdf.read_bytes()).hexdigest()
    assert station_command(archive, "audit", "verify").returncode == 0


def test_the_custody_report_of_a_case_adds_the_case_s_own_entries_and_a_reviewer_may_not_make_one(handled, tmp_path):
    archive, session = handled
    pdf = tmp_path / "case.pdf"
    assert station_command(archive, "report", "custody", "--case", CASE, "--out", str(pdf)).returncode == 0
    text = flat(pdf)
    assert f"对象案件{CASE}" in text and session in text and "立案" in text
    refused = station_command(archive, "report", "custody", session, "--out", str(tmp_path / "no.pdf"), user="li")
    assert refused.returncode == 1 and not (tmp_path / "no.pdf").exists()
    engine = open_station(archive).engine
    assert any(e.body["action"] == "report-custody" and e.body["outcome"] == "refused" and e.body["actor"] == "li"
               for e in audit.entries(engine))


# -- the page, in Chromium -----------------------------------------------------------------------

@pytest.fixture
def page_of(month):
    from station.web.app import create_app
    from station.web.deps import Settings
    from tests.web import MovableClock, serving

    opened = open_station(month.archive, clock=MovableClock())
    with serving(create_app(opened, Settings(zone=ZoneInfo("Asia/Shanghai")))) as base:
        yield base
    opened.engine.dispose()


def test_the_report_pages_in_chromium_in_chinese_with_their_charts(month, page_of, tmp_path):
    from tests.test_web import screenshot, sign_in
    from tests.web import CHROMIUM, CHROMIUM_FLAGS

    playwright = pytest.importorskip("playwright.sync_api")
    this_month = time.strftime("%Y-%m", time.gmtime(month.now // 10**9))
    period = usage.month(this_month, UTC)
    figures = expected(month, "330100000001", period.since_ns, period.until_ns)
    with playwright.sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = chromium.new_page()
        sign_in(page, page_of, "wang")
        page.click("#nav-reports")
        page.fill("input[name=unit]", "330100000001")
        page.fill("input[name=month]", this_month)
        page.click("#usage-form button")
        page.wait_for_selector("#usage-figures")
        assert page.locator("html").get_attribute("lang") == "zh-CN"
        assert page.locator("h1").inner_text() == "执法记录仪使用情况定期通报"
        shown = {row.locator("th").inner_text(): row.locator("td").inner_text()
                 for row in page.locator("#usage-figures tr").all()}
        assert shown == figures
        bars = {bar.get_attribute("data-label"): bar.get_attribute("data-value")
                for bar in page.locator("#chart-docking g.bar").all()}
        assert bars == {"24小时内接入": figures["结束后24小时内接入"], "超过24小时接入": figures["结束后超过24小时接入"],
                        "尚未接入": figures["结束后尚未接入"]}
        assert page.locator("#chart-days g.bar").count() == (period.until_ns - period.since_ns) // DAY_NS
        assert page.evaluate("document.querySelector('#chart-stops').getBBox().height") > 0
        screenshot(page, "report-usage-zh")
        page.click("#nav-undocked")
        page.wait_for_selector("#undocked-devices")
        assert page.locator("#undocked-devices tr[data-device]").all_inner_texts()[0].startswith("BC00004")
        screenshot(page, "report-undocked-zh")
        chromium.close()
    client = Client(page_of)
    client.sign_in("wang", PASSWORD)
    answer = client.get(f"/reports/usage.pdf?unit=330100000001&month={this_month}")
    assert answer.status == 200 and answer.headers["Content-Type"] == "application/pdf"
    (tmp_path / "page.pdf").write_bytes(answer.body)
    text = pdf_text(tmp_path / "page.pdf")
    for label, value in figures.items():
        assert re.search(rf"^\s*{re.escape(label)}\s+{re.escape(value)}\s*$", text, re.MULTILINE), (label, value)
    table = client.get(f"/reports/usage.csv?unit=330100000001&month={this_month}")
    assert {row[2]: row[3] for row in csv.reader(io.StringIO(table.text)) if row[0] == "汇总"} == figures
    reviewer = Client(page_of)
    reviewer.sign_in("li", PASSWORD)
    assert reviewer.get("/reports/usage").status == 403
    engine = open_station(month.archive).engine
    made = [e.body for e in audit.entries(engine) if e.body["action"].startswith("report")]
    assert {(e["actor"], e["action"], e["outcome"]) for e in made} >= {
        ("wang", "report-usage", "done"), ("wang", "report-undocked", "done"), ("li", "report", "refused")}
    assert station_command(month, "audit", "verify").returncode == 0


def test_the_session_page_links_its_custody_pdf_for_a_supervisor(handled, tmp_path):
    from station.web.app import create_app
    from station.web.deps import Settings
    from tests.web import MovableClock, serving

    archive, session = handled
    opened = open_station(archive, clock=MovableClock())
    with serving(create_app(opened, Settings(zone=ZoneInfo("Asia/Shanghai")))) as base:
        client = Client(base)
        client.sign_in("wang", PASSWORD)
        assert f'href="/reports/custody.pdf?session={session}"' in client.get(f"/sessions/{session}").text
        answer = client.get(f"/reports/custody.pdf?session={session}")
        reviewer = Client(base)
        reviewer.sign_in("li", PASSWORD)
        refused = reviewer.get(f"/reports/custody.pdf?session={session}")
    opened.engine.dispose()
    assert answer.status == 200 and answer.headers["Content-Type"] == "application/pdf"
    assert refused.status == 403 and not refused.body.startswith(b"%PDF")
    (tmp_path / "custody.pdf").write_bytes(answer.body)
    text = flat(tmp_path / "custody.pdf")
    assert f"对象会话{session}" in text and "理由：复核现场执法过程" in text and "审计日志校验通过" in text
    [made] = [e.body for e in audit.entries(open_station(archive).engine)
              if e.body["action"] == "report-custody" and e.body["source"].startswith("web")]
    assert made["actor"] == "wang" and made["detail"]["sha256"] == hashlib.sha256(answer.body).hexdigest()
