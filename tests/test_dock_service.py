"""The dock service: eight recorded devices docked at once on pty pairs, each pulled by its own bay
on one opened station; a device pulled out mid-transfer resumes at its next docking, an unknown
key or a rewound chain is refused without disturbing the others, each bay's clock set, event log and
witness are as pull leaves them, SIGTERM leaves nothing receipted that is not stored.
No timed asserts: every wait is for an observable state."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable

import pytest

from bodycam_threads import OwnedThread
from evidence.keys import add_key
from evidence.paths import ArchiveDir, DataDir
from evidence.receipts import receipt_dock
from evidence.records import read_record
from firmware.offload import serve
from station import db
from station.cli import main as station_main
from station.dock.bays import read_bays
from station.intake.archive import ArchiveSink
from station.intake.witness import Witness
from station.services import dock_init, dock_service, open_catalogue
from sync.link import open_port
from sync.messages import Item
from sync.ptywire import PtyWire
from tests.conftest import record, small_context
from tests.test_custody import rolled_back
from tests.test_dock_archive import archived, archived_events, device_key, event_files, events, spool_files
from tests.test_web import PASSWORD, browser, screenshot, served, sign_in, until  # noqa: F401 (browser: the fixture)
from tests.waiting import wait_for
from tests.web import Client

DEVICES = 8
FINAL = ("done", "refused", "error")


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> list[Path]:
    """Nine devices, each its own key, serial and officer, with one short sealed session."""
    devices = []
    for number in range(DEVICES + 1):
        data_dir = tmp_path_factory.mktemp(f"device{number}")
        record(data_dir, 2.5, device={"serial": f"BC9000{number}"}, officer={"police_number": f"90000{number}"})
        devices.append(data_dir)
    return devices


class Bays:
    """A dock's bays as /dev/serial/by-id/ shows them: a link per docked device, to its pty end."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir()
        self.glob = str(folder / "bodycam-*")

    def dock(self, number: int, wire: PtyWire) -> None:
        (self.folder / f"bodycam-{number}").symlink_to(wire.b)

    def pull_out(self, number: int) -> None:
        (self.folder / f"bodycam-{number}").unlink()


class Device:
    """A recorded device serving the dock on its end of a pty pair (its ``bodycam serve`` thread)."""

    def __init__(self, data_dir: Path, rate: float | None = None) -> None:
        self.data_dir = data_dir
        self.wire = PtyWire(rate=rate)
        self.stop = threading.Event()
        self.thread = OwnedThread(lambda: serve(small_context(data_dir), self.wire.a, stop=self.stop),
                                  f"device {data_dir.name}", stopping=self.stop)
        self.thread.start()

    def close(self) -> None:
        self.thread.stop(30)
        self.wire.close()


def station_with(recorded: list[Path], tmp_path: Path, enrolled: int = DEVICES) -> tuple[list[Path], Path]:
    """Copies of the devices and a new archive; the first ``enrolled`` devices are enrolled on it,
    and every device trusts its dock."""
    devices, archive = [], tmp_path / "archive"
    for data_dir in recorded:
        devices.append(tmp_path / data_dir.name)
        shutil.copytree(data_dir, devices[-1])
    dock_init(archive, [(d / "device" / "device.pub").read_text() for d in devices[:enrolled]])
    for device in devices:
        add_key(DataDir(device).docks, (archive / "dock" / "dock.pub").read_text())
    return devices, archive


@contextlib.contextmanager
def running(service):
    stop = threading.Event()
    thread = OwnedThread(service.run, "dock service", args=(stop,), stopping=stop)
    thread.start()
    try:
        yield
    finally:
        thread.stop(60)
    assert thread.error is None, thread.error


def bay_states(archive: Path) -> dict[str, object]:
    return {state.bay: state for state in read_bays(archive)}


def assert_pulled(device: Path, serial: str, archive: Path, original: dict[str, bytes]) -> None:
    """Every spool file archived once, byte for byte, catalogued and receipted on the device."""
    stored = archived(archive)
    assert all(len(stored[name]) == 1 and stored[name][0].read_bytes() == data for name, data in original.items())
    assert all(DataDir(device).receipt(name).exists() for name in original)
    sessions = {name.split("/")[0] for name in original}
    assert sessions == {entry["session"] for entry in open_catalogue(archive).search(device=serial)}


