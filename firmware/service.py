"""The device service, ``bodycam run``: power-on to recording in one press.

States: power-on -> self-test -> standby (camera warm, pre-event buffer filling) -> recording
(markers while recording) -> sealing -> standby; docked (no buffering); fault (cannot record);
shutdown (power button held, flat battery, or the system stops us). Every change of state,
start, stop, marker and interruption is an event in the device's hash-chained event log.

Threads: the thread calling :meth:`Service.run` owns the state and makes every call into
the pipeline. The buttons (gpiozero's threads), the watcher, the control socket and signal
handlers only post messages to its inbox, so events are handled one at a time, in order.
A message is one of the typed classes of ``firmware.messages`` (:data:`Message`); the service
has one handler for each. The offload runs on a thread the service owns: one at a time, and
an undock waits for it to end. What the panel shows and offers (signal patterns, presses,
stop reasons) is in ``firmware.panel``.

Parts: the recorder (``recorder``, by default :func:`firmware.session.open_recorder`) and the
offload (``offload``, by default :func:`dock_offload`) are factories given to the service,
as gpiozero is given its pin factory, so that the state machine runs in tests without
encoders or a serial port.
"""
from __future__ import annotations

import contextlib
import queue
import shlex
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ContextManager

from bodycam_threads import OwnedThread, ZombieThread
from capture import CaptureError
from evidence import EvidenceError
from evidence.records import MANIFEST_SUFFIX, SESSION_CLOSE, read_record
from firmware.context import DeviceContext
from firmware.control import ControlServer, Request
from firmware.messages import AutoStop, ButtonEvent, ChooseLabel, ChooseReason, Message, Settle, Shutdown, ThreadFailed
from firmware.notify import notify, watchdog_seconds
from firmware.panel import (HOLD_MARGIN_SECONDS, MANUAL_REASONS, OUTPUTS, PATTERNS, PRESSES, UNSPECIFIED, PanelAlarms,
                            open_panel, reason_text)
from firmware.selftest import FAIL, ClockVerdict, Hardware, log_report, open_hardware, run_selftest
from firmware.session import open_recorder
from firmware.watch import POLL_SECONDS, Alarm, Watcher, show_location
from firmware.writer import writing
from hw import HardwareError
from hw.gpio import HOLD, PRESS, RELEASE, Panel
from overlay.status import OverlayStatus

POWER_ON, SELFTEST, STANDBY, RECORDING, SEALING, DOCKED, FAULT, SHUTDOWN = (
    "power-on", "self-test", "standby", "recording", "sealing", "docked", "fault", "shutdown")

# Stops nobody chose: their cause is recorded after the code, as "battery: battery at 4 %...".
AUTOMATIC_REASONS = {"battery": "the battery ran down", "storage": "the storage is full or failed",
                     "fault": "a device fault", "shutdown": "the system shut the service down"}
STOP_CODE_OF_ALARM = {"battery_critical": "battery", "storage_full": "storage", "storage_failed": "storage"}

TICK_SECONDS = 0.2
BATTERY_CHECK_SECONDS = 5.0
SETTLE_SECONDS = 30.0
DOCK_STOP_SECONDS = 10.0  # an undock waits this long for the offload to end

# recorder(context, overlay_status=, clock_status=) -> a context manager yielding the pipeline.
RecorderFactory = Callable[..., ContextManager[Any]]
# offload(context, port, stop): offer the spool to the dock on ``port`` until ``stop`` is set.
OffloadFactory = Callable[[DeviceContext, str, threading.Event], None]


def dock_offload(context: DeviceContext, port: str, stop: threading.Event) -> None:
    """The real offload: ``firmware.offload.serve`` on ``port`` with the configured policies."""
    from firmware.offload import serve

    serve(context, port, stop=stop)


@dataclass
class _Stop:
    session: str
    at: float  # time.monotonic() of the stop
    code: str


