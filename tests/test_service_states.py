"""The service's state machine with its recorder and offload injected: no encoder, no serial port.

The recorder here keeps the pipeline's interface and its ``Progress`` records but records
nothing, so every transition (and every failure of the parts) can be driven on purpose and
at once. Buttons arrive as the typed messages gpiozero's threads post.
"""
from __future__ import annotations

import contextlib
import threading
import typing
from pathlib import Path
from types import SimpleNamespace

from capture import CaptureError
from capture.pipeline import Progress
from firmware.messages import ButtonEvent, ChooseReason, Message, ThreadFailed
from firmware.selftest import Hardware
from firmware.service import DOCKED, FAULT, RECORDING, STANDBY, Service
from hw.battery import SimulatedBattery
from hw.gpio import HOLD, PRESS, RELEASE
from hw.sources import open_rtc
from hw.storage import Storage
from tests.test_service import events, running, service_context
from tests.waiting import wait_for


class ScriptedRecorder:
    """The pipeline's interface over nothing: a session is a ``Progress`` until it is stopped."""

    def __init__(self, data_dir: Path) -> None:
        self.settings = SimpleNamespace(data_dir=data_dir)
        self.notes: list[str] = []
        self.microphone = None
        self.error = ""
        self.buffering: list[bool] = []
        self.sessions: list[tuple[Progress, dict | None]] = []

    def describe(self) -> list[str]:
        return ["camera      none (a scripted recorder)"]

    def start(self) -> None:
        pass

    def set_buffering(self, enabled: bool) -> None:
        self.buffering.append(enabled)

    def buffer_seconds(self) -> float:
        return 0.0

    def buffer_bytes(self) -> int:
        return 0

    def start_recording(self, link: dict | None = None) -> Progress:
        progress = Progress(f"session-{len(self.sessions) + 1}", self.settings.data_dir / "spool")
        self.sessions.append((progress, link))
        return progress

    def stop_recording(self, reason: str) -> Progress:
        progress = self.sessions[-1][0]
        progress.stop_reason = reason
        progress.done.set()
        return progress

    def add_marker(self, label: str = "") -> dict:
        self.sessions[-1][0].markers += 1
        return {"label": label}

    def die(self, error: str) -> None:
        """What the pipeline does when its encoder or the card fails: close the session itself."""
        self.error = error
        progress = self.sessions[-1][0]
        progress.error, progress.stop_reason = error, f"the pipeline failed: {error}"
        progress.done.set()


def hardware(data_dir: Path) -> Hardware:
    return Hardware(SimulatedBattery(), SimulatedBattery(), Storage(data_dir), open_rtc("simulated:"), None)


def recorder_factory(recorder: ScriptedRecorder, fail_first: int = 0):
    opened = {"count": 0}

    def open_recorder(context, **status):
        opened["count"] += 1
        if opened["count"] <= fail_first:
            raise CaptureError("camera not ready")
        return contextlib.nullcontext(recorder)
    return open_recorder


def handle(service: Service, *messages: Message) -> None:
    for message in messages:
        service.post(message)
    assert service.settle()


def test_every_message_has_its_handler(tmp_path):
    service = Service(service_context(tmp_path), echo=lambda line: None)
    assert set(typing.get_args(Message)) == set(service._handlers)


def test_record_mark_and_a_hold_with_a_chosen_reason(tmp_path):
    recorder = ScriptedRecorder(tmp_path)
    with running(service_context(tmp_path), hardware(tmp_path), recorder=recorder_factory(recorder)) as service:
        assert service.state == STANDBY and recorder.buffering == [True]
        handle(service, ButtonEvent("record", PRESS, 1))
        assert service.state == RECORDING and service.session == "session-1"
        handle(service, ButtonEvent("record", HOLD, 1))  # the hold of the press that started it: goes on
        assert service.state == RECORDING
        handle(service, ButtonEvent("record", RELEASE, 1), ButtonEvent("marker", PRESS, 1),
               ChooseReason("weather"), ButtonEvent("record", PRESS, 2), ButtonEvent("record", HOLD, 2))
        assert service.state == STANDBY and service.session is None
    progress, link = recorder.sessions[0]
    assert progress.stop_reason == "weather" and progress.markers == 1 and link is None
    [stopped] = events(tmp_path, "recording_stopped")
    assert stopped["data"]["code"] == "weather" and stopped["data"]["chosen_on_device"]
    assert [e["data"]["session"] for e in events(tmp_path, "marker")] == ["session-1"]


