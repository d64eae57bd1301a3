"""The catalogue on real recordings pulled over the link, on SQLite and on a real PostgreSQL:
everything the archive holds is searchable, a rebuild from the archive alone gives the same,
retention removes only what has expired and is not held, the ledger flags a mismatch, and the
officer's write-up is a record the dock signs, beside the device's records."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from evidence.keys import load_public_key
from evidence.paths import ArchiveDir
from evidence.records import read_record
from station.catalogue import ledger, retention, writeup
from station.catalogue.catalogue import DAY_NS, CatalogueError, station_id
from station.services import open_catalogue, pull
from sync.ptywire import PtyWire
from tests.conftest import record
from tests.postgres import postgres_server, postgres_url  # noqa: F401
from tests.test_dock_archive import device_serving, enrolled_copy, record_marked

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> Path:
    """Four real sessions of one device: three plain ones (1 s), then one with a marker."""
    data_dir = tmp_path_factory.mktemp("recorded")
    for _ in range(3):
        record(data_dir, 1)
    record_marked(data_dir, 1)
    return data_dir


@pytest.fixture(params=["sqlite", "postgresql"])
def catalogue_url(request) -> str | None:
    """None: the archive's own SQLite file; else a fresh database on a real PostgreSQL."""
    return request.getfixturevalue("postgres_url") if request.param == "postgresql" else None


def docked(recorded: Path, tmp_path: Path, url: str | None, **options):
    """A copy of the device pulled over a pty pair into a new archive; (device, archive, catalogue)."""
    device, archive = enrolled_copy(recorded, tmp_path)
    catalogue = open_catalogue(archive, url, **options)
    with PtyWire() as wire, device_serving(device, wire):
        assert not pull(archive, wire.b, catalogue=catalogue).failed
    return device, archive, catalogue


