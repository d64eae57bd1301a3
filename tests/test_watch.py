"""Watching while recording: alarms in time, a clean stop before the battery or the card runs out."""
from __future__ import annotations

import os
import threading
import time

import pytest

from evidence.eventlog import verify
from evidence.paths import DataDir
from evidence.verify import verify_paths
from firmware.selftest import Hardware, open_hardware
from firmware.session import open_recorder
from firmware.watch import Alarm, AlarmSink, Watcher
from hw import HardwareError
from hw.battery import SimulatedBattery, SysfsBattery
from hw.storage import Storage
from tests.conftest import decode_video, index_records, segments, small_context
from tests.mounts import mounted_tmpfs, tmpfs  # noqa: F401  (tmpfs: a fixture)
from tests.waiting import wait_for

SIMULATED = {"battery": {"main": "simulated:", "backup": "simulated:"}, "clock": {"rtc": "simulated:"},
             "gnss": {"port": "simulated:"}}


class Alarms(AlarmSink):
    def __init__(self):
        self.raised: list[Alarm] = []

    def signal(self, alarm: Alarm) -> None:
        self.raised.append(alarm)

    def kinds(self):
        return [a.kind for a in self.raised]


def watcher_on(data_dir, main, stops, card, interval=1.0, clock=time.monotonic, **sections):
    sections.setdefault("storage", {"low_alarm_minutes": 1})  # the 64 MiB card holds 13 min at the small bitrate
    context = small_context(data_dir, **sections)
    hardware = Hardware(main, SimulatedBattery(), card, HardwareError("none"), None)
    alarms = Alarms()
    watcher = Watcher(context, hardware, alarms, stops.append, interval=interval, monotonic=clock)
    return watcher, alarms


@pytest.fixture
def card(tmp_path):
    """A 64 MiB card of its own: no other process fills it, so the storage check sees only the test."""
    with mounted_tmpfs(tmp_path / "card", "64m") as point:
        yield Storage(point)


def test_low_battery_alarm_fires_while_at_least_five_minutes_remain_then_critical_stops_once(tmp_path, card):
    now = [0.0]
    battery = SimulatedBattery(percent=3, full_minutes=300, clock=lambda: now[0])  # 9 min of recording left
    stops: list[str] = []
    watcher, alarms = watcher_on(tmp_path, battery, stops, card, clock=lambda: now[0],
                                 battery={"low_alarm_minutes": 5, "critical_percent": 1, "shutdown_percent": 1})
    remaining_at_alarm = None
    while not stops:
        watcher.poll()
        if "battery_low" in alarms.kinds() and remaining_at_alarm is None:
            remaining_at_alarm = battery.read().minutes_left
        now[0] += watcher.interval  # one poll interval of recording
    assert remaining_at_alarm is not None and remaining_at_alarm >= 5
    assert alarms.kinds() == ["battery_low", "battery_critical"]
    assert len(stops) == 1 and "battery at 1 %" in stops[0] and watcher.stop_reason == stops[0]
    for _ in range(3):
        watcher.poll()
    assert len(stops) == 1 and alarms.kinds().count("battery_critical") == 1
    logged = [(r["data"]["kind"], r["data"]["action"]) for r in verify(DataDir(tmp_path)).records]
    assert logged == [("battery_low", "none"), ("battery_critical", "stop")]


def test_the_storage_alarm_uses_the_rate_the_card_really_fills_at(tmp_path, card):
    """Written faster than the configured bitrate: the minutes left are counted at the measured rate."""
    now = [0.0]
    stops: list[str] = []
    watcher, alarms = watcher_on(tmp_path, SimulatedBattery(), stops, card, clock=lambda: now[0],
                                 storage={"low_alarm_minutes": 1, "reserve_seconds": 3})
    watcher.poll()
    assert alarms.kinds() == []
    written = 6 * 1024 * 1024
    (card.path / "footage").write_bytes(b"\0" * written)
    now[0] += 2.0  # 3 MiB/s: far above the configured bitrate
    watcher.poll()
    free = card.read().free_bytes
    rate = written / 2.0
    left = (free - (3 + 2 * watcher.interval) * rate) / rate / 60
    assert alarms.raised == [Alarm("storage_low", f"storage low: {left:.1f} min of recording left")] and not stops


def test_an_unreadable_battery_is_an_alarm_once(tmp_path, card):
    stops: list[str] = []
    watcher, alarms = watcher_on(tmp_path, HardwareError("no battery at BAT0"), stops, card)
    watcher.poll()
    watcher.poll()
    assert alarms.kinds() == ["sensor_failed"] and not stops


