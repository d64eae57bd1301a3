"""The device service driven through gpiozero's MockFactory pins, over the real pipeline and spool.

Every wait is bounded; nothing asserts how long something took.
"""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bodycam_threads import OwnedThread
from evidence import eventlog
from evidence.paths import DataDir
from evidence.records import read_record
from evidence.verify import verify_paths
from firmware.control import ControlError, request
from firmware.panel import MANUAL_REASONS, reason_text
from firmware.selftest import Hardware
from firmware.service import DOCKED, RECORDING, STANDBY, Service
from hw.battery import SimulatedBattery
from hw.sources import open_rtc
from hw.storage import Storage
from tests.conftest import SIMULATED_PARTS, index_records, segments, small_context
from tests.mounts import tmpfs  # noqa: F401  (a fixture)
from tests.waiting import wait_for

WAIT = 30.0


def service_context(data_dir: Path, **sections: dict):
    merged = {"gpio": {"pin_factory": "simulated:", "hold_seconds": 1.0, "power_hold_seconds": 1.0},
              "recording": {"pre_event_seconds": 1},
              "battery": {"main": "simulated:", "backup": "simulated:"}, "clock": {"rtc": "simulated:"},
              "gnss": {"port": "none"},
              "storage": {"low_alarm_minutes": 1}}  # no storage-low pattern amid the counted ones on a full disk
    for name, keys in sections.items():
        merged.setdefault(name, {}).update(keys)
    return small_context(data_dir, **merged)


@contextlib.contextmanager
def running(context, hardware: Hardware | None = None, **parts):
    """The service on a thread of its own; shut down (recording sealed) on the way out.
    ``parts``: the recorder or offload factory to give it instead of the real ones."""
    service = Service(context, hardware, echo=lambda line: None, watch_interval=0.2, **parts)
    outcome: dict = {}
    thread = OwnedThread(lambda: outcome.update(exit=service.run()), "service")
    thread.start()
    assert service.ready.wait(WAIT)
    try:
        yield service
    finally:
        service.shutdown("test")
        thread.join(WAIT)  # raises ZombieThread if the service does not stop
    if thread.error is not None:
        raise thread.error
    service.exit_code = outcome["exit"]


def events(data_dir: Path, kind: str | None = None) -> list[dict]:
    checked = eventlog.verify(DataDir(data_dir))
    assert checked.ok, checked.problems
    return [r for r in checked.records if kind is None or r["type"] == kind]


def press(service: Service, button: str, seconds: float = 0.1) -> None:
    """A finger on the button: the MockFactory pin driven low, then high; then wait until handled."""
    service.panel.press(button, seconds)
    assert service.settle()


def frames_of(folder: Path) -> list[dict]:
    return [r for f in segments(folder) for r in index_records(f) if "type" not in r]


def closed(folder: Path) -> dict:
    return read_record(folder / "session-close.json").body