def station(*args: str, url: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("BODYCAM_CATALOGUE", None)
    if url:
        env["BODYCAM_CATALOGUE"] = url
    return subprocess.run([sys.executable, "-m", "station", *args], capture_output=True, text=True, env=env)


def files(archive: Path) -> set[Path]:
    """Every file in the archive but the catalogue's own SQLite files."""
    return {p for p in archive.rglob("*") if p.is_file() and not p.name.startswith("catalogue.sqlite")}


def folders(device: Path) -> list[Path]:
    return sorted((device / "spool").iterdir())


def test_everything_pulled_is_catalogued_and_a_rebuild_gives_the_same(recorded, tmp_path, catalogue_url):
    device, archive, catalogue = docked(recorded, tmp_path, catalogue_url)
    everything = catalogue.search()
    assert [s["session"] for s in everything] == [f.name for f in folders(device)]
    for session in everything:
        folder = device / "spool" / session["session"]
        opened, closed = read_record(folder / "session-open.json").body, read_record(folder / "session-close.json").body
        manifests = [read_record(m).body for m in sorted(folder.glob("*.manifest"))]
        assert (session["device"], session["police_number"], session["officer"], session["unit_number"],
                session["unit"]) == (opened["device"], opened["officer"]["police_number"], opened["officer"]["name"],
                                     opened["unit"]["number"], opened["unit"]["name"])
        assert (session["started_ns"], session["ended_ns"]) == (opened["started_wall"], closed["ended_wall"])
        assert (session["stop_reason"], session["segments_sealed"]) == (closed["reason"], len(manifests))
        assert session["verification"] == "verified" and session["clock"] == opened["clock"]["status"]
        assert (archive / session["folder"] / "session-open.json").exists()
        segments = catalogue.segments(session["session"])
        assert [s["sha256"] for s in segments] == [m["file"]["sha256"] for m in manifests]
        assert [m["label"] for s in segments for m in s["markers"]] == \
            [m["label"] for body in manifests for m in body["markers"]]
    *plain, marked = everything
    assert marked["marked"] and not any(s["marked"] for s in plain)
    assert catalogue.search(label="party objects") == [marked]
    day = marked["folder"][:10].replace("/", "-")
    assert catalogue.search(officer=marked["police_number"], date=day) == everything
    assert catalogue.search(officer=marked["officer"], marked=True) == [marked]
    assert catalogue.search(stop=marked["stop_code"], device=marked["device"], unit=marked["unit"]) == everything
    assert catalogue.search(officer="999999") == [] and catalogue.search(date="2001-01-01") == []
    catalogue.open_case("K-1", "theft at the market", "Zhang San", actor="custodian")
    catalogue.link("K-1", marked["session"], actor="custodian")
    # the catalogue is an index: delete it, rebuild it from the archive alone, search again
    if catalogue_url is None:
        catalogue.engine.dispose()
        for path in archive.glob("catalogue.sqlite*"):
            path.unlink()
        rebuilt = station("rebuild", "--archive", str(archive))
        assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
        assert f"catalogued {len(everything)} session(s)" in rebuilt.stdout
    else:
        rebuilt = station("rebuild", "--archive", str(archive), url=catalogue_url)
        assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
        assert catalogue.search(case="K-1") == [marked]                 # what only the database knows stays
    again = open_catalogue(archive, catalogue_url)
    assert again.search() == everything
    assert [again.segments(s["session"]) for s in everything] == [catalogue.segments(s["session"]) for s in everything]
    found = station("search", "--json", "--archive", str(archive), "--label", "party objects", url=catalogue_url)
    assert found.returncode == 0 and [json.loads(line)["session"] for line in found.stdout.splitlines()] == \
        [marked["session"]]
    assert station("search", "--archive", str(archive), "--date", "2001-13-01", url=catalogue_url).stderr == \
        "bodycam-station: '2001-13-01' is not a date YYYY-MM-DD\n"


def test_a_purge_removes_only_the_expired_ordinary_session_and_a_hold_stops_it(recorded, tmp_path, catalogue_url):
    now = [0]
    device, archive, catalogue = docked(recorded, tmp_path, catalogue_url, clock=lambda: now[0])
    heard = []
    catalogue.hook = lambda action, actor, details: heard.append((action, actor, details))
    first, held, linked, marked = catalogue.search()
    catalogue.open_case("K-7", "assault on an officer", "Li Si", actor="custodian", retention_years=1)
    catalogue.link("K-7", linked["session"], actor="custodian", from_ns=linked["started_ns"],
                   until_ns=linked["started_ns"] + 10**9)
    hold = catalogue.hold("court order 12", actor="supervisor", session=held["session"])
    station_key = station_id(archive)
    now[0] = max(first["ended_ns"], first["archived_ns"]) + (365 + 30) * DAY_NS - 1   # short of expiry plus grace
    assert retention.purge(catalogue, archive, station_key, actor="custodian", why="daily", dry_run=True) == []
    now[0] += 1
    listed = retention.purge(catalogue, archive, station_key, actor="custodian", why="daily", dry_run=True)
    assert [a.session for a in listed] == [first["session"]]
    before = files(archive)
    removed = retention.purge(catalogue, archive, station_key, actor="custodian", why="daily")
    assert [a.session for a in removed] == [a.session for a in listed]
    after = files(archive)
    gone = {p for p in before if p.parent == archive / first["folder"]}
    assert before - after == gone and len(gone) == 3 * first["segments_sealed"] + 2
    assert after - before == {ArchiveDir(archive).purge_log}
    assert not (archive / first["folder"]).exists()
    entry = json.loads(ArchiveDir(archive).purge_log.read_text())
    assert (entry["session"], entry["purged_by"], entry["why"], entry["files"]) == \
        (first["session"], "custodian", "daily", len(gone))
    assert [a for a, _, _ in heard] == ["case opened", "case linked", "hold placed", "purge"]
    assert [s["session"] for s in catalogue.search()] == [held["session"], linked["session"], marked["session"]]
    assert [s["session"] for s in catalogue.search(purged=True)][0] == first["session"]
    # the case closes; its file's year later its session may go, the held one only once released, the marked one never
    catalogue.close_case("K-7", actor="custodian")
    now[0] = retention.years_later_ns(now[0], 1) + 30 * DAY_NS + 60 * 10**9
    assert [a.session for a in retention.due(catalogue, station_key)] == [linked["session"]]
    catalogue.release_hold(hold, actor="supervisor")
    assert [a.session for a in retention.due(catalogue, station_key)] == [held["session"], linked["session"]]
    assert retention.assess(catalogue, marked).expires_ns is None


def test_the_ledger_matches_each_session_to_its_officer_and_flags_a_mismatch(recorded, tmp_path, catalogue_url):
    device, archive, catalogue = docked(recorded, tmp_path, catalogue_url)
    first, second, third, fourth = catalogue.search()
    assert {s["ledger"] for s in ledger.check(catalogue, catalogue.search())} == {"unrecorded"}
    serial, officer = first["device"], first["police_number"]
    ledger.assign(catalogue, serial, officer, actor="custodian", at_ns=first["started_ns"] - 10**9)
    with pytest.raises(CatalogueError, match="holds it"):
        ledger.assign(catalogue, serial, "123456", actor="custodian", at_ns=first["started_ns"])
    ledger.give_back(catalogue, serial, actor="custodian", at_ns=third["started_ns"] - 1)
    ledger.assign(catalogue, serial, "123456", actor="custodian", at_ns=third["started_ns"] - 1)
    assert [s["ledger"] for s in ledger.check(catalogue, catalogue.search())] == \
        ["match", "match", "mismatch", "mismatch"]
    assert [s["session"] for s in ledger.mismatches(catalogue)] == [third["session"], fourth["session"]]
    worn = ledger.report(catalogue, device=serial)
    assert [(e["police_number"], e["sessions"], e["flagged"]) for e in worn] == [
        (officer, [first["session"], second["session"]], []),
        ("123456", [third["session"], fourth["session"]], [third["session"], fourth["session"]])]
    flagged = station("ledger", "--json", "--archive", str(archive), "--mismatches", url=catalogue_url)
    assert flagged.returncode == 1 and len(flagged.stdout.splitlines()) == 2
    shown = station("search", "--json", "--archive", str(archive), "--device", serial, url=catalogue_url)
    assert [json.loads(line)["ledger"] for line in shown.stdout.splitlines()] == ["match", "match", "mismatch", "mismatch"]


def test_the_write_up_is_signed_by_the_dock_beside_the_records(recorded, tmp_path):
    device, archive, catalogue = docked(recorded, tmp_path, None)
    waiting = writeup.pending(catalogue, catalogue.search()[0]["police_number"])
    assert len(waiting) == 4 and {s["stop_code"] for s in waiting} == {"duration reached"}
    session = waiting[0]
    records_before = {p: p.read_bytes() for p in (archive / session["folder"]).iterdir()}
    done = station("writeup", session["session"], "--archive", str(archive), "--reason", "witness_request",
                   "--text", "the victim asked to stop", "--by", "100001")
    assert done.returncode == 0, done.stderr
    assert {p: p.read_bytes() for p in (archive / session["folder"]).iterdir()} == records_before
    [stored] = (ArchiveDir(archive).writeups / session["session"]).iterdir()
    body = writeup.read(stored, load_public_key(ArchiveDir(archive).public_key.read_text()))
    assert (body["reason"], body["text"], body["written_by"], body["stop_reason"]) == \
        ("witness_request", "the victim asked to stop", "100001", session["stop_reason"])
    assert body["session_close"] == read_record(archive / session["folder"] / "session-close.json").hash
    assert [s["session"] for s in writeup.pending(catalogue)] == [s["session"] for s in waiting[1:]]
    assert [w["text"] for w in writeup.of(catalogue, session["session"])] == ["the victim asked to stop"]
    refused = station("writeup", session["session"], "--archive", str(archive), "--reason", "witness_request",
                      "--text", " ", "--by", "100001")
    assert refused.returncode == 1 and refused.stderr == "bodycam-station: a write-up needs its text: what " \
                                                         "happened and why\n"
    # a changed write-up no longer verifies; the rebuild names it and leaves it out
    tampered = json.loads(stored.read_text())
    tampered["record"]["reason"] = "weather"
    stored.chmod(0o644)
    stored.write_text(json.dumps(tampered))
    rebuilt = station("rebuild", "--archive", str(archive))
    assert rebuilt.returncode == 1 and "not a valid write-up" in rebuilt.stdout
    assert writeup.of(open_catalogue(archive), session["session"]) == []


def test_two_stations_share_one_postgresql_catalogue(recorded, tmp_path_factory, postgres_url):
    other = tmp_path_factory.mktemp("other-device")
    record(other, 1)
    _, archive_a, station_a = docked(recorded, tmp_path_factory.mktemp("a"), postgres_url)
    _, archive_b, station_b = docked(other, tmp_path_factory.mktemp("b"), postgres_url)
    everything = station_a.search()
    assert len(everything) == 5 and station_b.search() == everything
    assert {s["station"] for s in everything} == {station_id(archive_a), station_id(archive_b)}
    from_b = station_b.search(station=station_id(archive_b))
    station_a.open_case("K-9", "mass incident", "crowd", actor="custodian a")
    station_a.link("K-9", from_b[0]["session"], actor="custodian a")
    assert station_b.search(case="K-9") == from_b
    # a session one station holds is refused to another, though its record is in the shared chain
    [held, *_] = station_a.search(station=station_id(archive_a))
    opened = read_record(archive_a / held["folder"] / "session-open.json")
    with pytest.raises(CatalogueError, match=f"archived by station {station_id(archive_a)}"):
        station_b.take(station_id(archive_b), held["folder"], "session-open.json", opened)
    # a rebuild of one station's archive leaves the other station's sessions alone
    shutil.rmtree(archive_a / "dock")
    with pytest.raises(CatalogueError, match="has no dock key"):
        station_id(archive_a)
    assert station("rebuild", "--archive", str(archive_b), url=postgres_url).returncode == 0
    assert station_a.search() == everything
