"""Docking real sealed recordings over real pseudo-terminals: the archive takes only what verifies,
the device frees a video only for a valid receipt of exactly its sealed hash. No timed asserts."""
from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy

from bodycam_threads import OwnedThread
from capture.pipeline import Progress
from evidence.eventlog import Verification
from evidence.keys import FileSigner, add_key, key_id, load_public_key, read_keys
from evidence.paths import DataDir
from evidence.receipts import RECEIPT_DOMAIN, receipt_data, receipt_dock
from evidence.records import read_record
from evidence.verify import verify_paths
from firmware.eventlog import EventLog
from firmware.offload import SpoolSource, release_due, serve
from firmware.session import open_recorder
from station.cli import main as station_main
from station.intake.archive import ArchiveSink
from station.services import dock_init, open_catalogue, pull
from sync import PeerError, VerifyError
from sync.auth import Ed25519Authenticator
from sync.dock import Dock
from sync.link import open_port
from sync.messages import ErrorCode, Item
from sync.ptywire import PtyWire
from sync.store import PARTIAL
from tests.conftest import record, small_context
from tests.waiting import wait_for

DAY_NS = 86_400 * 10**9
HEAD = "device/chain-head.json"                       # offered first at every docking
OWN = [HEAD, "device/identity-000001.json"]           # the device's own records, offered before its sessions


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> Path:
    """Two real sealed sessions of one device: 2 segments, then 1."""
    data_dir = tmp_path_factory.mktemp("recorded")
    record(data_dir, 3)
    record(data_dir, 1)
    return data_dir


