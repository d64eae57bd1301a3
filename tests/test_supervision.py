"""Sample inspections (抽检), their ledger (检查台账) and the retrieval slip (调用单): draws
reproducible from their seed, findings signed beside the device's records and rejected once
changed, the ledger as CSV and PDF, the slip in every export package; each action an entry of
the audit trail, which verifies, and a lost database given back its draws and findings by the
journal."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import stat
import subprocess
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from evidence import EvidenceError
from evidence.keys import FileSigner
from evidence.paths import ArchiveDir
from evidence.records import FORMAT, GENESIS, canonical, sign
from station import db
from station.catalogue.catalogue import DAY_NS, Catalogue, station_id
from station.catalogue.footage import read_session
from station.catalogue.rebuild import rebuild
from station.custody import audit
from station.custody.access import AccessDenied
from station.custody.exports import SLIP_NAME, requests
from station.custody.recordform import local_time
from station.services import open_inspections, open_station, restore
from station.supervision import inspections as inspection_area
from station.supervision import ledger
from station.supervision.inspections import CHECKS, Criteria
from tests.conftest import copy_archive
from tests.postgres import postgres_server, postgres_url  # noqa: F401
from tests.test_station_access import SHANGHAI as ZONE
from tests.test_station_access import PASSWORD, Desk, approved_package, pdf_text, pulled, station  # noqa: F401

START = 1_785_542_400 * 10**9          # 2026-08-01 UTC
UNITS = ("220101000001", "220101000002", "220101000003")
ALL_YES = {rule: "yes" for rule in CHECKS}


@pytest.fixture
def archive(pulled, tmp_path) -> Path:
    copy = tmp_path / "archive"
    copy_archive(pulled, copy)
    return copy


@pytest.fixture
def opened(archive):
    """The station of ``archive`` with an administrator, two supervisors and a reviewer."""
    station = open_station(archive)
    gate = station.desk(None).access
    admin = gate.add_user(None, "admin", "管理员", "administrator", PASSWORD)
    for name, full, role in (("sup", "王五", "supervisor"), ("sup2", "赵六", "supervisor"), ("rev", "李四", "reviewer")):
        gate.add_user(admin, name, full, role, PASSWORD)
    yield station
    station.engine.dispose()


def as_user(station, name: str):
    user = station.desk(None).access.authenticate(name, PASSWORD, "test")
    return open_inspections(station.desk(user), station.archive), user


def synthetic(catalogue: Catalogue, archive: Path, key: Path, count: int) -> list[dict]:
    """``count`` signed sessions of one device filed through the catalogue's own API: three
    units, two officers each, one a day of August 2026; what each is, as the test made it."""
    signer, made, seq, prev = FileSigner.generate(key), [], 1, GENESIS
    station = station_id(archive)
    for number in range(count):
        unit, officer = UNITS[number % 3], f"{number % 6:06d}"
        started = START + (number % 31) * DAY_NS + number * 10**9
        common = {"format": FORMAT, "device": "BC90000", "key_id": signer.key_id, "session": f"SYN{number:04d}"}
        opened = sign({**common, "type": "session-open", "seq": seq, "prev": prev, "started_wall": started,
                       "officer": {"police_number": officer, "name": f"警员{officer}"},
                       "unit": {"number": unit, "name": f"单位{unit[-1]}"}, "firmware": "1",
                       "clock": {"status": "trusted"}, "link": None, "pre_event_ms": 0}, signer)
        closed = sign({**common, "type": "session-close", "seq": seq + 1, "prev": opened.hash, "segments": 0,
                       "last_segment": None, "reason": "end_of_enforcement", "flags": [],
                       "ended_wall": started + 60 * 10**9}, signer)
        catalogue.take(station, f"x/{common['session']}", "session-open.json", opened, started)
        catalogue.take(station, f"x/{common['session']}", "session-close.json", closed)
        seq, prev = seq + 2, closed.hash
        made.append({"session": common["session"], "unit": unit, "officer": officer, "started_ns": started})
    return made


def expected_sample(seed: str, candidates: list[str], size: int) -> list[str]:
    """The documented method, computed here on its own: SHA-256 of seed, line feed, session id."""
    return sorted(candidates, key=lambda s: hashlib.sha256(seed.encode() + b"\n" + s.encode()).hexdigest())[:size]


def actions(station) -> list[tuple[str, str, str]]:
    return [(e.body["actor"], e.body["action"], e.body["outcome"]) for e in audit.entries(station.engine)]


def test_the_same_seed_draws_the_same_sessions_and_another_seed_others(opened, archive, tmp_path):
    real = [s["session"] for s in Catalogue(opened.engine).search()]
    made = synthetic(Catalogue(opened.engine), archive, tmp_path / "device.key", 60)
    inspections, sup = as_user(opened, "sup")
    unit_two = [s["session"] for s in made if s["unit"] == UNITS[1]]
    first = inspections.draw(sup, Criteria(unit=UNITS[1], count=5), "种子-2026-08")
    again = inspections.draw(sup, Criteria(unit=UNITS[1], count=5), "种子-2026-08")
    other = inspections.draw(sup, Criteria(unit=UNITS[1], count=5), "another seed")
    assert first["sessions"] == again["sessions"] == expected_sample("种子-2026-08", unit_two, 5)
    assert other["sessions"] == expected_sample("another seed", unit_two, 5) != first["sessions"]
    assert first["candidates"] == len(unit_two) == 20 and first["id"] != again["id"]
    week = [s["session"] for s in made if s["officer"] == "000004" and s["started_ns"] < START + 7 * DAY_NS]
    by_officer = inspections.draw(sup, Criteria(officer="000004", since_ns=START, until_ns=START + 7 * DAY_NS,
                                                per_mille=500), "week one")
    assert by_officer["sessions"] == expected_sample("week one", week, math.ceil(len(week) / 2)) and week
    every = inspections.draw(sup, Criteria(count=1000), "all")
    assert sorted(every["sessions"]) == sorted([s["session"] for s in made] + real)
    assert inspections.redraw(first["id"]) and inspections.redraw(by_officer["id"])
    stored = inspections.get_draw(by_officer["id"])
    assert stored["criteria"] == {"unit": None, "officer": "000004", "since_ns": START,
                                  "until_ns": START + 7 * DAY_NS, "count": None, "per_mille": 500}
    entry = [e.body for e in audit.entries(opened.engine) if e.body["action"] == "inspection-draw"][0]
    assert entry["actor"] == "sup" and entry["footage"] == first["sessions"]
    assert entry["detail"]["seed"] == "种子-2026-08" and entry["detail"]["criteria"]["unit"] == UNITS[1]


def test_only_a_supervisor_draws_and_records_findings(opened, archive):
    inspections, rev = as_user(opened, "rev")
    with pytest.raises(AccessDenied, match="a reviewer may not draw sample inspections"):
        inspections.draw(rev, Criteria(count=1), "x")
    sup_side, sup = as_user(opened, "sup")
    drawn = sup_side.draw(sup, Criteria(count=1), "x")
    with pytest.raises(AccessDenied):
        inspections.record_finding(rev, drawn["id"], drawn["sessions"][0], ALL_YES, "compliant", "")
    with pytest.raises(AccessDenied):
        inspections.ledger(rev)
    assert [a for a in actions(opened) if a[0] == "rev" and a[1].startswith("inspection")] == [
        ("rev", "inspection-draw", "refused"), ("rev", "inspection-finding", "refused"),
        ("rev", "inspection-ledger", "refused")]


def test_a_finding_is_signed_beside_the_records_and_a_changed_one_is_rejected(opened, archive):
    inspections, sup = as_user(opened, "sup")
    drawn = inspections.draw(sup, Criteria(count=2), "月度抽检")
    first, second = drawn["sessions"]
    checks = {**ALL_YES, "R3R4": "n/a", "D1": "no"}
    with pytest.raises(Exception, match="cannot be 规范"):
        inspections.record_finding(sup, drawn["id"], first, checks, "compliant", "叠加地点错误")
    body = inspections.record_finding(sup, drawn["id"], first, checks, "noncompliant", "叠加地点错误")
    inspections.record_finding(sup, drawn["id"], second, ALL_YES, "compliant", "")
    with pytest.raises(Exception, match="has its finding already"):
        inspections.record_finding(sup, drawn["id"], first, ALL_YES, "compliant", "")
    with pytest.raises(Exception, match="not in inspection draw"):
        inspections.record_finding(sup, drawn["id"], "BC-none", ALL_YES, "compliant", "")
    session = Catalogue(opened.engine).session(first)
    files = list((ArchiveDir(archive).inspections / first).glob("finding-*.json"))
    assert len(files) == 1 and not (archive / session["folder"] / files[0].name).exists()
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o444
    assert inspection_area.read(files[0], opened.signer.public_key) == body
    assert body["officer"] == session["police_number"] and body["device"] == session["device"]
    assert body["session_close"] is not None and body["checks"] == checks and body["verdict"] == "noncompliant"
    assert [problem for _, problem in inspections.verify()] == [None, None]

    stored = json.loads(files[0].read_text())
    stored["record"]["verdict"] = "compliant"                  # the edit a forger would make
    files[0].chmod(0o644)
    files[0].write_text(json.dumps(stored, ensure_ascii=False))
    problems = {row["session"]: problem for row, problem in inspections.verify()}
    assert problems[second] is None and "not a valid inspection finding" in problems[first]
    with pytest.raises(EvidenceError):
        inspection_area.read(files[0], opened.signer.public_key)
    other = FileSigner.generate(archive / "forger.key")        # re-signed by a key that is not the dock's
    stored["public_key"] = other.public_key.hex()
    stored["signature"] = other.sign(inspection_area.DOMAIN + canonical(stored["record"])).hex()
    files[0].write_text(json.dumps(stored, ensure_ascii=False))
    assert "not an inspection finding signed by dock" in dict(
        (row["session"], problem) for row, problem in inspections.verify())[first]
    _, draws = inspections.check(sup)
    assert draws == [(drawn, True)]
    checked = list(audit.entries(opened.engine))[-1].body
    assert checked["action"] == "inspection-verify" and checked["detail"]["rejected"] == [
        inspections.finding(drawn["id"], first)["id"]]
    lines = {entry["session"]: entry for entry in inspections.ledger(sup)}
    assert ledger.state(lines[first]) == "被篡改，不予采信" and ledger.state(lines[second]) == "签名有效"
    assert audit.verify(opened.engine, {opened.signer.public_key}) == []
    done = [a for a in actions(opened) if a[0] == "sup"]
    assert [a[1] for a in done if a[2] == "done"] == ["inspection-draw", "inspection-finding",
                                                      "inspection-finding", "inspection-verify",
                                                      "inspection-ledger"]
    finding = [e.body for e in audit.entries(opened.engine) if e.body["action"] == "inspection-finding"][0]
    assert finding["footage"] == [first] and finding["detail"]["verdict"] == "noncompliant"
    assert finding["detail"]["hash"] == hashlib.sha256(canonical(body)).hexdigest()


def test_a_lost_database_gets_its_draws_and_findings_back_from_the_journal(opened, archive):
    inspections, sup = as_user(opened, "sup")
    drawn = inspections.draw(sup, Criteria(count=2), "restore me")
    inspections.record_finding(sup, drawn["id"], drawn["sessions"][0], ALL_YES, "compliant", "规范")
    before = (inspections.all_draws(), [row for row, _ in inspections.verify()])
    opened.engine.dispose()
    (archive / db.CATALOGUE_FILE).unlink()
    assert restore(archive) is not None
    station = open_station(archive)
    again, _ = as_user(station, "sup2")
    assert (again.all_draws(), [row for row, _ in again.verify()]) == before
    assert [problem for _, problem in again.verify()] == [None] and again.redraw(drawn["id"])
    assert again.draw(sup, Criteria(count=1), "after")["id"] == drawn["id"] + 1
    assert audit.verify(station.engine, {station.signer.public_key}) == []
    station.engine.dispose()


def test_draws_and_findings_on_a_shared_postgresql_database_survive_its_loss(pulled, tmp_path, postgres_url):
    archive = tmp_path / "archive"
    copy_archive(pulled, archive)
    (archive / db.CATALOGUE_FILE).unlink()
    station = open_station(archive, postgres_url)
    assert not rebuild(Catalogue(station.engine), archive).problems
    gate = station.desk(None).access
    gate.add_user(gate.add_user(None, "admin", "管理员", "administrator", PASSWORD), "sup", "王五", "supervisor",
                  PASSWORD)
    inspections, sup = as_user(station, "sup")
    first = inspections.draw(sup, Criteria(count=1), "pg")
    assert inspections.draw(sup, Criteria(count=1), "pg")["sessions"] == first["sessions"]
    inspections.record_finding(sup, first["id"], first["sessions"][0], ALL_YES, "compliant", "")
    before = (inspections.all_draws(), [row for row, _ in inspections.verify()])
    station.engine.dispose()
    with sa.create_engine(postgres_url).begin() as connection:       # the shared database lost: made anew
        connection.execute(sa.text("DROP SCHEMA public CASCADE"))
        connection.execute(sa.text("CREATE SCHEMA public"))
    assert restore(archive, postgres_url) is not None
    station = open_station(archive, postgres_url)
    again, sup = as_user(station, "sup")
    assert (again.all_draws(), [row for row, _ in again.verify()]) == before
    assert again.draw(sup, Criteria(count=1), "next")["id"] == 3          # the sequence went on past the replay
    assert audit.verify(station.engine, {station.signer.public_key}) == []
    station.engine.dispose()


def test_the_ledger_reads_back_as_csv_and_as_a_pdf_in_chinese(opened, archive, tmp_path):
    synthetic(Catalogue(opened.engine), archive, tmp_path / "device.key", 12)
    inspections, sup = as_user(opened, "sup")
    drawn = inspections.draw(sup, Criteria(unit=UNITS[0], count=3), "台账")
    session = drawn["sessions"][0]
    inspections.record_finding(sup, drawn["id"], session, {**ALL_YES, "R5": "no"}, "noncompliant", "未告知当事人")
    entries = inspections.ledger(sup)
    rows = list(csv.DictReader(io.StringIO(ledger.to_csv(entries, ZONE).lstrip("\ufeff"))))
    assert len(rows) == 3 and {row["录像"] for row in rows} == set(drawn["sessions"])
    found = next(row for row in rows if row["录像"] == session)
    unit_name = Catalogue(opened.engine).session(session)["unit"]
    assert (found["单位"], found["抽检编号"], found["随机种子"], found["抽取人"]) == (
        f"{unit_name}（{UNITS[0]}）", str(drawn["id"]), "台账", "sup")
    assert (found["R5"], found["R2"], found["结论"], found["说明"], found["核验"]) == (
        "不符合", "符合", "不规范", "未告知当事人", "签名有效")
    assert found["抽取时间"] == local_time(drawn["drawn_ns"], ZONE)
    assert sorted(row["结论"] for row in rows) == ["不规范", "待检查", "待检查"]

    path = tmp_path / "ledger.pdf"
    ledger.write_pdf(entries, path, printed_by="王五", printed_ns=drawn["drawn_ns"], station_zone=ZONE)
    text = pdf_text(path)
    assert "执法记录仪使用情况检查台账" in text and "制表人：王五" in text
    assert f"单位：{unit_name}（{UNITS[0]}） 抽检 3 个录像，规范 0，不规范 1，待检查 2" in " ".join(text.split())
    line = next(line for line in text.splitlines() if session in line)
    inspected = inspections.finding(drawn["id"], session)["inspected_ns"]
    assert line.split() == [found["警员"], found["警号"], "BC90000", session, str(drawn["id"]), *minute(drawn["drawn_ns"]),
                            "不符合", "符合", "符合", "符合", "符合", "不规范", "sup", *minute(inspected),
                            "未告知当事人", "签名有效"]
    assert "检查人签名" in text and "审核领导签字" in text
    rendered(path, tmp_path, landscape=True)


def minute(ns: int) -> list[str]:
    return datetime.fromtimestamp(ns // 10**9, ZONE).strftime("%Y-%m-%d %H:%M").split()


def rendered(path: Path, tmp_path: Path, landscape: bool = False) -> None:
    """The first page rendered by pdftoppm: ink on a page of the expected orientation."""
    subprocess.run(["pdftoppm", "-r", "40", "-gray", "-f", "1", "-l", "1", str(path), str(tmp_path / path.stem)],
                   check=True)
    page = next(tmp_path.glob(f"{path.stem}*.pgm")).read_bytes()
    magic, width, height, _depth, pixels = page.split(maxsplit=4)
    dark = sum(1 for value in pixels if value < 128)
    assert magic == b"P5" and (int(width) > int(height)) == landscape and 0.005 < dark / len(pixels) < 0.3


def test_the_commands_draw_record_print_and_verify(opened, archive, tmp_path):
    opened.engine.dispose()
    drawn = station(archive, "inspect", "draw", "--count", "2", "--seed", "cli-seed", user="sup")
    assert drawn.returncode == 0, drawn.stderr
    sessions = [line.strip() for line in drawn.stdout.splitlines()[1:]]
    assert drawn.stdout.startswith("draw 1: seed cli-seed, 2 of 2 sessions")
    assert sessions == expected_sample("cli-seed", sessions, 2)
    refused = station(archive, "inspect", "draw", "--count", "1", user="rev")
    assert refused.returncode == 1 and "may not draw sample inspections" in refused.stderr
    checks = [f"--check={rule}=yes" for rule in CHECKS]
    done = station(archive, "inspect", "finding", "1", sessions[0], *checks, "--verdict", "compliant",
                   "--note", "全程规范", user="sup")
    assert done.returncode == 0 and "规范" in done.stdout, done.stderr
    half = station(archive, "inspect", "finding", "1", sessions[1], checks[0], "--verdict", "compliant", user="sup")
    assert half.returncode == 1 and "answers every check" in half.stderr
    book = station(archive, "inspect", "ledger", "--csv", str(tmp_path / "l.csv"), "--pdf", str(tmp_path / "l.pdf"),
                   user="sup")
    assert book.returncode == 0, book.stderr
    assert (tmp_path / "l.csv").read_text(encoding="utf-8-sig").count("\n") == 3
    assert "全程规范" in pdf_text(tmp_path / "l.pdf")
    assert station(archive, "inspect", "verify", user="sup").returncode == 0
    finding = next((ArchiveDir(archive).inspections / sessions[0]).glob("finding-*.json"))
    finding.chmod(0o644)
    finding.write_text(finding.read_text().replace("全程规范", "全程规范！"))
    checked = station(archive, "inspect", "verify", user="sup")
    assert checked.returncode == 1 and "not a valid inspection finding" in checked.stdout
    assert station(archive, "audit", "verify", user="sup").returncode == 0


# -- the retrieval slip ---------------------------------------------------------------------------

@pytest.fixture
def desk(pulled, tmp_path) -> Desk:
    archive = tmp_path / "slip-archive"
    copy_archive(pulled, archive)
    return Desk(archive)


def test_every_export_package_holds_its_retrieval_slip_read_back_field_by_field(desk, tmp_path):
    made = approved_package(desk, tmp_path / "out")
    slip = made / SLIP_NAME
    text = pdf_text(slip)
    rows = {line.split(None, 1)[0]: line.split(None, 1)[1].strip() for line in text.splitlines()
            if len(line.split(None, 1)) == 2}
    with desk.engine.connect() as connection:
        row = connection.execute(sa.select(requests)).one()
    session = read_session(desk.footage.folder(desk.sessions[0]))
    assert "行政执法全过程记录调用单" in text
    assert (rows["调用单编号"], rows["调用人"], rows["申请时间"]) == (f"{row.id:06d}", "李四（rev）",
                                                                 local_time(row.requested_ns, ZONE))
    assert (rows["调用对象"], rows["调用事由"], rows["提供对象"]) == (
        f"录像 {session.id}", "移送人民法院作为证据", "某区人民法院")
    assert rows["录像所涉民警"] == "张三（警号 012345）"
    assert rows["调用内容"] == "1 个录像，2 个分段原始文件（未剪辑、未转码）"
    assert (rows["审批人"], rows["审批时间"], rows["审批意见"]) == ("王五（sup）", local_time(row.decided_ns, ZONE), "同意")
    assert (rows["制作人"], rows["制作时间"], rows["导出包"]) == ("李四（rev）", local_time(row.made_ns, ZONE),
                                                         f"export-{row.id:06d}")
    for segment in session.segments:
        sealed = segment.manifest.body["file"]
        assert f"{sealed['name']} {sealed['sha256']}" in " ".join(text.split())
    assert "调用人签名" in text and "审批领导签字" in text and "（本单位印章）" in text
    sums = dict(line.split("  ")[::-1] for line in (made / "SHA256SUMS").read_text().splitlines())
    digest = hashlib.sha256(slip.read_bytes()).hexdigest()
    assert sums[SLIP_NAME] == digest == row.slip_sha256
    made_entry = json.loads((made / "audit.jsonl").read_text().splitlines()[-1])["entry"]
    assert made_entry["detail"]["files"][SLIP_NAME] == digest
    listed = station(desk.archive, "export", "ledger", user="sup")
    assert listed.returncode == 0 and digest in listed.stdout, listed.stderr
    fonts = subprocess.run(["pdffonts", str(slip)], check=True, capture_output=True, text=True).stdout
    assert "NotoSansCJKSC" in fonts
    rendered(slip, tmp_path)