def test_press_records_a_bump_does_not_stop_a_hold_does_and_a_marker_lands(tmp_path, monkeypatch):
    notifications = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notifications.bind(str(tmp_path / "notify"))
    notifications.settimeout(WAIT)
    said: list[bytes] = []  # read as they come, as systemd does: a full socket would refuse the next
    reader = OwnedThread(lambda: said.extend(iter(lambda: notifications.recv(4096), b"STOPPING=1")), "notify")
    reader.start()
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
    monkeypatch.setenv("WATCHDOG_USEC", "400000")
    data_dir = tmp_path / "data"
    with running(service_context(data_dir)) as service:
        assert service.state == STANDBY
        red = service.panel.pin("led_video")
        press(service, "record")
        assert service.state == RECORDING and red.state and service.panel.is_on("led_audio")
        session = service.session
        wait_for(lambda: service.progress.frames >= 45, "frames")
        press(service, "record")  # a short press while recording: a bump (the red light flickers: still on)
        assert service.panel.wait_idle(WAIT)
        assert service.state == RECORDING and service.session == session and red.state
        before = time.time_ns()
        reply = request(DataDir(data_dir).control_socket, {"press": "marker", "label": "party objects"})
        after = time.time_ns()
        assert reply["markers"] == 1
        wait_for(lambda: service.progress.frames >= 100, "frames")
        reply = request(DataDir(data_dir).control_socket, {"press": "record-hold", "reason": "weather"})
        assert reply["state"] == STANDBY and not reply["lights"]["led_video"] and not red.state
        assert "error" in request(DataDir(data_dir).control_socket, {"press": "record-hold", "reason": "bored"})
    assert service.exit_code == 0
    folder = data_dir / "spool" / session
    assert closed(folder)["reason"] == "weather"
    [verdict] = verify_paths([folder])
    assert verdict.ok and {s.state for s in verdict.segments} == {"OK"}
    [stopped] = events(data_dir, "recording_stopped")
    assert stopped["data"]["code"] == "weather" and stopped["data"]["chosen_on_device"]
    states = [(e["data"]["from"], e["data"]["to"]) for e in events(data_dir, "state")]
    assert states[:6] == [(None, "power-on"), ("power-on", "self-test"), ("self-test", "standby"),
                          ("standby", "recording"), ("recording", "sealing"), ("sealing", "standby")]
    # The marker is in the manifest of the segment holding the frame being captured at the press.
    [logged] = events(data_dir, "marker")
    marks = [(path, m) for path in segments(folder)
             for m in read_record(path.with_name(path.name + ".manifest")).body["markers"]]
    [(path, mark)] = marks
    assert mark["label"] == "party objects" and mark["pts"] == logged["data"]["session_pts"]
    frame = next(r for r in index_records(path) if r.get("n") == mark["n"])
    assert before - 1.5e9 <= frame["wall"] <= after
    reader.join(WAIT)
    notifications.close()
    assert b"READY=1\nSTATUS=standby" in said and b"WATCHDOG=1" in said


def test_pre_event_footage_starts_the_recording_and_resuming_is_linked_with_a_prompt(tmp_path):
    data_dir = tmp_path / "data"
    with running(service_context(data_dir, recording={"pre_event_seconds": 3})) as service:
        wait_for(lambda: service.pipeline.buffer_seconds() >= 3.0, "a full buffer")
        buffered, pressed = service.pipeline.buffer_seconds(), time.time_ns()
        press(service, "record", 1.5)  # pressed and held from standby: starts, and its own hold does not stop
        first = service.session
        assert service.state == RECORDING
        wait_for(lambda: service.progress.frames >= service.progress.pre_event_frames + 20, "live frames")
        press(service, "record", 1.5)  # hold: stop, no reason chosen on the device
        assert service.state == STANDBY
        vibration = service.panel.pin("vibration")
        assert service.panel.wait_idle(WAIT)
        vibration.clear_states()
        press(service, "record")  # resumed within the interruption window
        second = service.session
        assert service.panel.wait_idle(WAIT)
        pulses = sum(1 for s in vibration.states[1:] if s.state)
        wait_for(lambda: service.progress.frames >= 40, "frames")
    frames = frames_of(data_dir / "spool" / first)
    assert [r["n"] for r in frames] == list(range(len(frames))) and frames[0]["pts"] == 0  # gapless
    assert (pressed - frames[0]["wall"]) / 1e9 == pytest.approx(buffered, abs=0.3)
    assert closed(data_dir / "spool" / first)["reason"] == "unspecified: to be filled in at the dock"
    opened = read_record(data_dir / "spool" / second / "session-open.json").body
    assert opened["link"]["previous_session"] == first and opened["link"]["gap_ms"] >= 0
    [interruption] = events(data_dir, "interruption")
    assert interruption["data"]["session"] == second and interruption["data"]["previous_stop"] == "unspecified"
    assert pulses == 1 + 3  # the start signal, then the prompt to state the reason aloud
    assert closed(data_dir / "spool" / second)["reason"] == "shutdown"
    assert all(v.ok for v in verify_paths([data_dir / "spool"]))