def assert_pulled_as_pull_does(device: Path, archive: Path, result: str, dockings: int) -> None:
    """What pull does besides the footage: the device's clock set at each docking (at each link
    session: one lost to the line is opened again), its event log recording the offset the bay's
    result gives; its closed event-log files archived byte for byte and receipted by the dock;
    the witness holding its chain up to the head it offered."""
    clock_sets = [event["data"] for event in events(device) if event["type"] == "clock_set"]
    assert len(clock_sets) >= dockings
    assert all(clock["offset_ns"] == clock["device_ns"] - clock["dock_ns"] for clock in clock_sets)
    assert f"clock set (was {clock_sets[-1]['offset_ns'] / 1e9:+.3f} s off)" in result, (clock_sets, result)
    logged, taken = event_files(device), event_files(archived_events(archive, device))
    assert taken and taken == dict(list(logged.items())[:-1])      # all but the file still being written
    key = next(iter(device_key(device)))
    assert all(receipt_dock(DataDir(device), name, hashlib.sha256(data).hexdigest(), key)
               for name, data in taken.items())
    head = read_record(DataDir(device).chain).body
    assert Witness(db.connect(db.database_url(archive, None))).last(head["key_id"]) == (head["seq"], head["head"])


def test_eight_devices_docked_at_once_are_pulled_one_pulled_out_resumes_a_stranger_is_refused(
        recorded, tmp_path, capsys, browser):
    devices, archive = station_with(recorded, tmp_path)
    originals = [spool_files(device) for device in devices]
    with contextlib.contextmanager(served)(archive) as (base, _engine, _clock):
        page = browser.new_page()
        sign_in(page, base, "zhao")                     # a custodian
        page.click("#nav-bays")
        assert page.locator("#bays-none").is_visible()  # no dock service has run on this archive
        states = dock_eight(devices, archive, tmp_path, lambda: progress_moves(page, "bodycam-0"))
        until(page, "document.querySelectorAll('#bays tbody tr').length === 9 && "
                    "document.querySelectorAll('#bays tr.bay-done').length === 8")
        assert page.locator("#bays tr[data-bay='bodycam-8'] td.state").inner_text() == "已拒绝"
        assert page.locator("#bays tr[data-bay='bodycam-3'] td.device").inner_text() == "BC90003"
        assert page.locator("#bays tr[data-bay='bodycam-3'] td.result").inner_text() == states["bodycam-3"].result
        assert not page.locator("#bays-none").is_visible()
        screenshot(page, "bays")
        reviewer = Client(base)
        reviewer.sign_in("li", PASSWORD)
        assert reviewer.get("/bays.json").status == 403 and reviewer.get("/bays").status == 403
    check_eight(devices, archive, originals, states, capsys)


def progress_moves(page, bay: str) -> None:
    """Wait until the page has shown ``bay`` pulling with two different counts of what is done."""
    row, seen = page.locator(f"#bays tr[data-bay='{bay}']"), set()

    def moved() -> bool:
        if row.count() and row.locator("td.state").inner_text() == "采集中":
            seen.add(tuple(row.locator(f"td.{cell}").inner_text() for cell in ("files", "bytes", "left")))
        return len(seen) >= 2
    wait_for(moved, f"the page to show {bay}'s progress moving")


