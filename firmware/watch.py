"""Watching battery, storage and clock while recording: alarms to the officer, events to the log.

A :class:`Watcher` polls from a thread it owns. The low-battery alarm fires while at
least ``battery.low_alarm_minutes`` of recording remain; at ``battery.critical_percent``,
or when the storage is down to its reserve, it asks the recorder to stop (the recorder
then seals the segment), so a flat battery or a full card never cuts a file short. A step
of the system clock is an event, never a silent change. Every alarm reaches the officer
through an :class:`AlarmSink` and is written to the event log, which the dock collects.

A condition alarm (battery low, storage full, ...) is raised once until its condition
clears. A sensor that cannot be read is an alarm for each distinct failure; once it reads
again the failure is cleared, so a later failure alarms again and nothing goes silent for
the rest of a shift.
"""
from __future__ import annotations

import contextlib
import logging
import sys
import time
from dataclasses import dataclass
from typing import Callable, Iterator, TextIO

from bodycam_errors import BodycamError
from bodycam_threads import OwnedThread
from firmware.context import DeviceContext
from firmware.selftest import (FAIL, PASS, ClockVerdict, Hardware, bytes_per_second, log_report, minutes_left,
                               open_hardware, run_selftest)
from hw.gnss import Gnss
from overlay.status import OverlayStatus

log = logging.getLogger(__name__)
POLL_SECONDS = 1.0
STOP_SECONDS = 5.0


class CannotRecord(BodycamError, OSError):
    """The self-test before recording found what makes recording impossible."""


@dataclass(frozen=True)
class Alarm:
    """``kind`` names the pattern (battery_low, battery_critical, storage_low, storage_full, storage_failed,
    clock_jump, sensor_failed); ``message`` says it in words."""

    kind: str
    message: str


class AlarmSink:
    """Where alarms reach the officer. A subclass overrides :meth:`signal` (the GPIO layer: LED and vibration)."""

    def signal(self, alarm: Alarm) -> None:
        raise NotImplementedError


class ConsoleAlarms(AlarmSink):
    """On a PC: a line on the console, with the terminal bell."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.stream = stream

    def signal(self, alarm: Alarm) -> None:
        print(f"\a\nALARM {alarm.kind}: {alarm.message}", file=self.stream, flush=True)


def show_location(gnss: Gnss | None | OSError, status: OverlayStatus) -> None:
    """Give the overlay the receiver's position now (None, drawn as NO GPS, without a fix) and
    the receiver's time of that fix, which the recorder seals with the segment (``firmware.session``)."""
    position = gnss.position() if isinstance(gnss, Gnss) else None
    location = (position.latitude, position.longitude) if position else None
    utc = gnss.state().utc if position else None
    utc_ns = int(utc.timestamp()) * 10**9 + utc.microsecond * 1000 if utc else None
    if (location, utc_ns) != (status.current.location, status.current.location_utc_ns):
        status.update(location=location, location_utc_ns=utc_ns)