def enrolled_copy(recorded: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the device, and a dock archive; each enrolled on the other."""
    device, archive = tmp_path / "device", tmp_path / "archive"
    shutil.copytree(recorded, device)
    dock_init(archive, [(device / "device" / "device.pub").read_text()])
    add_key(DataDir(device).docks, (archive / "dock" / "dock.pub").read_text())
    return device, archive


@pytest.fixture
def sides(recorded, tmp_path) -> tuple[Path, Path]:
    return enrolled_copy(recorded, tmp_path)


def spool_files(data_dir: Path) -> dict[str, bytes]:
    return {f"{p.parent.name}/{p.name}": p.read_bytes() for p in sorted((data_dir / "spool").glob("*/*"))}


def event_files(folder: Path) -> dict[str, bytes]:
    """The event files in a device's data_dir or a device's folder of an archive, by item id."""
    folder = folder / "events" if (folder / "events").is_dir() else folder
    return {f"events/{p.name}": p.read_bytes() for p in sorted(folder.glob("events-*.jsonl"))}


def archived_events(archive: Path, data_dir: Path) -> Path:
    return archive / "events" / key_id(next(iter(device_key(data_dir))))


def archived(archive: Path) -> dict[str, list[Path]]:
    found: dict[str, list[Path]] = {}
    for path in archive.glob("[0-9]*/*/*/*/*/*/*/*"):
        found.setdefault(f"{path.parent.name}/{path.name}", []).append(path)
    return found


@contextlib.contextmanager
def device_serving(data_dir: Path, wire: PtyWire, **options):
    stop = threading.Event()
    context = small_context(data_dir, dock=options)
    thread = OwnedThread(lambda: serve(context, wire.a, stop=stop), "device", stopping=stop)
    thread.start()
    try:
        yield
    finally:
        thread.stop(30)
    assert thread.error is None, thread.error


@contextlib.contextmanager
def device_service(data_dir: Path, port: str, *options: str):
    """``bodycam serve`` in a process of its own, killed at the end if it still runs."""
    process = subprocess.Popen([sys.executable, "-m", "firmware", "serve", "--port", port, "--data-dir", str(data_dir),
                                *options], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().startswith("serving")
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()


def device_key(data_dir: Path) -> set[bytes]:
    return {load_public_key((data_dir / "device" / "device.pub").read_text())}


def events(data_dir: Path) -> list[dict]:
    return [json.loads(line) for path in sorted((data_dir / "events").glob("*.jsonl"))
            for line in path.read_text().splitlines()]


def test_full_offload_archives_each_file_once_and_releases_the_videos(sides):
    device, archive = sides
    original = spool_files(device)
    with PtyWire() as wire, device_serving(device, wire):
        report = pull(archive, wire.b)
    assert not report.failed and sorted(report.items) == sorted([*original, *OWN, "events/events-000001.jsonl"])
    assert report.clock_offset_ns is not None
    stored = archived(archive)
    assert sorted(stored) == sorted(original)
    assert all(len(paths) == 1 and paths[0].read_bytes() == original[name] for name, paths in stored.items())
    assert all(v.ok for v in verify_paths([archive], device_key(device))) and len(verify_paths([archive])) == 2
    # the layout: YYYY/MM/DD/unit/device/officer/session, from the signed open record
    opened = read_record(next(p for n, [p] in stored.items() if n.endswith("session-open.json"))).body
    folder = stored[f"{opened['session']}/session-open.json"][0].parent
    day = time.strftime("%Y/%m/%d", time.gmtime(opened["started_wall"] // 10**9))
    assert folder.relative_to(archive).as_posix() == "/".join(
        [day, opened["unit"]["number"], opened["device"], opened["officer"]["police_number"], opened["session"]])
    # on the device: every item receipted, every video (and only videos) freed, the chain still verifies
    assert all(DataDir(device).receipt(name).exists() for name in original)
    assert sorted(spool_files(device)) == sorted(n for n in original if not n.endswith(".mp4"))
    verdicts = verify_paths([device / "spool"], device_key(device))
    assert all(v.ok for v in verdicts)
    assert all(s.detail.startswith("released after upload") for v in verdicts for s in v.segments)
    assert len([e for e in events(device) if e["type"] == "released"]) == 3
    assert [e["type"] for e in events(device)].count("clock_set") == 1
    # searchable by officer, device and date; a second docking takes only the events logged since
    day, catalogue = day.replace("/", "-"), open_catalogue(archive)
    for criteria in ({"officer": opened["officer"]["police_number"]}, {"officer": opened["officer"]["name"]},
                     {"device": opened["device"]}, {"date": day}):
        assert {e["session"] for e in catalogue.search(**criteria)} == {n.split("/")[0] for n in original}
    assert catalogue.search(device="XX00000") == [] and catalogue.search(case="K-1") == []
    with PtyWire() as wire, device_serving(device, wire):
        assert pull(archive, wire.b).items == [HEAD, "events/events-000002.jsonl"]


def test_pulling_one_device_opens_the_station_s_database_once(sides, monkeypatch):
    """One engine for the whole pull: catalogue, witness and audit trail share it."""
    device, archive = sides
    engines = []
    create_engine = sqlalchemy.create_engine
    monkeypatch.setattr(sqlalchemy, "create_engine", lambda *a, **k: engines.append(a) or create_engine(*a, **k))
    with PtyWire() as wire, device_serving(device, wire):
        report = pull(archive, wire.b)
    assert not report.failed and report.items
    assert len(engines) == 1


def test_with_retention_nothing_is_released_until_it_is_due(sides):
    device, archive = sides
    with PtyWire() as wire, device_serving(device, wire, release_after_days=1):
        report = pull(archive, wire.b)
    assert not report.failed
    videos = [n for n in spool_files(device) if n.endswith(".mp4")]
    assert len(videos) == 3 and all(DataDir(device).receipt(n).exists() for n in videos)
    assert release_due(DataDir(device), 1) == []
    assert sorted(release_due(DataDir(device), 1, now_ns=time.time_ns() + 2 * DAY_NS)) == sorted(videos)
    assert all(v.ok for v in verify_paths([device / "spool"], device_key(device)))


def test_an_unenrolled_dock_gets_nothing_and_is_logged(sides, tmp_path):
    device, _ = sides
    stranger = tmp_path / "stranger"
    dock_init(stranger, [(device / "device" / "device.pub").read_text()])
    before = spool_files(device)
    with PtyWire() as wire, device_serving(device, wire):
        with pytest.raises(PeerError) as refused:
            pull(stranger, wire.b)
    assert refused.value.code == ErrorCode.AUTH
    assert archived(stranger) == {} and not (device / "receipts").exists() and spool_files(device) == before
    assert any(e["type"] == "dock_refused" and "not enrolled" in e["data"]["message"] for e in events(device))


class ForgingDock(Ed25519Authenticator):
    """An enrolled dock whose receipts are not what it signed."""

    def sign(self, data: bytes) -> bytes:
        signature = super().sign(data)
        return bytes(64) if data.startswith(RECEIPT_DOMAIN) else signature


def test_forged_receipts_and_receipts_for_another_hash_release_nothing(sides):
    device, archive = sides
    before = spool_files(device)
    dock_signer = FileSigner(archive / "dock" / "dock.key")
    with PtyWire() as wire, device_serving(device, wire):
        port = open_port(wire.b)
        try:
            forger = ForgingDock(dock_signer, read_keys(archive / "devices"))
            report = Dock(port, ArchiveSink(archive, None, open_catalogue(archive)), forger).pull(patience=20)
        finally:
            port.close()
    assert report.items == [] and all("receipt refused" in why for why in report.failed.values())
    assert spool_files(device) == before and not (device / "receipts").exists()
    # a validly signed receipt, but for other bytes than the sealed ones: stored, never a release
    source = SpoolSource(small_context(device))
    video = next(item for item in source.items() if item.id.endswith(".mp4"))
    other = Item(video.id, video.size, bytes(32))
    source.received(other, dock_signer.sign(receipt_data(source.device_key, other.id, other.sha256)))
    assert DataDir(device).receipt(video.id).exists() and spool_files(device) == before
    assert release_due(DataDir(device), 0) == []
    # a receipt file written by hand with a made-up signature frees nothing either
    receipt = json.loads(DataDir(device).receipt(video.id).read_text())
    DataDir(device).receipt(video.id).write_text(json.dumps({**receipt, "sha256": video.sha256.hex()}))
    assert release_due(DataDir(device), 0) == [] and spool_files(device) == before
    assert video.id in {item.id for item in SpoolSource(small_context(device)).items()}     # still offered


def test_a_video_changed_after_sealing_is_refused_not_receipted_not_released(sides):
    device, archive = sides
    victim = sorted((device / "spool").glob("*/seg-000001.mp4"))[0]
    victim.chmod(0o644)
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))
    name = f"{victim.parent.name}/{victim.name}"
    offered = spool_files(device)
    with PtyWire() as wire, device_serving(device, wire):
        report = pull(archive, wire.b)
    assert list(report.failed) == [name]
    assert name not in archived(archive) and not DataDir(device).receipt(name).exists()
    assert victim.read_bytes() == bytes(data)
    assert sorted(report.items) == sorted(set(offered) - {name} | {*OWN, "events/events-000001.jsonl"})
    assert [n for n in spool_files(device) if n.endswith(".mp4")] == [name]     # the others were released


def test_dock_killed_mid_transfer_resumes_and_archives_each_file_once(sides):
    device, archive = sides
    original = spool_files(device)
    first_video = f"{sorted(original)[0].split('/')[0]}/seg-000001.mp4"

    def dock() -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "station", "pull", "--port", wire.b, "--archive", str(archive)],
                                stdout=subprocess.PIPE, text=True)

    with PtyWire() as wire, device_serving(device, wire):
        cut = wire.cut_after(100_000)            # inside the first video; cut until mended
        first = dock()
        assert cut.wait(timeout=60)
        partials = archive / PARTIAL
        wait_for(lambda: any(p.stat().st_size for p in partials.iterdir()), "a partial copy with bytes in it")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        held = max(p.stat().st_size for p in partials.iterdir())
        second = dock()
        wire.mend()
        out, _ = second.communicate(timeout=60)
    assert second.returncode == 0, out
    assert 0 < held < len(original[first_video]) and "1 resumed" in out
    event_files = len(list((archive / "events").rglob("events-*.jsonl")))
    assert event_files and f"event log     {event_files} file(s), chain checked" in out
    stored = archived(archive)
    assert sorted(stored) == sorted(original) and not any(partials.iterdir())
    assert all(len(paths) == 1 and paths[0].read_bytes() == original[name] for name, paths in stored.items())
    assert all(v.ok for v in verify_paths([archive], device_key(device)))
    assert [e["data"]["item"] for e in events(device) if e["type"] == "released"].count(first_video) == 1


def test_device_service_killed_mid_transfer_resumes_and_releases_only_what_was_receipted(sides):
    device, archive = sides
    original = spool_files(device)
    first_video = f"{sorted(original)[0].split('/')[0]}/seg-000001.mp4"
    with PtyWire() as wire, concurrent.futures.ThreadPoolExecutor(1) as dock, contextlib.ExitStack() as services:
        first = services.enter_context(device_service(device, wire.a))
        cut = wire.cut_after(100_000)            # inside the first video; cut until mended
        pulling = dock.submit(pull, archive, wire.b)
        assert cut.wait(timeout=30)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        assert (device / "spool" / first_video).exists() and not DataDir(device).receipt(first_video).exists()
        second = services.enter_context(device_service(device, wire.a))
        wire.mend()
        report = pulling.result(timeout=60)      # the dock's next session reaches the restarted service
        again = dock.submit(pull, archive, wire.b).result(timeout=60)
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=10) == 0
    assert not report.failed and report.drops >= 1
    assert [item for item, _ in report.resumed] == [first_video]
    assert sorted(set(report.items) - set(original)) == [*OWN, "events/events-000001.jsonl", "events/events-000002.jsonl"]
    assert not again.failed and all(item.startswith("events/") for item in again.items if item != HEAD)
    stored = archived(archive)
    assert sorted(stored) == sorted(original) and not any((archive / PARTIAL).iterdir())
    assert all(len(paths) == 1 and paths[0].read_bytes() == original[name] for name, paths in stored.items())
    assert all(v.ok for v in verify_paths([archive], device_key(device)))
    # on the device: every file receipted, and whatever is gone has a receipt valid for exactly its bytes
    assert all(DataDir(device).receipt(name).exists() for name in original)
    key = next(iter(device_key(device)))
    gone = [name for name in original if not (device / "spool" / name).exists()]
    assert sorted(gone) == sorted(name for name in original if name.endswith(".mp4"))
    assert all(receipt_dock(DataDir(device), name, hashlib.sha256(original[name]).hexdigest(), key) for name in gone)
    assert [e["data"]["item"] for e in events(device) if e["type"] == "released"].count(first_video) == 1


def test_commands_enrol_and_search(sides, tmp_path):
    device, archive = sides
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}

    def run(package: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", package, *args], capture_output=True, text=True, env=env)

    other = tmp_path / "other-archive"
    device_pub = str(device / "device" / "device.pub")
    assert run("station", "init", "--archive", str(other), "--device-key", device_pub).returncode == 0
    assert (other / "dock" / "dock.key").stat().st_mode & 0o777 == 0o600
    assert read_keys(other / "devices") == device_key(device)
    assert run("firmware", "enroll", "--data-dir", str(device), "--dock-key", str(other / "dock" / "dock.pub")).returncode == 0
    assert len(read_keys(DataDir(device).docks)) == 2
    with PtyWire() as wire, device_serving(device, wire):
        assert not pull(archive, wire.b).failed
    found = run("station", "search", "--json", "--archive", str(archive), "--device", "BC00001")
    assert found.returncode == 0 and len(found.stdout.splitlines()) == 2
    assert run("station", "search", "--archive", str(archive), "--officer", "999999").returncode == 1


def test_both_commands_open_the_line_at_the_configured_rate(sides, tmp_path):
    """dock.baudrate on the device and --baud on the station reach the ttys (a pty holds the rate
    like a UART); neither is the pty's own 38400 nor the 115200 default."""
    device, archive = sides
    config = tmp_path / "device.toml"
    config.write_text("[dock]\nbaudrate = 57600\n")
    with PtyWire() as wire:
        assert wire.line_rate("a") == wire.line_rate("b") == termios.B38400
        with device_service(device, wire.a, "--config", str(config)) as service:
            assert station_main(["pull", "--port", wire.b, "--archive", str(archive), "--baud", "460800"]) == 0
            service.send_signal(signal.SIGTERM)
            assert service.wait(timeout=10) == 0
        assert wire.line_rate("a") == termios.B57600
        assert wire.line_rate("b") == termios.B460800
    assert DataDir(device).receipt(HEAD).exists()


def test_a_rate_that_is_not_standard_is_refused_in_one_sentence(sides, capsys):
    _, archive = sides
    with pytest.raises(SystemExit) as refused:
        station_main(["pull", "--port", "/dev/null", "--archive", str(archive), "--baud", "250000"])
    assert refused.value.code == 2
    assert "--baud: invalid choice: 250000" in capsys.readouterr().err


def test_a_port_that_cannot_be_opened_is_one_sentence_and_its_traceback_only_when_debugging(sides):
    _, archive = sides
    command = [sys.executable, "-m", "station", "pull", "--port", "/dev/ttyNOSUCH", "--archive", str(archive)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    [sentence] = done.stderr.splitlines()
    assert sentence.startswith("bodycam-station: cannot open /dev/ttyNOSUCH: ") and "No such file" in sentence
    debugging = subprocess.run([sys.executable, "-m", "station", "-v", *command[3:]], capture_output=True, text=True,
                               timeout=60)
    assert debugging.returncode == 1 and "Traceback (most recent call last)" in debugging.stderr
    assert debugging.stderr.splitlines()[-1] == sentence


def record_marked(data_dir: Path, seconds: float) -> None:
    """A real recording in which the officer sets a marker as soon as it runs."""
    with open_recorder(small_context(data_dir)) as recorder:
        def mark_once(progress: Progress) -> None:
            if not progress.markers:
                recorder.add_marker("party objects")
        recorder.run(seconds, on_progress=mark_once)


def test_a_marked_session_is_offered_and_pulled_before_older_unmarked_ones(recorded, tmp_path):
    device, archive = enrolled_copy(recorded, tmp_path)
    record_marked(device, 1)
    *older, marked = sorted(p.name for p in (device / "spool").iterdir())     # folder names start with the time
    assert any("marked" in read_record(m).body["flags"] for m in (device / "spool" / marked).glob("*.manifest"))
    offered = [item for item in SpoolSource(small_context(device)).items() if not item.id.startswith(("events/", "device/"))]
    sessions = [item.id.split("/")[0] for item in offered]
    assert len(older) == 2 and sessions == sorted(sessions, key=[marked, *older].index)
    assert {item.priority for item in offered if item.id.startswith(marked)} == {1}
    assert {item.priority for item in offered if not item.id.startswith(marked)} == {0}
    with PtyWire() as wire, device_serving(device, wire):
        report = pull(archive, wire.b)
    assert not report.failed and report.items[:-1] == [*OWN, *(item.id for item in offered)]
    assert all(v.ok for v in verify_paths([archive], device_key(device)))


def alarms(data_dir: Path, count: int) -> None:
    log = EventLog(DataDir(data_dir))
    for n in range(count):
        log.append("alarm", {"kind": "battery_low", "message": f"test {n}", "action": "none"})


def event_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def test_the_event_log_arrives_whole_and_chained_and_later_events_go_in_a_later_docking(sides):
    device, archive = sides
    alarms(device, 3)
    EventLog(DataDir(device)).rotate()
    alarms(device, 2)
    with PtyWire() as wire, device_serving(device, wire):
        first = pull(archive, wire.b)
    taken = ["events/events-000001.jsonl", "events/events-000002.jsonl"]
    assert not first.failed and first.items[-2:] == taken               # after every evidence item
    folder = archived_events(archive, device)
    assert event_files(folder) == {item: event_files(device)[item] for item in taken}
    assert all(path.stat().st_mode & 0o777 == 0o444 for path in folder.iterdir())
    assert all(DataDir(device).receipt(item).exists() for item in taken)
    # the releases after the listing went into a new file, offered at the next docking only
    newest = device / "events" / "events-000003.jsonl"
    assert [e["type"] for e in event_lines(newest)] == ["released"] * 3
    with PtyWire() as wire, device_serving(device, wire):
        second = pull(archive, wire.b)
    assert not second.failed and second.items == [HEAD, "events/events-000003.jsonl"]
    on_device = event_files(device)                                   # all kept, none changed since offered
    assert sorted(on_device) == [*taken, "events/events-000003.jsonl", "events/events-000004.jsonl"]
    assert event_files(folder) == {item: on_device[item] for item in sorted(on_device)[:3]}
    chain = Verification()
    for name, data in event_files(folder).items():
        chain.check(name, data)
    assert chain.ok and [r["seq"] for r in chain.records] == list(range(len(chain.records)))
    assert [r["type"] for r in chain.records].count("clock_set") == 2


@pytest.mark.parametrize("tamper", ["edit", "remove", "reorder"])
def test_a_tampered_event_file_is_refused_and_not_receipted(sides, tamper):
    device, archive = sides
    with PtyWire() as wire, device_serving(device, wire):
        assert not pull(archive, wire.b).failed       # events-000001 archived: the next file must carry on its chain
    alarms(device, 2)
    path = device / "events" / "events-000002.jsonl"
    lines = path.read_bytes().split(b"\n")[:-1]
    if tamper == "edit":
        lines[0] = lines[0].replace(b'"released"', b'"dock_refused"')
    elif tamper == "remove":
        del lines[0]                                  # the file alone still chains: only the archive can tell
    else:
        lines[0], lines[1] = lines[1], lines[0]
    path.write_bytes(b"\n".join(lines) + b"\n")
    with PtyWire() as wire, device_serving(device, wire):
        report = pull(archive, wire.b)
    assert list(report.failed) == ["events/events-000002.jsonl"] and report.items == [HEAD]
    assert "breaks the event log's hash chain" in report.failed["events/events-000002.jsonl"]
    assert list(event_files(archived_events(archive, device))) == ["events/events-000001.jsonl"]
    assert not DataDir(device).receipt("events/events-000002.jsonl").exists()


def test_the_archive_takes_a_device_s_event_files_in_order_under_the_authenticated_key(sides, caplog):
    """In order, under the key the device proved; a file after a gap (those between went to
    another dock) is taken on its own chain and the gap logged; an older file, or one whose
    events go back to what is archived, is refused."""
    device, archive = sides
    for _ in range(3):
        alarms(device, 2)
        EventLog(DataDir(device)).rotate()
    source = SpoolSource(small_context(device))
    first, second, third = [item for item in source.items() if item.id.startswith("events/")]

    def take(sink: ArchiveSink, item: Item, data: bytes | None = None) -> None:
        partial = sink.resume(item)
        if data is None:
            with source.open(item) as fh:
                data = fh.read()
        partial.write(data)
        partial.commit()

    with pytest.raises(VerifyError, match="no authenticated device"):
        ArchiveSink(archive, None, open_catalogue(archive)).resume(first)
    sink = ArchiveSink(archive, None, open_catalogue(archive), device_key=next(iter(device_key(device))))
    take(sink, first)
    old = event_files(device)[first.id]
    with pytest.raises(VerifyError, match="events replayed"):
        take(sink, Item("events/events-000003.jsonl", len(old), hashlib.sha256(old).digest()), old)
    take(sink, third)
    assert "event files 2..2 of this device are not in this archive" in caplog.text
    with pytest.raises(VerifyError, match="out of order"):
        take(sink, second)
    assert sink.resume(third) is None                 # archived once: only receipted again
    assert event_files(archived_events(archive, device)) == {item.id: event_files(device)[item.id]
                                                             for item in (first, third)}
    assert not any((archive / PARTIAL).iterdir())


def test_when_the_event_log_cannot_be_ended_the_evidence_still_goes(sides, caplog):
    """Ending the newest event file writes to the card; when that fails (here the writers' lock
    file cannot be opened, as on a full or read-only card) the listing still offers every
    evidence file and every event file but the newest, and says why in the log."""
    device, _ = sides
    alarms(device, 1)
    EventLog(DataDir(device)).rotate()
    alarms(device, 1)
    lock = device / "events" / ".lock"
    lock.unlink()
    lock.mkdir()
    offered = [item.id for item in SpoolSource(small_context(device)).items()]
    assert sorted(i for i in offered if not i.startswith(("events/", "device/"))) == sorted(spool_files(device))
    assert [i for i in offered if i.startswith("events/")] == list(event_files(device))[:-1]
    assert "cannot end the newest event file" in caplog.text