def test_docked_keeps_no_buffer_and_still_records_on_a_press(tmp_path):
    data_dir = tmp_path / "data"
    with running(service_context(data_dir)) as service:
        wait_for(lambda: service.pipeline.buffer_bytes() > 0, "buffering")
        assert request(DataDir(data_dir).control_socket, {"press": "dock"})["state"] == DOCKED
        assert service.pipeline.buffer_bytes() == 0
        press(service, "record")
        assert service.state == RECORDING and service.progress.pre_event_frames == 0
        press(service, "record", 1.5)
        assert service.state == DOCKED
        assert request(DataDir(data_dir).control_socket, {"press": "undock"})["state"] == STANDBY
        wait_for(lambda: service.pipeline.buffer_bytes() > 0, "buffering again")
    assert [e["data"]["docked"] for e in events(data_dir, "dock")] == [True, False]


def test_low_battery_alarm_then_a_sealed_stop_then_shutdown(tmp_path):
    data_dir = tmp_path / "data"
    context = service_context(data_dir, battery={"full_minutes": 60})
    now = [0.0]
    battery = SimulatedBattery(100, 60, clock=lambda: now[0])  # its clock is ours to turn
    hardware = Hardware(main=battery, backup=SimulatedBattery(), storage=Storage(data_dir),
                        rtc=open_rtc("simulated:"), gnss=None)
    with running(context, hardware) as service:
        press(service, "record")
        session = service.session
        green = service.panel.pin("led_power")
        assert service.panel.wait_idle(WAIT)
        green.clear_states()
        now[0] = 93 * 36  # 7 %: 4.2 min of recording left, under the 5 min alarm
        wait_for(lambda: events(data_dir, "alarm"), "the low-battery alarm")
        assert service.panel.wait_idle(WAIT)
        assert sum(1 for s in green.states[1:] if not s.state) == 3  # the low-battery pattern: three blinks
        assert service.state == RECORDING
        now[0] = 98 * 36  # 2 %: under the critical 3 %
        wait_for(service.finished.is_set, "the shutdown")
    assert [e["data"]["kind"] for e in events(data_dir, "alarm")][:2] == ["battery_low", "battery_critical"]
    [stopped] = events(data_dir, "recording_stopped")
    assert stopped["data"]["code"] == "battery" and stopped["data"]["automatic"]
    assert closed(data_dir / "spool" / session)["reason"].startswith("battery: battery at 2 %")
    [verdict] = verify_paths([data_dir / "spool" / session])
    assert verdict.ok and {s.state for s in verdict.segments} == {"OK"}
    assert events(data_dir, "shutdown")[-1]["data"]["cause"] == "battery"


def test_storage_full_stops_and_seals_cleanly(tmpfs):  # noqa: F811
    data_dir = tmpfs / "data"
    context = service_context(data_dir, storage={"reserve_seconds": 3})
    with running(context) as service:
        # Leave about 5 s of recording above the reserve: a ballast file beside the data directory.
        free = os.statvfs(tmpfs).f_bavail * os.statvfs(tmpfs).f_frsize
        with open(tmpfs / "ballast", "wb") as ballast:
            ballast.write(b"\0" * max(0, free - 750_000))
        press(service, "record")
        session = service.session
        wait_for(lambda: service.state == STANDBY, "the automatic stop")
    [stopped] = events(data_dir, "recording_stopped")
    assert stopped["data"]["code"] == "storage" and stopped["data"]["automatic"]
    assert "storage_full" in [e["data"]["kind"] for e in events(data_dir, "alarm")]
    [verdict] = verify_paths([data_dir / "spool" / session])
    assert verdict.ok and {s.state for s in verdict.segments} == {"OK"}
    assert closed(data_dir / "spool" / session)["reason"].startswith("storage: storage full")


def _start(config_file: Path, data_dir: Path) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-m", "firmware", "run", "--config", str(config_file)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def up() -> bool:
        assert process.poll() is None, process.stdout.read()
        try:
            return request(DataDir(data_dir).control_socket, {"press": "status"}, timeout=5)["state"] == STANDBY
        except ControlError:
            return False

    wait_for(up, "bodycam run in standby")
    return process


