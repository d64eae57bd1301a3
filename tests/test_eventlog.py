"""The event log: hash chain, power-cut tails, two writers, and real lines checked against docs/event-log.md."""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from evidence.eventlog import GENESIS, Verification, log_files, verify
from evidence.paths import DataDir
from firmware.eventlog import EventLog
from firmware.selftest import log_report, open_hardware, run_selftest
from firmware.watch import Alarm, AlarmSink, Watcher
from tests.conftest import small_context

DOC = Path(__file__).resolve().parent.parent / "docs" / "event-log.md"
TYPES = {"integer": int, "string": str, "object": dict}


def alarm(log, kind="battery_low"):
    return log.append("alarm", {"kind": kind, "message": "test", "action": "none"})


def lines(data_dir):
    return [line for path in log_files(data_dir / "events") for line in path.read_bytes().split(b"\n") if line]


def test_each_line_names_the_sha256_of_the_line_before(tmp_path):
    log = EventLog(DataDir(tmp_path))
    for kind in ("battery_low", "storage_low", "storage_full"):
        alarm(log, kind)
    raw = lines(tmp_path)
    records = [json.loads(line) for line in raw]
    assert [r["seq"] for r in records] == [0, 1, 2]
    assert records[0]["prev"] == GENESIS
    for before, record in zip(raw, records[1:]):
        assert record["prev"] == hashlib.sha256(before).hexdigest()
    result = verify(DataDir(tmp_path))
    assert result.ok and [r["data"]["kind"] for r in result.records] == ["battery_low", "storage_low", "storage_full"]


@pytest.mark.parametrize("tamper", ["edit", "delete", "swap"])
def test_verify_finds_an_edited_deleted_or_reordered_line(tmp_path, tamper):
    log = EventLog(DataDir(tmp_path))
    for _ in range(4):
        alarm(log)
    [path] = log_files(tmp_path / "events")
    raw = path.read_bytes().split(b"\n")[:-1]
    if tamper == "edit":
        raw[1] = raw[1].replace(b'"test"', b'"TEST"')
    elif tamper == "delete":
        del raw[1]
    else:
        raw[1], raw[2] = raw[2], raw[1]
    path.chmod(0o644)
    path.write_bytes(b"\n".join(raw) + b"\n")
    assert not verify(DataDir(tmp_path)).ok


def test_a_line_cut_by_a_power_cut_is_left_and_the_chain_goes_on_in_a_new_file(tmp_path):
    log = EventLog(DataDir(tmp_path))
    alarm(log)
    second = alarm(log)
    [first_file] = log_files(tmp_path / "events")
    with open(first_file, "ab") as fh:
        fh.write(b'{"seq":2,"prev":"ab')  # the power went mid-line
    before = first_file.read_bytes()
    third = EventLog(DataDir(tmp_path)).append("alarm", {"kind": "storage_low", "message": "after", "action": "none"})
    assert first_file.read_bytes() == before  # nothing rewritten
    assert len(log_files(tmp_path / "events")) == 2
    assert third["seq"] == 2 and third["prev"] == hashlib.sha256(lines(tmp_path)[1]).hexdigest()
    assert second["seq"] == 1
    result = verify(DataDir(tmp_path))
    assert result.ok and len(result.torn) == 1 and [r["seq"] for r in result.records] == [0, 1, 2]


def test_two_writers_share_one_chain(tmp_path):
    first, second = EventLog(DataDir(tmp_path)), EventLog(DataDir(tmp_path))
    for n in range(6):
        alarm(first if n % 2 else second)
    result = verify(DataDir(tmp_path))
    assert result.ok and [r["seq"] for r in result.records] == list(range(6))


def test_rotate_ends_the_newest_file_and_the_chain_goes_on_in_the_next(tmp_path):
    log = EventLog(DataDir(tmp_path))
    assert log.rotate() == []
    alarm(log)
    alarm(log)
    [first] = log.rotate()
    before = first.read_bytes()
    assert log.rotate() == [first]  # nothing logged since: no second empty file
    alarm(EventLog(DataDir(tmp_path)))
    alarm(log)  # a writer that wrote before the rotation follows it too
    assert first.read_bytes() == before
    [_, second] = log_files(tmp_path / "events")
    assert len(second.read_bytes().splitlines()) == 2
    result = verify(DataDir(tmp_path))
    assert result.ok and [r["seq"] for r in result.records] == [0, 1, 2, 3]
    # one file checked on its own, against where the chain stood before it
    end = Verification().check(first.name, before)
    assert Verification(seq=end.seq, prev=end.prev).check(second.name, second.read_bytes()).ok
    assert Verification(seq=None, prev=None).check(second.name, second.read_bytes()).ok
    assert not Verification().check(second.name, second.read_bytes()).ok  # it is not the log's start


def test_floats_are_refused_so_lines_stay_canonical(tmp_path):
    with pytest.raises(ValueError):
        EventLog(DataDir(tmp_path)).append("alarm", {"minutes": 4.5})


def documented_table(heading_row: str) -> list[list[str]]:
    rows, inside = [], False
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith(heading_row):
            inside = True
        elif inside and line.startswith("|") and not line.startswith("|---"):
            rows.append([re.sub(r"`", "", cell).strip() for cell in line.strip("|").split("|")])
        elif inside and not line.startswith("|"):
            break
    return rows


class Quiet(AlarmSink):
    def signal(self, alarm: Alarm) -> None:
        pass


def test_real_lines_match_the_documented_format(tmp_path):
    """Every field and event type in a real log is in docs/event-log.md's tables, with its documented type."""
    context = small_context(tmp_path, battery={"main": "simulated:3", "backup": "simulated:"},
                            clock={"rtc": "simulated:"}, gnss={"port": "simulated:"})
    with open_hardware(context, with_devices=False) as hardware:
        assert log_report(context.events, run_selftest(context, hardware)) is None
        wall = iter([0, 10**10])
        watcher = Watcher(context, hardware, Quiet(), lambda reason: None, wall_clock=lambda: next(wall))
        watcher.poll()
        watcher.poll()
    fields = {name: TYPES[kind] for name, kind, _ in documented_table("| field | type | meaning |")}
    data_fields = {kind: {f.strip() for f in names.split(",")}
                   for kind, names in documented_table("| type | data fields |")}
    result = verify(DataDir(tmp_path))
    assert result.ok
    assert {r["type"] for r in result.records} == {"selftest", "alarm", "clock_jump"}
    for record in result.records:
        assert set(record) == set(fields)
        for name, kind in fields.items():
            assert isinstance(record[name], kind) and not isinstance(record[name], bool), name
        assert set(record["data"]) == data_fields[record["type"]], record["type"]
    text = DOC.read_text(encoding="utf-8")
    kinds = {r["data"]["kind"] for r in result.records if r["type"] == "alarm"}
    assert kinds and all(f"`{kind}`" in text for kind in kinds)
    for check in next(r for r in result.records if r["type"] == "selftest")["data"]["checks"]:
        assert all(f"`{key}`" in text for key in check)