def last_stop_on_spool(spool: Path) -> _Stop | None:
    """The newest session on the spool, as a stop at its last frame: so that recording again after a
    restart (a power cut, a fault, a battery swap) is linked to the recording the restart cut."""
    for folder in sorted((p for p in spool.iterdir() if p.is_dir()), reverse=True) if spool.is_dir() else []:
        try:
            closed = read_record(folder / SESSION_CLOSE).body
            manifests = sorted(folder.glob("*" + MANIFEST_SUFFIX), reverse=True)
            last = next((f for m in manifests if (f := read_record(m).body["frames"]["last"])), None)
        except (OSError, EvidenceError, KeyError):
            continue
        if last is not None:
            # Across a restart only the wall clock spans the gap.
            age = (time.time_ns() - last["wall"]) / 1e9
            return _Stop(folder.name, time.monotonic() - age, closed["reason"].split(":")[0])
    return None


class Service:
    """One device's service. ``hardware`` (battery, storage, clock, GNSS) is opened from the config unless given;
    ``recorder`` and ``offload`` are the factories of its recorder and its dock offload."""

    def __init__(self, context: DeviceContext, hardware: Hardware | None = None, echo: Callable[[str], None] = print,
                 watch_interval: float = POLL_SECONDS, recorder: RecorderFactory = open_recorder,
                 offload: OffloadFactory = dock_offload) -> None:
        self.context, self.config = context, context.config
        self.echo, self.watch_interval = echo, watch_interval
        self._recorder, self._offload = recorder, offload
        self.events = context.events
        self.status = OverlayStatus(recording=False)
        self.clock = ClockVerdict(False, "not checked yet")
        self.state = POWER_ON
        self.ready = threading.Event()  # set once standby (or fault) is reached
        self.finished = threading.Event()  # set when the service stops handling messages
        self.stop_requested: str | None = None  # set by a signal handler: a plain assignment, no lock
        self.session: str | None = None
        self.progress: Any = None
        self.pipeline: Any = None
        self.panel: Panel | None = None
        self.docked = False
        self.fault = ""
        self._hardware = hardware
        self._inbox: queue.Queue[Message] = queue.Queue()
        self._stack = contextlib.ExitStack()
        self._watcher: Watcher | None = None
        self._alarms: PanelAlarms | None = None
        self._started_by = 0  # the record press that started this recording: its own hold must not stop it
        self._reason: str | None = None  # chosen on the device for the next stop
        self._label = ""
        self._last_stop: _Stop | None = None
        self._reminded = self._battery_checked = self._pinged = 0.0
        self._exit: int | None = None
        self._dock_link: OwnedThread | None = None
        self.dock_stop_seconds = DOCK_STOP_SECONDS
        self._poweroff = False
        self._handlers: dict[type, Callable[[Any], None]] = {
            ButtonEvent: self._on_button_event, ChooseReason: self._on_reason, ChooseLabel: self._on_label,
            AutoStop: self._on_auto_stop, Shutdown: self._on_shutdown, ThreadFailed: self._on_thread_failed,
            Settle: self._on_settle}

    # --- any thread ---------------------------------------------------------------------------

    def post(self, message: Message) -> None:
        self._inbox.put(message)

    def shutdown(self, cause: str = "shutdown", detail: str = "") -> None:
        """Ask the service to stop (a recording is sealed first); ``run`` then returns."""
        self.post(Shutdown(cause, detail))

    def settle(self, timeout: float = SETTLE_SECONDS) -> bool:
        """Wait until everything posted so far has been handled; False on timeout or once the service ended."""
        done = threading.Event()
        self.post(Settle(done))
        deadline = time.monotonic() + timeout
        while not done.wait(0.05):
            if self.finished.is_set() or time.monotonic() > deadline:
                return False
        return True

    def describe(self) -> dict[str, Any]:
        """The state as `bodycam status` shows it (read from any thread: a snapshot, not a transaction)."""
        pipeline, progress, panel = self.pipeline, self.progress, self.panel
        return {"state": self.state, "session": self.session if self.state in (RECORDING, SEALING) else None,
                "frames": progress.frames if progress else 0, "segments": progress.segments if progress else 0,
                "markers": progress.markers if progress else 0, "docked": self.docked, "fault": self.fault,
                "buffer_seconds": round(pipeline.buffer_seconds(), 3) if pipeline else 0.0,
                "buffer_bytes": pipeline.buffer_bytes() if pipeline else 0,
                "lights": {name: panel.is_on(name) for name in OUTPUTS[:3]} if panel else {},
                "gpio": panel.description if panel else ""}

    def _on_button(self, name: str, kind: str, number: int) -> None:
        self.post(ButtonEvent(name, kind, number))  # on a gpiozero thread: hand on, nothing more

    def _on_request(self, request: Request) -> dict[str, Any]:
        """A `bodycam press` request, on the control thread: drive the simulated pins as a finger would."""
        what = request.press
        if what == "status":
            return self.describe()
        if what not in PRESSES or self.panel is None:
            return {"error": f"cannot press '{what}' (use one of {', '.join(PRESSES)})"}
        if request.reason is not None:
            if request.reason not in MANUAL_REASONS:
                return {"error": f"unknown stop reason '{request.reason}' (use one of {', '.join(MANUAL_REASONS)})"}
            self.post(ChooseReason(request.reason))  # what a device with a reason menu would have set before the hold
        if request.label:
            self.post(ChooseLabel(request.label[:64]))
        button, how = PRESSES[what]
        try:
            if isinstance(how, bool):
                self.panel.drive(button, how)
            else:
                hold = self.config["gpio"]["hold_seconds" if button == "record" else "power_hold_seconds"]
                self.panel.press(button, how if how is not None else hold + HOLD_MARGIN_SECONDS)
        except HardwareError as exc:
            return {"error": str(exc)}
        self.settle()
        return self.describe()

    # --- the service thread -------------------------------------------------------------------

    def run(self) -> int:
        """Power on, serve until shut down; returns the exit status (1: a fault the system should restart us for)."""
        try:
            with self._stack:
                try:
                    self._power_on()
                    self._serve()
                finally:
                    self.finished.set()
        finally:
            self.ready.set()
            notify("STOPPING=1")
        if self._poweroff and self.config["service"]["poweroff_command"]:
            subprocess.run(shlex.split(self.config["service"]["poweroff_command"]), check=False)
        return self._exit or 0

    def _serve(self) -> None:
        while self._exit is None:
            try:
                message = self._inbox.get(timeout=TICK_SECONDS)
            except queue.Empty:
                message = None
            if message is not None:
                self._handlers[type(message)](message)
            if self._exit is None and self.stop_requested:
                self._shut_down("signal", self.stop_requested)
            if self._exit is None:
                self._tick()

    def _power_on(self) -> None:
        self._stack.enter_context(writing(self.context.data_dir))
        self.panel = self._stack.enter_context(open_panel(self.config, self._on_button))
        self._log("state", {"from": None, "to": POWER_ON, "cause": "started", "gpio": self.panel.description})
        self.panel.set("led_power", True)
        self._stack.enter_context(contextlib.closing(
            ControlServer(self.context.data_dir.control_socket, self._on_request,
                          on_error=self._reporter("control"))))
        self._alarms = PanelAlarms(self.panel, self.echo)
        if self._hardware is None:
            self._hardware = self._stack.enter_context(open_hardware(self.context, with_devices=False))
        self._stack.callback(self._close_watcher)
        self._stack.callback(self._serve_dock, False)
        self.docked = self.panel.is_pressed("dock")
        self._serve_dock(self.docked)
        self._enter(SELFTEST, "power-on")
        self.panel.play(PATTERNS["selftest"])
        report = run_selftest(self.context, self._hardware, when="power-on")
        problem = log_report(self.events, report)
        for line in [f"{c.status} {c.name}: {c.value}" for c in report.checks if c.status != "PASS"] + [problem]:
            if line:
                self.echo(line)
        self.status.update(clock_trusted=report.clock.trusted)
        self.clock = report.clock
        failed = [c for c in report.checks if c.status == FAIL]
        if any(c.name == "battery.main" for c in failed):
            self._shut_down("battery", "the battery is below the shutdown level at power-on")
        elif failed:
            self._enter_fault("; ".join(f"{c.name} {c.value}" for c in failed))
        else:
            self._open_pipeline()
        notify("READY=1", f"STATUS={self.state}")
        self.ready.set()

    def _open_pipeline(self) -> bool:
        try:
            self.pipeline = self._stack.enter_context(self._recorder(
                self.context, overlay_status=self.status, clock_status=lambda: self.clock.as_record()))
            for note in self.pipeline.notes + self.pipeline.describe():
                self.echo(note)
            self.pipeline.start()
            self.pipeline.set_buffering(not self.docked)
            self._last_stop = self._last_stop or last_stop_on_spool(self.context.data_dir.spool)
        except (HardwareError, CaptureError) as exc:
            self.pipeline = None
            self._enter_fault(str(exc))
            return False
        self.fault = ""
        self._enter(DOCKED if self.docked else STANDBY, "ready")
        return True

    def _enter_fault(self, why: str) -> None:
        self.fault = why
        self._enter(FAULT, why)
        self.panel.play(PATTERNS["fault"])
        self.echo(f"cannot record: {why}")

    def _enter(self, state: str, cause: str) -> None:
        self._log("state", {"from": self.state, "to": state, "cause": cause})
        self.state = state
        self.echo(f"{time.strftime('%H:%M:%S')} {state.upper()}: {cause}")
        notify(f"STATUS={state}: {cause}")

    def _log(self, kind: str, data: dict[str, Any]) -> None:
        try:
            self.events.append(kind, data)
        except (OSError, ValueError) as exc:  # a full card must not stop the service: show it, go on
            self.echo(f"the event log cannot be written: {exc}")

    def _reporter(self, thread: str) -> Callable[[Exception], None]:
        """What a part's thread calls with the error it ended on (on that thread): a message to us."""
        return lambda exc: self.post(ThreadFailed(thread, repr(exc)))

    def _on_thread_failed(self, message: ThreadFailed) -> None:
        self._log("thread_failed", {"thread": message.thread, "error": message.error})
        self.echo(f"the {message.thread} thread failed: {message.error}")

    def _on_settle(self, message: Settle) -> None:
        message.done.set()

    def _on_reason(self, message: ChooseReason) -> None:
        self._reason = message.code

    def _on_label(self, message: ChooseLabel) -> None:
        self._label = message.text

    def _on_button_event(self, message: ButtonEvent) -> None:
        name, kind, number = message.name, message.kind, message.number
        if name == "record" and kind == PRESS:
            if self.state in (STANDBY, DOCKED):
                self._start_recording(number)
            elif self.state == FAULT:
                self._retry(number)
            elif self.state == RECORDING:
                self.panel.play(PATTERNS["still_recording"])  # a bump: the recording goes on
        elif name == "record" and kind == HOLD:
            if self.state == RECORDING and number != self._started_by:
                self._stop_recording(self._reason or UNSPECIFIED, chosen=self._reason is not None)
        elif name == "record" and kind == RELEASE:
            self._reason = None  # a chosen reason is for the hold of this press only
        elif name == "marker" and kind == PRESS and self.state == RECORDING:
            self._mark()
        elif name == "marker" and kind == RELEASE:
            self._label = ""  # a label is for the marker of this press only
        elif name == "power" and kind == HOLD:
            self._shut_down("power", "the power button was held")
        elif name == "dock" and kind in (PRESS, RELEASE):
            self._set_docked(kind == PRESS)

    def _retry(self, press: int) -> None:
        """Record pressed while the device could not record: check again, and record if it now can."""
        report = run_selftest(self.context, self._hardware, when="before recording")
        log_report(self.events, report)
        failed = [c for c in report.checks if c.status == FAIL]
        if failed:
            self._enter_fault("; ".join(f"{c.name} {c.value}" for c in failed))
        elif (self.pipeline is not None or self._open_pipeline()) and self.state in (STANDBY, DOCKED):
            self._start_recording(press)

    def _start_recording(self, press: int) -> None:
        now, stop = time.monotonic(), self._last_stop
        window = self.config["service"]["interruption_minutes"] * 60
        link = None
        if stop is not None and stop.code != "end_of_enforcement" and now - stop.at <= window:
            # The buffered footage reaches back before the press: the gap is what no footage covers.
            gap = max(0.0, now - stop.at - self.pipeline.buffer_seconds())
            link = {"previous_session": stop.session, "gap_ms": round(gap * 1000)}
        try:
            self.progress = self.pipeline.start_recording(link)
        except CaptureError as exc:
            self._enter_fault(str(exc))
            return
        self.session, self._started_by = self.progress.session_id, press
        self.status.update(recording=True)
        self.panel.set("led_video", True)
        self.panel.set("led_audio", self.pipeline.microphone is not None)
        self.panel.play(PATTERNS["start"])
        self._reminded = now
        self._enter(RECORDING, f"record pressed: session {self.session}")
        self._log("recording_started", {"session": self.session, "link": link, "docked": self.docked,
                                        "pre_event_frames": self.progress.pre_event_frames})
        if link is not None:
            self.panel.play(PATTERNS["state_reason"])
            self._log("interruption", {"session": self.session, "previous_session": stop.session,
                                       "previous_stop": stop.code, "gap_ms": link["gap_ms"],
                                       "prompt": "state the reason for the interruption aloud"})
            self.echo(f"resumed {link['gap_ms'] / 1000:.1f} s after session {stop.session} stopped "
                      f"({stop.code}): state the reason aloud")
        self._watcher = Watcher(self.context, self._hardware, self._alarms, self._watcher_stop,
                                interval=self.watch_interval).start()

    def _watcher_stop(self, message: str) -> None:
        # On the watcher's thread, right after it signalled the alarm that asks for the stop.
        alarm = self._alarms.last
        self.post(AutoStop(STOP_CODE_OF_ALARM.get(alarm.kind if alarm else "", "fault"), message))

    def _on_auto_stop(self, message: AutoStop) -> None:
        if self.state == RECORDING:
            self._stop_recording(message.code, detail=message.detail)

    def _mark(self) -> None:
        try:
            marker = self.pipeline.add_marker(self._label)
        except CaptureError as exc:
            self.echo(f"marker not set: {exc}")
            return
        self.panel.play(PATTERNS["marker"])
        self._log("marker", {"session": self.session, **marker})
        self.echo(f"{time.strftime('%H:%M:%S')} MARKER {self.progress.markers}: {marker}")

    def _close_watcher(self) -> None:
        if self._watcher is not None:
            self._watcher.close()
            self._watcher = None

    def _stop_recording(self, code: str, chosen: bool = False, detail: str = "") -> None:
        self._close_watcher()
        session, reason = self.session, reason_text(code, detail)
        self._enter(SEALING, reason)
        try:
            progress = self.pipeline.stop_recording(reason)
        except CaptureError as exc:  # the pipeline died: it closed the session itself
            progress, reason = self.progress, f"fault: {exc}"
        self._ended(session, progress, code, reason, chosen)

    def _ended(self, session: str, progress: Any, code: str, reason: str, chosen: bool) -> None:
        """A recording ended (asked for, or by the pipeline): lights, signal, event, and back to standby."""
        self._close_watcher()
        self.status.update(recording=False)
        self.panel.set("led_video", False)
        self.panel.set("led_audio", False)
        self.panel.play(PATTERNS["stop"])
        self._last_stop = _Stop(session, time.monotonic(), code)
        self._log("recording_stopped", {
            "session": session, "reason": reason, "code": code, "automatic": code in AUTOMATIC_REASONS,
            "chosen_on_device": chosen, "frames": progress.frames, "segments": progress.segments,
            "markers": progress.markers, "error": progress.error})
        self.echo(f"{time.strftime('%H:%M:%S')} SEALED session {session}: {progress.frames} frames, "
                  f"{progress.segments} segments, {progress.markers} markers; reason {reason}")
        self.session = None
        if self.pipeline is not None and self.pipeline.error:
            self._fail(self.pipeline.error)
        else:
            self._enter(DOCKED if self.docked else STANDBY, "sealed")

    def _fail(self, error: str) -> None:
        """The pipeline died: say so and end with status 1, so that systemd restarts us (and recovery runs)."""
        self._enter_fault(f"the capture pipeline failed: {error}")
        self._exit = 1

    def _set_docked(self, docked: bool) -> None:
        if docked == self.docked:
            return
        self.docked = docked
        self._log("dock", {"docked": docked})
        self._serve_dock(docked)
        if self.pipeline is not None:
            self.pipeline.set_buffering(not docked)
        if self.state in (STANDBY, DOCKED):
            self._enter(DOCKED if docked else STANDBY, "docked" if docked else "undocked")

    def _serve_dock(self, docked: bool) -> None:
        """While docked, offer the sealed recordings to the dock on ``dock.port``, on a thread of its own.

        One offload at a time: an undock stops the offload and waits for it. One that does not
        end in time is logged and kept: no new offload starts on the port until it has ended
        (:meth:`_tick` looks again), so two can never meet on one port."""
        port, link = self.context.dock.port, self._dock_link
        if link is not None and not link.is_alive():
            link.join()  # ended: stopped late, or on its own (a dead port; its thread logged why)
            self._dock_link = link = None
        if docked and port and link is None:
            stop = threading.Event()
            self._dock_link = OwnedThread(self._offload, "dock-link", args=(self.context, port, stop),
                                          on_error=self._dock_failed(port), stopping=stop)
            self._dock_link.start()
        elif not docked and link is not None and not link.stopping.is_set():
            try:
                link.stop(self.dock_stop_seconds)
            except ZombieThread as exc:
                self._log("dock_link_stuck", {"port": port, "message": str(exc)})
                return
            self._dock_link = None

    def _dock_failed(self, port: str) -> Callable[[Exception], None]:
        # On the offload's thread: a dead port ends the offload, never the service; the log says why.
        return lambda exc: self._log("dock_link_failed", {"port": port, "message": str(exc)})

    def _on_shutdown(self, message: Shutdown) -> None:
        self._shut_down(message.cause, message.detail)

    def _shut_down(self, cause: str, detail: str) -> None:
        if self._exit is not None:
            return
        if self.state == RECORDING:
            # Power button: the officer ended it without a reason; otherwise the system did.
            code = {"power": UNSPECIFIED, "battery": "battery"}.get(cause, "shutdown")
            self._stop_recording(code, detail=detail)
        self._enter(SHUTDOWN, detail or cause)
        self._log("shutdown", {"cause": cause, "detail": detail})
        self.panel.play(PATTERNS["shutdown"])
        self.panel.wait_idle(PATTERNS["shutdown"].seconds + 1)
        self._poweroff = cause in ("power", "battery")
        self._exit = 0

    def _tick(self) -> None:
        now = time.monotonic()
        if self.state == RECORDING and self.progress.done.is_set():
            # The pipeline closed the session itself: a camera fault or a failed write.
            self._ended(self.session, self.progress, "fault", reason_text("fault", self.progress.stop_reason), False)
        elif self.state == RECORDING:
            minutes = self.config["service"]["reminder_minutes"]
            if minutes and now - self._reminded >= minutes * 60:
                self._reminded = now
                self.panel.play(PATTERNS["reminder"])
        elif self.pipeline is not None and self.pipeline.error and self.state != FAULT:
            self._fail(self.pipeline.error)
        if self._dock_link is not None and self._dock_link.stopping.is_set() and not self._dock_link.is_alive():
            self._serve_dock(self.docked)  # a stuck offload ended at last: the dock may be served again
        if now - self._battery_checked >= BATTERY_CHECK_SECONDS:
            self._battery_checked = now
            self._check_battery()
        self._update_location()
        interval = watchdog_seconds()
        if interval and now - self._pinged >= interval / 4 and self._healthy():
            self._pinged = now
            notify("WATCHDOG=1")

    def _healthy(self) -> bool:
        # A stuck or dead pipeline stops the pings: systemd then restarts the service.
        return self.pipeline is None or not self.pipeline.error

    def _check_battery(self) -> None:
        """Outside recording (the watcher covers recording): a battery too low to record on shuts down."""
        battery = self._hardware.main
        if self.state in (RECORDING, SEALING, SHUTDOWN) or self.docked or isinstance(battery, OSError):
            return
        try:
            reading = battery.read()
        except OSError:
            return  # the self-test and the watcher report an unreadable battery
        if reading.status not in ("Charging", "Full") and reading.percent <= self.config["battery"]["shutdown_percent"]:
            self._alarms.signal(Alarm("battery_critical", f"battery at {reading.percent:.0f} %: shutting down"))
            self._shut_down("battery", f"battery at {reading.percent:.0f} %")

    def _update_location(self) -> None:
        show_location(self._hardware.gnss, self.status)