def dock_eight(devices: list[Path], archive: Path, tmp_path: Path, redocked: Callable[[], None]) -> dict:
    """Dock the nine devices at once on one dock service; pull the first out mid-transfer and
    dock it again on a slow line (``redocked()`` runs while it pulls); the bays' final states."""
    bays = Bays(tmp_path / "by-id")
    out = 0                                   # pulled out mid-transfer and docked again
    total_out = sum(len(data) for data in spool_files(devices[out]).values())
    docked = [Device(device, rate=200_000 if number == out else None) for number, device in enumerate(devices)]
    try:
        cut = docked[out].wire.cut_after(total_out // 2)
        with running(dock_service(archive, [bays.glob])):
            for number, device in enumerate(docked):
                bays.dock(number, device.wire)
            assert cut.wait(60)
            bays.pull_out(out)
            wait_for(lambda: bay_states(archive)["bodycam-0"].state == "error", "the pulled-out bay to end")
            assert "vanished" in bay_states(archive)["bodycam-0"].result
            docked[out].close()
            docked[out] = Device(devices[out], rate=40_000)
            bays.dock(out, docked[out].wire)
            redocked()
            wait_for(lambda: len(bay_states(archive)) == DEVICES + 1 and
                     all(s.state in FINAL for s in bay_states(archive).values()) and
                     bay_states(archive)["bodycam-0"].state != "error", "every bay to end", 120)
            states = bay_states(archive)
    finally:
        for device in docked:
            device.close()
    return states


def check_eight(devices: list[Path], archive: Path, originals: list[dict[str, bytes]], states: dict, capsys) -> None:
    """All eight enrolled devices pulled, catalogued, receipted, byte-identical; the stranger refused."""
    stranger = DEVICES
    assert {states[f"bodycam-{n}"].state for n in range(DEVICES)} == {"done"}
    assert all(states[f"bodycam-{n}"].device == f"BC9000{n}" and states[f"bodycam-{n}"].officer == f"90000{n}"
               for n in range(DEVICES))
    assert all(s.files_done == s.files_total and s.bytes_done == s.bytes_total for s in states.values()
               if s.state == "done")
    assert "resumed" in states["bodycam-0"].result and " 0 resumed" not in states["bodycam-0"].result
    for number in range(DEVICES):
        assert_pulled(devices[number], f"BC9000{number}", archive, originals[number])
        assert_pulled_as_pull_does(devices[number], archive, states[f"bodycam-{number}"].result,
                                   dockings=2 if number == 0 else 1)       # the first one docked twice
    assert Witness(db.connect(db.database_url(archive, None))).refusals() == []
    refused = states[f"bodycam-{stranger}"]
    assert refused.state == "refused" and "not enrolled" in refused.result
    assert not (devices[stranger] / "receipts").exists()
    assert "clock_set" not in [event["type"] for event in events(devices[stranger])]    # refused before the clock
    assert not archived_events(archive, devices[stranger]).exists()
    assert not any(name in archived(archive) for name in originals[stranger])
    capsys.readouterr()
    assert station_main(["bays", "--archive", str(archive)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:4] == ["bay", "state", "device", "officer"]
    assert any(line.split()[:4] == ["bodycam-3", "done", "BC90003", "900003"] for line in table)
    assert station_main(["bays", "--archive", str(archive), "--json"]) == 0
    assert {bay["bay"]: bay["state"] for bay in json.loads(capsys.readouterr().out)}["bodycam-8"] == "refused"


def test_a_bay_whose_device_rewound_its_chain_is_refused_and_the_other_bay_is_pulled(recorded, tmp_path):
    """A device rolled back behind what this station took is refused by the witness, nothing of
    its new sessions receipted; the device docked beside it is pulled as ever."""
    rewound, archive, new_sessions = rolled_back(tmp_path / "rewound", "rewound")
    other = tmp_path / recorded[1].name
    shutil.copytree(recorded[1], other)
    add_key(ArchiveDir(archive).devices, (other / "device" / "device.pub").read_text())
    add_key(DataDir(other).docks, ArchiveDir(archive).public_key.read_text())
    original = spool_files(other)
    bays = Bays(tmp_path / "by-id")
    docked = [Device(rewound), Device(other)]
    try:
        with running(dock_service(archive, [bays.glob])):
            for number, device in enumerate(docked):
                bays.dock(number, device.wire)
            wait_for(lambda: len(bay_states(archive)) == 2 and
                     all(s.state in FINAL for s in bay_states(archive).values()), "both bays to end", 60)
    finally:
        for device in docked:
            device.close()
    states = bay_states(archive)
    assert states["bodycam-0"].state == "refused" and "rewound its chain" in states["bodycam-0"].result
    assert not any((DataDir(rewound).receipts / folder.name).exists() for folder in new_sessions)
    [refusal] = Witness(db.connect(db.database_url(archive, None))).refusals()
    assert refusal["device"] == "BC00001" and "rewound its chain" in refusal["reason"]
    assert states["bodycam-1"].state == "done"
    assert_pulled(other, "BC90001", archive, original)
    assert_pulled_as_pull_does(other, archive, states["bodycam-1"].result, dockings=1)


def test_a_bay_with_garbage_on_its_line_says_so_and_the_other_bay_is_pulled(recorded, tmp_path):
    devices, archive = station_with(recorded[:1], tmp_path, enrolled=1)
    original = spool_files(devices[0])
    bays, stop = Bays(tmp_path / "by-id"), threading.Event()
    noisy = PtyWire()

    def babble() -> None:
        port = open_port(noisy.a)
        try:
            while not stop.wait(0.01):
                port.write(os.urandom(512))
        finally:
            port.close()
    babbler = OwnedThread(babble, "garbage", stopping=stop)
    babbler.start()
    device = Device(devices[0])
    try:
        with running(dock_service(archive, [bays.glob], patience=1.0)):
            bays.dock(0, device.wire)
            (bays.folder / "bodycam-9").symlink_to(noisy.b)
            ended = {"bodycam-0": "done", "bodycam-9": "error"}
            wait_for(lambda: {s.bay: s.state for s in read_bays(archive)} == ended,
                     "the device pulled and the garbage refused", 60)
    finally:
        babbler.stop(30)
        noisy.close()
        device.close()
    assert "no valid frames" in bay_states(archive)["bodycam-9"].result
    assert_pulled(devices[0], "BC90000", archive, original)


def test_two_bays_taking_the_same_bytes_at_once_keep_apart_copies(tmp_path):
    """Two devices may offer byte-identical items at the same moment (an empty index, say): each
    bay's partial copy is its own, so one committing never takes the other's away."""
    archive = tmp_path / "archive"
    dock_init(archive)
    catalogue = open_catalogue(archive)
    item = Item("events/events-000001.jsonl", 3, hashlib.sha256(b"abc").digest())
    copies = [ArchiveSink(archive, None, catalogue, device_key=key).resume(item)
              for key in (b"\x01" * 32, b"\x02" * 32)]
    try:
        assert copies[0].path != copies[1].path and copies[0].path.parent == copies[1].path.parent
    finally:
        for copy in copies:
            copy.close()


def test_sigterm_mid_transfer_receipts_nothing_that_is_not_stored(recorded, tmp_path):
    devices, archive = station_with(recorded[:3], tmp_path, enrolled=3)
    originals = [spool_files(device) for device in devices]
    bays = Bays(tmp_path / "by-id")
    docked = [Device(device, rate=40_000) for device in devices]
    service = subprocess.Popen([sys.executable, "-m", "station", "dock", "--archive", str(archive),
                                "--port", bays.glob], stdout=subprocess.PIPE, text=True)
    try:
        assert service.stdout.readline().startswith("dock service")
        for number, device in enumerate(docked):
            bays.dock(number, device.wire)
        wait_for(lambda: len(bay_states(archive)) == 3 and
                 all(0 < s.files_done and s.bytes_done < s.bytes_total for s in bay_states(archive).values()),
                 "every bay to be part-way through")
        service.send_signal(signal.SIGTERM)
        assert service.wait(60) == 0
    finally:
        if service.poll() is None:
            service.kill()
        service.communicate()
        for device in docked:
            device.close()
    stored = archived(archive)
    unfinished = 0
    for device, original in zip(devices, originals):
        receipted = {name for name in original if DataDir(device).receipt(name).exists()}
        assert all(len(stored[name]) == 1 and stored[name][0].read_bytes() == original[name] for name in receipted)
        unfinished += len(set(original) - receipted)
    assert unfinished > 0                       # the transfers were abandoned, not run to the end
    assert {s.state for s in read_bays(archive)} == {"idle"}
    assert all("shut down" in s.result for s in read_bays(archive))