class Watcher:
    """Polls ``hardware`` every ``interval`` seconds while recording; ``stop(reason)`` asks the recorder to stop.

    ``stop_reason`` is the reason given, if any; ``cpu_seconds`` the CPU time the polls took.
    ``monotonic`` (seconds) times the storage's filling rate and ``wall_clock`` (ns) is watched
    for steps: both are given by tests that need exact figures. With ``overlay``, each poll
    also gives it the GNSS position.
    """

    def __init__(self, context: DeviceContext, hardware: Hardware, alarms: AlarmSink,
                 stop: Callable[[str], None], interval: float = POLL_SECONDS,
                 wall_clock: Callable[[], int] = time.time_ns, overlay: OverlayStatus | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.config, self.events = context.config, context.events
        self.hardware, self.alarms = hardware, alarms
        self.overlay = overlay
        self.interval = interval
        self.stop_reason: str | None = None
        self.cpu_seconds = 0.0
        self.polls = 0
        self.notes: list[str] = []
        self.clock: ClockVerdict | None = None  # the self-test's verdict, which the recording carries
        self._stop_recording, self._wall_clock, self._monotonic = stop, wall_clock, monotonic
        self._active: dict[str, str] = {}  # what is alarmed now -> the message it was alarmed with
        self._clock_offset: int | None = None
        self._first_free: tuple[float, int] | None = None
        self._thread: OwnedThread | None = None

    def start(self) -> "Watcher":
        self.poll()  # the first round before recording goes on
        self._thread = OwnedThread(self._run, "watcher")
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._thread.stopping.wait(self.interval):
            try:
                self.poll()
            except Exception as exc:  # a broken adapter must not end the watching: say so and go on
                if self._failed("watcher", "sensor_failed", f"the watcher failed: {exc!r}"):
                    log.exception("a watcher poll failed")
            else:
                self._clear("watcher")

    def close(self) -> None:
        """Stop watching; safe to call twice. Raises ZombieThread if the thread does not end."""
        if self._thread is not None:
            self._thread.stop(STOP_SECONDS)
            self._thread = None

    def __enter__(self) -> "Watcher":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def poll(self) -> None:
        """One round of checks (the thread's work; tests call it directly)."""
        started = time.thread_time()
        self._battery()
        self._storage()
        self._clock()
        if self.overlay is not None:
            show_location(self.hardware.gnss, self.overlay)
        self.polls += 1
        self.cpu_seconds += time.thread_time() - started

    def _battery(self) -> None:
        limits, battery = self.config["battery"], self.hardware.main
        try:
            if isinstance(battery, OSError):
                raise battery
            reading = battery.read()
        except OSError as exc:
            self._failed("battery", "sensor_failed", f"the main battery cannot be read: {exc}")
            return
        self._clear("battery")
        minutes = minutes_left(reading, self.config)
        # Fire two polls early, so that the alarm comes while the promised minutes still remain.
        early = 2 * self.interval / 60
        if reading.percent <= limits["critical_percent"]:
            self._raise("battery_critical", f"battery at {reading.percent:.0f} %: recording stops and is sealed",
                        stop=True)
        elif minutes is not None and minutes <= limits["low_alarm_minutes"] + early:
            self._raise("battery_low", f"battery low: {minutes:.1f} min of recording left")
        else:
            self._clear("battery_low", "battery_critical")  # charged again

    def _storage(self) -> None:
        limits = self.config["storage"]
        try:
            reading = self.hardware.storage.read()
        except OSError as exc:
            self._failed("storage", "storage_failed", f"the storage cannot be read: {exc}", stop=True)
            return
        if not reading.present or reading.read_only:
            problem = "memory card removed" if not reading.present else "storage became read-only"
            self._failed("storage", "storage_failed", f"{problem}: recording stops", stop=True)
            return
        self._clear("storage")
        # The faster of the configured bitrate and what the card has really been filling at.
        now = self._monotonic()
        self._first_free = self._first_free or (now, reading.free_bytes)
        elapsed = now - self._first_free[0]
        measured = (self._first_free[1] - reading.free_bytes) / elapsed if elapsed > 0 else 0.0
        rate = max(bytes_per_second(self.config), measured)
        # Keep the configured reserve, plus what is written before the next poll and while the segment closes.
        reserve = (limits["reserve_seconds"] + 2 * self.interval) * rate
        left = (reading.free_bytes - reserve) / rate / 60
        if reading.free_bytes <= reserve:
            self._raise("storage_full", f"storage full ({reading.free_bytes / 1e6:.1f} MB left): recording stops "
                                        "and is sealed", stop=True)
        elif left <= limits["low_alarm_minutes"]:
            self._raise("storage_low", f"storage low: {left:.1f} min of recording left")
            self._clear("storage_full")
        else:
            self._clear("storage_low", "storage_full")  # space was freed

    def _clock(self) -> None:
        offset = self._wall_clock() - time.monotonic_ns()
        if self._clock_offset is not None:
            step = offset - self._clock_offset
            if abs(step) > self.config["clock"]["max_drift_seconds"] * 1e9:
                message = f"the system clock stepped {step / 1e9:+.1f} s while recording"
                self._log("clock_jump", {"step_ns": step, "message": message})
                self.alarms.signal(Alarm("clock_jump", message))
        self._clock_offset = offset

    def _raise(self, kind: str, message: str, stop: bool = False) -> None:
        """A condition alarm: signalled once until :meth:`_clear` says its condition cleared."""
        if kind not in self._active:
            self._active[kind] = message
            self._signal(kind, message, stop)

    def _clear(self, *kinds: str) -> None:
        for kind in kinds:
            self._active.pop(kind, None)

    def _failed(self, sensor: str, kind: str, message: str, stop: bool = False) -> bool:
        """``sensor`` cannot be read: each distinct failure is signalled (returns True); a good read clears it."""
        if self._active.get(sensor) == message:
            return False
        self._active[sensor] = message
        self._signal(kind, message, stop)
        return True

    def _signal(self, kind: str, message: str, stop: bool) -> None:
        """Tell the officer, log it, and stop the recording if asked (once)."""
        action = "stop" if stop and self.stop_reason is None else "none"
        self.alarms.signal(Alarm(kind, message))
        self._log("alarm", {"kind": kind, "message": message, "action": action})
        if action == "stop":
            self.stop_reason = message
            self._stop_recording(message)

    def _log(self, kind: str, data: dict) -> None:
        try:
            self.events.append(kind, data)
        except (OSError, ValueError) as exc:  # the alarm has reached the officer; say the log could not keep it
            self.alarms.signal(Alarm("sensor_failed", f"the event log cannot be written: {exc}"))


@contextlib.contextmanager
def watched(context: DeviceContext, stop: Callable[[str], None], alarms: AlarmSink | None = None,
            overlay: OverlayStatus | None = None) -> Iterator[Watcher]:
    """Self-test before recording, then a running :class:`Watcher`; raises CannotRecord on a failed check.

    ``watcher.notes`` lists the warnings, to be shown before recording starts. ``overlay`` gets
    the clock's verdict and, from each poll, the GNSS position.
    """
    with open_hardware(context, with_devices=False) as hardware:
        report = run_selftest(context, hardware, when="before recording")
        problem = log_report(context.events, report)
        if report.exit_code == 2:
            raise CannotRecord("cannot record: " + "; ".join(f"{c.name} {c.value}" for c in report.checks
                                                           if c.status == FAIL))
        if overlay is not None:
            overlay.update(clock_trusted=report.clock.trusted)
        with Watcher(context, hardware, alarms or ConsoleAlarms(), stop, overlay=overlay) as watcher:
            if watcher.stop_reason:        # the first round found the card full (or gone): no session at all
                raise CannotRecord(f"cannot record: {watcher.stop_reason.partition(': recording stops')[0]}.")
            watcher.clock = report.clock
            watcher.notes = [f"{c.status} {c.name}: {c.value}" for c in report.checks if c.status != PASS]
            watcher.notes += [problem] if problem else []
            yield watcher