def test_sigkill_then_restart_recovers_and_continues_the_chain(tmp_path):
    data_dir = tmp_path / "data"
    config_file = tmp_path / "device.toml"
    config_file.write_text(f"""
[device]
data_dir = "{data_dir}"
[video]
width = 320
height = 240
bitrate_kbps = 600
[recording]
segment_seconds = 2
pre_event_seconds = 1
[sources]
camera = "simulated:"
microphone = "simulated:"
{SIMULATED_PARTS}""")
    cli = [sys.executable, "-m", "firmware"]
    first = _start(config_file, data_dir)
    try:
        subprocess.run([*cli, "press", "record", "--config", str(config_file)], check=True, capture_output=True)
        wait_for(lambda: request(DataDir(data_dir).control_socket, {"press": "status"})["segments"] >= 2, "a sealed segment")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(WAIT)
    second = _start(config_file, data_dir)  # a stale socket is replaced; the cut session is sealed
    try:
        subprocess.run([*cli, "press", "record", "--config", str(config_file)], check=True, capture_output=True)
        wait_for(lambda: request(DataDir(data_dir).control_socket, {"press": "status"})["frames"] >= 40, "frames")
        subprocess.run([*cli, "press", "record-hold", "--reason", "end_of_enforcement", "--config", str(config_file)],
                       check=True, capture_output=True)
        subprocess.run([*cli, "press", "power-hold", "--config", str(config_file)], check=True, capture_output=True)
        assert second.wait(WAIT) == 0
    finally:
        if second.poll() is None:
            second.kill()
    killed, resumed = verdicts = verify_paths([data_dir / "spool"])
    assert all(v.ok for v in verdicts), [v.problems for v in verdicts]
    assert killed.closed == "power loss" and "RECOVERED" in {s.state for s in killed.segments}
    assert resumed.closed == "end_of_enforcement" and {s.state for s in resumed.segments} == {"OK"}
    opened = read_record(resumed.folder / "session-open.json").body
    assert opened["link"]["previous_session"] == killed.session  # resumed after the cut: linked
    assert opened["seq"] > read_record(killed.folder / "session-close.json").body["seq"]  # one chain
    assert events(data_dir, "interruption")[0]["data"]["previous_stop"] == "power loss"


def test_every_stop_reason_of_the_rules_has_a_code():
    assert set(MANUAL_REASONS) == {"end_of_enforcement", "witness_request", "covert_measures", "public_transport",
                                   "secrets_privacy", "weather", "other"}
    assert reason_text("unspecified") == "unspecified: to be filled in at the dock"
    assert reason_text("battery", "battery at 4 %") == "battery: battery at 4 %"


def test_docked_service_offers_its_recordings_to_the_dock(tmp_path):
    """Docked, `bodycam run` serves the dock link on dock.port at dock.baudrate: the dock archives,
    receipts, the device frees."""
    import termios

    from evidence.keys import add_key
    from evidence.verify import verify_paths
    from station.services import dock_init, pull
    from sync.ptywire import PtyWire

    data_dir, archive = tmp_path / "data", tmp_path / "archive"
    wire = PtyWire()
    try:
        with running(service_context(data_dir, dock={"port": wire.a, "baudrate": 230400})) as service:
            press(service, "record")
            wait_for(lambda: service.progress.segments >= 1 and service.progress.frames >= 45, "recording")
            press(service, "record", 1.5)
            dock_init(archive, [(data_dir / "device" / "device.pub").read_text()])
            add_key(DataDir(data_dir).docks, (archive / "dock" / "dock.pub").read_text())
            assert request(DataDir(data_dir).control_socket, {"press": "dock"})["state"] == DOCKED
            report = pull(archive, wire.b, baudrate=230400)
            assert not report.failed and report.items, report
            assert wire.line_rate("a") == termios.B230400 == wire.line_rate("b")
            session = next(p.name for p in (data_dir / "spool").iterdir())
        archived = {p.name for p in archive.rglob(f"{session}/*")}
        assert {"session-open.json", "session-close.json", "seg-000001.mp4", "seg-000001.mp4.manifest"} <= archived
        assert all(v.ok for v in verify_paths([archive]))
        # The device freed its videos against the receipts; its spool still verifies.
        assert not list((data_dir / "spool" / session).glob("seg-*.mp4"))
        assert all(v.ok for v in verify_paths([data_dir / "spool"]))
        assert events(data_dir, "released")
    finally:
        wire.close()
