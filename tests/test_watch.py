"""Watching while recording: alarms in time, a clean stop before the battery or the card runs out."""
from __future__ import annotations

import os
import threading
import time

from evidence.eventlog import verify
from evidence.verify import verify_paths
from firmware.eventlog import EventLog
from firmware.selftest import Hardware, open_hardware
from firmware.session import open_recorder
from firmware.watch import Alarm, AlarmSink, Watcher
from hw import HardwareError
from hw.battery import SimulatedBattery
from hw.storage import Storage
from tests.conftest import decode_video, index_records, segments, small_config
from tests.mounts import tmpfs  # noqa: F401  (fixture)

SIMULATED = {"battery": {"main": "simulated:", "backup": "simulated:"}, "clock": {"rtc": "simulated:"},
             "gnss": {"port": "simulated:"}}


class Alarms(AlarmSink):
    def __init__(self):
        self.raised: list[Alarm] = []

    def signal(self, alarm: Alarm) -> None:
        self.raised.append(alarm)

    def kinds(self):
        return [a.kind for a in self.raised]


def watcher_on(tmp_path, main, stops, interval=1.0, **sections):
    config = small_config(tmp_path, **sections)
    hardware = Hardware(main, SimulatedBattery(), Storage(tmp_path), HardwareError("none"), None)
    alarms = Alarms()
    return Watcher(config, hardware, EventLog(tmp_path), alarms, stops.append, interval=interval), alarms


def test_low_battery_alarm_fires_while_at_least_five_minutes_remain_then_critical_stops_once(tmp_path):
    now = [0.0]
    battery = SimulatedBattery(percent=3, full_minutes=300, clock=lambda: now[0])  # 9 min of recording left
    stops: list[str] = []
    watcher, alarms = watcher_on(tmp_path, battery, stops, battery={"low_alarm_minutes": 5, "critical_percent": 1,
                                                                     "shutdown_percent": 1})
    remaining_at_alarm = None
    while not stops:
        watcher.poll()
        if "battery_low" in alarms.kinds() and remaining_at_alarm is None:
            remaining_at_alarm = battery.read().minutes_left
        now[0] += watcher.interval  # one poll interval of recording
    assert remaining_at_alarm is not None and remaining_at_alarm >= 5
    # Battery alarms only: the storage check measures the whole disk, which other processes may be filling.
    assert [kind for kind in alarms.kinds() if kind.startswith("battery")] == ["battery_low", "battery_critical"]
    assert len(stops) == 1 and "battery at 1 %" in stops[0] and watcher.stop_reason == stops[0]
    for _ in range(3):
        watcher.poll()
    assert len(stops) == 1 and alarms.kinds().count("battery_critical") == 1
    logged = [(r["data"]["kind"], r["data"]["action"]) for r in verify(tmp_path).records]
    assert logged == [("battery_low", "none"), ("battery_critical", "stop")]


def test_an_unreadable_battery_is_an_alarm_once(tmp_path):
    stops: list[str] = []
    watcher, alarms = watcher_on(tmp_path, HardwareError("no battery at BAT0"), stops)
    watcher.poll()
    watcher.poll()
    assert alarms.kinds() == ["sensor_failed"] and not stops


def test_a_clock_step_while_recording_is_an_event(tmp_path):
    wall = iter([1_900_000_000 * 10**9, 1_900_000_000 * 10**9, 1_900_000_000 * 10**9 - 3600 * 10**9])
    stops: list[str] = []
    watcher, alarms = watcher_on(tmp_path, SimulatedBattery(), stops)
    watcher._wall_clock = lambda: next(wall)
    for _ in range(3):
        watcher.poll()
    [event] = [r for r in verify(tmp_path).records if r["type"] == "clock_jump"]
    assert abs(event["data"]["step_ns"] + 3600 * 10**9) < 10**9
    assert "stepped -3600" in event["data"]["message"] and alarms.kinds() == ["clock_jump"] and not stops


def test_watcher_thread_starts_polls_and_closes_twice(tmp_path):
    stops: list[str] = []
    watcher, _ = watcher_on(tmp_path, SimulatedBattery(), stops, interval=0.01)
    with watcher:
        deadline = time.monotonic() + 10
        while watcher.polls < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    watcher.close()
    assert watcher.polls >= 3 and watcher.cpu_seconds > 0


def test_a_full_card_stops_the_recording_sealed_before_the_disk_is_full(tmpfs):
    """A 3 MiB tmpfs, mostly full: the real recorder records until the watcher stops it, every segment plays."""
    with open(tmpfs / "filler", "wb") as fh:  # leave room for about 12 s of footage
        fh.write(b"\0" * (1800 * 1024))
    config = small_config(tmpfs, storage={"reserve_seconds": 3, "low_alarm_minutes": 1}, **SIMULATED)
    stop, alarms = threading.Event(), Alarms()
    events = EventLog(tmpfs)
    with open_hardware(config, with_devices=False) as hardware, open_recorder(config) as recorder:
        def stop_for(reason):  # as `bodycam record` does
            if recorder.recording:
                recorder.stop_recording(reason)
            else:
                stop.set()

        with Watcher(config, hardware, events, alarms, stop_for, interval=0.5) as watcher:
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
    logged = [(r["type"], r["data"].get("kind"), r["data"].get("action")) for r in verify(tmpfs).records]
    assert ("alarm", "storage_full", "stop") in logged