def test_a_battery_that_reads_again_clears_its_alarm_and_each_new_failure_alarms(tmp_path, card):
    """A gauge that fails, recovers, fails again and then fails differently: three alarms, each
    logged; the same failure repeated is one alarm (the watcher never goes silent for the shift)."""
    root = tmp_path / "BAT0"
    root.mkdir()
    (root / "status").write_text("Discharging\n")
    capacity = root / "capacity"
    stops: list[str] = []
    watcher, alarms = watcher_on(tmp_path / "data", SysfsBattery(root), stops, card)
    for value in ("80", None, None, "80", None, "lots", "80"):
        capacity.unlink(missing_ok=True)
        if value is not None:
            capacity.write_text(value + "\n")
        watcher.poll()
    assert alarms.kinds() == ["sensor_failed"] * 3 and not stops
    messages = [r["data"]["message"] for r in verify(DataDir(tmp_path / "data")).records if r["type"] == "alarm"]
    assert messages == [a.message for a in alarms.raised]
    assert "no battery" in messages[0] and messages[1] == messages[0] and "'lots'" in messages[2]


def test_a_clock_step_while_recording_is_an_event(tmp_path, card):
    wall = iter([1_900_000_000 * 10**9, 1_900_000_000 * 10**9, 1_900_000_000 * 10**9 - 3600 * 10**9])
    stops: list[str] = []
    watcher, alarms = watcher_on(tmp_path, SimulatedBattery(), stops, card)
    watcher._wall_clock = lambda: next(wall)
    for _ in range(3):
        watcher.poll()
    [event] = [r for r in verify(DataDir(tmp_path)).records if r["type"] == "clock_jump"]
    assert abs(event["data"]["step_ns"] + 3600 * 10**9) < 10**9
    assert "stepped -3600" in event["data"]["message"] and alarms.kinds() == ["clock_jump"] and not stops


def test_watcher_thread_starts_polls_and_closes_twice(tmp_path, card):
    stops: list[str] = []
    watcher, _ = watcher_on(tmp_path, SimulatedBattery(), stops, card, interval=0.01)
    with watcher:
        wait_for(lambda: watcher.polls >= 3, "three polls")
    watcher.close()
    assert watcher.polls >= 3 and watcher.cpu_seconds > 0


def test_a_full_card_stops_the_recording_sealed_before_the_disk_is_full(tmpfs):  # noqa: F811
    """A 3 MiB tmpfs, mostly full: the real recorder records until the watcher stops it, every segment plays."""
    with open(tmpfs / "filler", "wb") as fh:  # leave room for about 12 s of footage
        fh.write(b"\0" * (1800 * 1024))
    context = small_context(tmpfs, storage={"reserve_seconds": 3, "low_alarm_minutes": 1}, **SIMULATED)
    stop, alarms = threading.Event(), Alarms()
    with open_hardware(context, with_devices=False) as hardware, open_recorder(context) as recorder:
        def stop_for(reason):  # as `bodycam record` does
            if recorder.recording:
                recorder.stop_recording(reason)
            else:
                stop.set()

        with Watcher(context, hardware, alarms, stop_for, interval=0.5) as watcher:
            progress = recorder.run(120, stop)  # the card runs out long before
    assert watcher.stop_reason.startswith("storage full") and progress.stop_reason == watcher.stop_reason
    assert alarms.kinds() == ["storage_low", "storage_full"]
    assert progress.error == "" and progress.frames > 30
    stat = os.statvfs(tmpfs)
    assert stat.f_bavail * stat.f_frsize > 64 * 1024, "the disk itself never filled up"
    files = segments(progress.folder)
    assert len(files) >= 2
    total = 0
    for segment in files:
        records = index_records(segment)
        assert records[-1]["type"] == "end", f"{segment.name} was not sealed"
        frames = decode_video(segment)
        assert len(frames) == records[-1]["frames"] > 0
        total += len(frames)
    assert total == progress.frames
    [verdict] = verify_paths([progress.folder], None)  # sealed, with the watcher's reason
    assert verdict.ok and verdict.closed == progress.stop_reason
    logged = [(r["type"], r["data"].get("kind"), r["data"].get("action")) for r in verify(DataDir(tmpfs)).records]
    assert ("alarm", "storage_full", "stop") in logged