def test_a_recorder_that_cannot_open_is_a_fault_and_record_tries_again(tmp_path):
    recorder = ScriptedRecorder(tmp_path)
    with running(service_context(tmp_path), hardware(tmp_path),
                 recorder=recorder_factory(recorder, fail_first=1)) as service:
        assert service.state == FAULT and service.fault == "camera not ready"
        handle(service, ButtonEvent("record", PRESS, 1))
        assert service.state == RECORDING and service.fault == ""
    states = [e["data"]["to"] for e in events(tmp_path, "state")]
    assert states[:5] == ["power-on", "self-test", "fault", "standby", "recording"]


def test_a_pipeline_that_dies_while_recording_ends_the_session_and_the_service_with_status_1(tmp_path):
    recorder = ScriptedRecorder(tmp_path)
    with running(service_context(tmp_path), hardware(tmp_path), recorder=recorder_factory(recorder)) as service:
        handle(service, ButtonEvent("record", PRESS, 1))
        recorder.die("the card is full")
        wait_for(service.finished.is_set, "the service to end")
    assert service.exit_code == 1 and service.fault == "the capture pipeline failed: the card is full"
    [stopped] = events(tmp_path, "recording_stopped")
    assert stopped["data"]["code"] == "fault" and stopped["data"]["error"] == "the card is full"


def test_a_failed_part_thread_is_logged(tmp_path):
    recorder = ScriptedRecorder(tmp_path)
    with running(service_context(tmp_path), hardware(tmp_path), recorder=recorder_factory(recorder)) as service:
        handle(service, ThreadFailed("control", "OSError('gone')"))
    assert [e["data"] for e in events(tmp_path, "thread_failed")] == [{"thread": "control", "error": "OSError('gone')"}]


class Offloads:
    """An offload factory whose offloads ignore the undock until released: a stuck serial port."""

    def __init__(self) -> None:
        self.started = 0
        self.running = self.most_at_once = 0
        self.release = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, context, port: str, stop: threading.Event) -> None:
        with self._lock:
            self.started += 1
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            self.release.wait(60)
        finally:
            with self._lock:
                self.running -= 1


def test_an_offload_that_does_not_stop_is_never_met_by_a_second_on_its_port(tmp_path):
    recorder, offloads = ScriptedRecorder(tmp_path), Offloads()
    context = service_context(tmp_path, dock={"port": "/dev/ttyGS0"})
    with running(context, hardware(tmp_path), recorder=recorder_factory(recorder), offload=offloads) as service:
        service.dock_stop_seconds = 0.1
        handle(service, ButtonEvent("dock", PRESS, 1))
        assert service.state == DOCKED
        wait_for(lambda: offloads.running == 1, "the offload")
        handle(service, ButtonEvent("dock", RELEASE, 1), ButtonEvent("dock", PRESS, 2))
        assert service.state == DOCKED and offloads.started == 1  # docked again: the stuck one still runs
        offloads.release.set()
        wait_for(lambda: offloads.started == 2, "a new offload once the stuck one ended")
    [stuck] = events(tmp_path, "dock_link_stuck")
    assert stuck["data"]["port"] == "/dev/ttyGS0" and "did not stop" in stuck["data"]["message"]
    assert offloads.most_at_once == 1


def test_an_offload_that_fails_is_logged_and_the_service_goes_on(tmp_path):
    recorder = ScriptedRecorder(tmp_path)

    def dead_port(context, port, stop):
        raise OSError(f"could not open port {port}")

    context = service_context(tmp_path, dock={"port": "/dev/ttyGS9"})
    with running(context, hardware(tmp_path), recorder=recorder_factory(recorder), offload=dead_port) as service:
        handle(service, ButtonEvent("dock", PRESS, 1))
        wait_for(lambda: events(tmp_path, "dock_link_failed"), "the failure in the event log")
        handle(service, ButtonEvent("record", PRESS, 1))
        assert service.state == RECORDING
    [failed] = events(tmp_path, "dock_link_failed")
    assert failed["data"] == {"port": "/dev/ttyGS9", "message": "could not open port /dev/ttyGS9"}
