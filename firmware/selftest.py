"""Self-checks at power-on and before every recording: is this device fit to record?

Each check gives PASS, WARN or FAIL with what it measured and the limit it was held to.
The policy: a device that can record, records. Only what makes recording impossible
fails (no camera, unwritable or full storage, a battery below the shutdown level); an
untrusted clock, low storage or a missing GNSS fix is a warning carried into the footage.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bodycam_errors import BodycamError
from bodycam_threads import OwnedThread, ZombieThread
from evidence.keys import FileSigner
from evidence.paths import DataDir
from firmware.config import Config
from firmware.context import DeviceContext
from firmware.eventlog import EventLog
from firmware.offload import not_offloaded
from firmware.provision import has_identity, load_identity
from firmware.version import BUILD_DATE
from hw.battery import Battery, BatteryReading
from hw.camera import Camera
from hw.clock import Rtc, kernel_sync
from hw.gnss import Gnss
from hw.microphone import Microphone
from hw.sources import open_battery, open_camera, open_gnss, open_microphone, open_rtc
from hw.storage import Storage

PASS, WARN, FAIL = "PASS", "WARN", "FAIL"
EXIT_CODES = {PASS: 0, WARN: 1, FAIL: 2}
# The dock link touches this file in the data directory right after it sets the clock.
# fMP4 boxes, index and event log on top of the encoders' bitrates.
CONTAINER_OVERHEAD = 1.05
DEVICE_TIMEOUT_SECONDS = 2.0
GNSS_WAIT_SECONDS = 1.5


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    value: str  # what was measured, as the officer reads it
    limit: str
    source: str = ""  # the adapter that was read
    simulated: bool = False


@dataclass(frozen=True)
class ClockVerdict:
    trusted: bool
    reason: str

    def as_record(self) -> dict[str, str]:
        """The clock's status as every signed record carries it (docs/evidence-format.md)."""
        return {"status": "trusted" if self.trusted else "untrusted", "reason": self.reason}


@dataclass
class Report:
    when: str  # "power-on" or "before recording"
    checks: list[Check]
    clock: ClockVerdict
    seconds: float
    unverified_text: str = ""  # what the overlay writes beside the time of an unverified clock

    @property
    def status(self) -> str:
        return max((c.status for c in self.checks), key=EXIT_CODES.__getitem__, default=PASS)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    def clock_line(self) -> str:
        """The clock's verdict and what the picture shows because of it."""
        if self.clock.trusted:
            return f"clock: verified ({self.clock.reason}); the picture shows the time"
        if any(c.name == "clock.plausible" and c.status != PASS for c in self.checks):
            return (f"clock: WRONG ({self.clock.reason}); the picture shows CLOCK NOT SET "
                    "instead of the time until the clock is set")
        return (f"clock: UNVERIFIED ({self.clock.reason}); the picture shows the time marked "
                f"'{self.unverified_text}'")

    def simulated(self) -> list[str]:
        """The checks that read a simulated adapter."""
        return [c.name for c in self.checks if c.simulated]

    def as_json(self) -> dict[str, Any]:
        return {"when": self.when, "result": self.status, "exit_code": self.exit_code,
                "clock": dataclasses.asdict(self.clock), "duration_ms": round(self.seconds * 1000),
                "simulated": self.simulated(), "checks": [dataclasses.asdict(c) for c in self.checks]}

    def table(self) -> str:
        widths = [max(len(c.name) for c in self.checks), 4, max(len(c.value) for c in self.checks) + 2]
        lines = [f"bodycam self-test ({self.when}), {datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S} UTC",
                 f"{'CHECK':<{widths[0]}}  RESULT  {'MEASURED':<{widths[2]}}LIMIT"]
        for c in self.checks:
            value = c.value + (" *" if c.simulated else "")
            lines.append(f"{c.name:<{widths[0]}}  {c.status:<6}  {value:<{widths[2]}}{c.limit}")
        if self.simulated():
            lines.append("* simulated (no real device found): " + ", ".join(self.simulated()))
        lines.append(self.clock_line())
        verdict = {PASS: "fit to record", WARN: "can record; the warnings are carried into the footage",
                   FAIL: "cannot record: " + "; ".join(f"{c.name} {c.value}" for c in self.checks if c.status == FAIL)}
        lines.append(f"result: {self.status}: {verdict[self.status]} ({self.seconds * 1000:.0f} ms)")
        return "\n".join(lines)


@dataclass
class Hardware:
    """The adapters the checks read; one that could not be opened is kept as its error, to be reported."""

    main: Battery | OSError
    backup: Battery | OSError
    storage: Storage
    rtc: Rtc | OSError
    gnss: Gnss | None | OSError
    camera: Camera | OSError | None = None  # None: not checked here (the recorder opens it)
    microphone: Microphone | OSError | None = None


def _opening(stack: contextlib.ExitStack, open_: Callable[[], Any]) -> Any:
    try:
        adapter = open_()
    except OSError as exc:  # HardwareError: reported by its check
        return exc
    if adapter is not None:
        stack.callback(adapter.close)
    return adapter


@contextlib.contextmanager
def open_hardware(context: DeviceContext, with_devices: bool = True) -> Iterator[Hardware]:
    """Open the configured battery, storage, clock and GNSS adapters (and camera and microphone); close all on exit."""
    config = context.config
    battery, video, audio = config["battery"], config["video"], config["audio"]
    with contextlib.ExitStack() as stack:
        hardware = Hardware(
            main=_opening(stack, lambda: open_battery(battery["main"], 0, battery["full_minutes"])),
            backup=_opening(stack, lambda: open_battery(battery["backup"], 1, battery["full_minutes"])),
            storage=Storage(context.data_dir.root, config["storage"]["card_mount"] or None),
            rtc=_opening(stack, lambda: open_rtc(config["clock"]["rtc"])),
            gnss=_opening(stack, lambda: open_gnss(config["gnss"]["port"], config["gnss"]["baudrate"])))
        if with_devices:
            hardware.camera = _opening(stack, lambda: open_camera(config["sources"]["camera"], video["width"],
                                                                  video["height"], video["fps"]))
            hardware.microphone = _opening(stack, lambda: open_microphone(config["sources"]["microphone"],
                                                                          audio["sample_rate"], audio["channels"]))
        yield hardware


def run_selftest(context: DeviceContext, hardware: Hardware, when: str = "power-on") -> Report:
    """Every check, in the order the table shows them."""
    started = time.perf_counter()
    config, data_dir = context.config, context.data_dir
    checks = [battery_check("battery.main", hardware.main, config),
              battery_check("battery.backup", hardware.backup, config, backup=True),
              *storage_checks(hardware.storage, context),
              *clock_checks(hardware.rtc, hardware.gnss, context),
              gnss_check(hardware.gnss)]
    if hardware.camera is not None:
        checks.append(camera_check(hardware.camera))
    if hardware.microphone is not None:
        checks.append(microphone_check(hardware.microphone))
    checks.append(key_check(data_dir))
    checks.append(identity_check(data_dir))
    return Report(when, checks, clock_verdict(checks), time.perf_counter() - started,
                  config["overlay"]["unverified_text"])


def log_report(events: EventLog, report: Report) -> str | None:
    """Write the report into the event log; returns why not when it cannot be (unwritable storage)."""
    try:
        events.append("selftest", report.as_json())
    except (OSError, ValueError) as exc:
        return f"the self-test could not be written to the event log: {exc}"
    return None


def minutes_left(reading: BatteryReading, config: Config) -> float | None:
    """The gauge's own figure, else the configured runtime scaled by the charge; None while charging."""
    if reading.minutes_left is not None or reading.status in ("Charging", "Full"):
        return reading.minutes_left
    return reading.percent / 100 * config["battery"]["full_minutes"]


def battery_check(name: str, battery: Battery | OSError, config: Config, backup: bool = False) -> Check:
    limits = config["battery"]
    shutdown, low = limits["shutdown_percent"], limits["low_alarm_minutes"]
    limit = f"> {shutdown} %" if backup else f"> {shutdown} % to record, > {low} min"
    if isinstance(battery, OSError):
        return Check(name, WARN, f"not found: {battery}", limit)
    try:
        reading = battery.read()
    except OSError as exc:
        return Check(name, WARN, f"not found: {exc}", limit, battery.description, battery.simulated)
    minutes = minutes_left(reading, config)
    value = f"{reading.percent:.0f} %" + (f", {minutes:.0f} min left" if minutes is not None else "")
    value += f", {reading.voltage:.2f} V" if reading.voltage is not None else ""
    value += f", {reading.status.lower()}" if reading.status != "Discharging" else ""
    # Only the main battery refuses a recording; one this low would raise its alarm at once.
    if reading.percent <= shutdown:
        status = WARN if backup else FAIL
    elif not backup and minutes is not None and minutes <= low:
        status = WARN
    else:
        status = PASS
    return Check(name, status, value, limit, battery.description, battery.simulated)


def bytes_per_second(config: Config) -> float:
    """What recording writes, at the configured bitrates."""
    return (config["video"]["bitrate_kbps"] + config["audio"]["bitrate_kbps"]) * 1000 / 8 * CONTAINER_OVERHEAD


def storage_checks(storage: Storage, context: DeviceContext) -> list[Check]:
    config = context.config
    limits, source = config["storage"], storage.description
    try:
        reading = storage.read()
    except OSError as exc:
        return [Check("storage.present", FAIL, f"unreadable: {exc}", "a mounted filesystem", source)]
    if not reading.present:
        return [Check("storage.present", FAIL, "memory card missing", f"mounted at {storage.card_mount}", source)]
    checks = [Check("storage.present", PASS, f"{reading.total_bytes / 1e9:.1f} GB filesystem", "mounted", source)]
    try:
        latency = None if reading.read_only else storage.probe()
        checks.append(Check("storage.writable", PASS if latency is not None else FAIL,
                            "yes" if latency is not None else "no: mounted read-only", "writable", source))
    except OSError as exc:
        latency = None
        checks.append(Check("storage.writable", FAIL, f"no: {exc}", "writable", source))
    if latency is not None:
        checks.append(Check("storage.probe", PASS if latency * 1000 <= limits["max_probe_ms"] else WARN,
                            f"{latency * 1000:.1f} ms write+fsync", f"<= {limits['max_probe_ms']} ms", source))
    rate = bytes_per_second(config)
    reserve = limits["reserve_seconds"] * rate
    hours = max(0.0, reading.free_bytes - reserve) / rate / 3600
    status = FAIL if reading.free_bytes <= reserve else WARN if hours < limits["shift_hours"] else PASS
    checks.append(Check("storage.free", status, f"{reading.free_bytes / 1e9:.2f} GB = {hours:.1f} h of recording",
                        f">= {limits['shift_hours']} h at {rate * 8 / 1e6:.2f} Mbit/s", source))
    sessions, pending = not_offloaded(context)
    checks.append(Check("storage.offload", PASS, f"{sessions} sessions, {pending / 1e6:.1f} MB not yet offloaded",
                        "offload daily", source))
    return checks


def clock_checks(rtc: Rtc | OSError, gnss: Gnss | None | OSError, context: DeviceContext,
                 now: float | None = None) -> list[Check]:
    """The system clock (``now``) against the build date, the RTC, the kernel, the GNSS and the dock's time-set."""
    config = context.config
    drift = config["clock"]["max_drift_seconds"]
    now = time.time() if now is None else now
    build = datetime.fromisoformat(BUILD_DATE).replace(tzinfo=timezone.utc)
    shown = datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    plausible = now >= build.timestamp()
    checks = [Check("clock.plausible", PASS if plausible else WARN,
                    shown if plausible else f"{shown}: CLOCK NOT SET on the picture",
                    f"not before the firmware build {BUILD_DATE}")]
    rtc_limit = f"|RTC - system| <= {drift} s"
    if isinstance(rtc, OSError):
        checks.append(Check("clock.rtc", WARN, f"not found: {rtc}", rtc_limit))
    else:
        try:
            # The RTC counts whole seconds: compare with the system time truncated alike.
            delta = rtc.read() - math.floor(now)
            checks.append(Check("clock.rtc", PASS if abs(delta) <= drift else WARN,
                                f"{'agrees' if abs(delta) <= drift else 'differs'}: {delta:+.0f} s", rtc_limit,
                                rtc.description, rtc.simulated))
        except OSError as exc:
            checks.append(Check("clock.rtc", WARN, f"unreadable: {exc}", rtc_limit, rtc.description, rtc.simulated))
    checks.append(_time_source(gnss, config, context.data_dir, now))
    return checks


def _time_source(gnss: Gnss | None | OSError, config: Config, data_dir: DataDir, now: float) -> Check:
    drift, max_hours = config["clock"]["max_drift_seconds"], config["clock"]["max_hours_since_set"]
    limit = f"kernel sync, GNSS within {drift} s or dock set within {max_hours} h"
    # A real receiver's time is a witness; a simulated one only echoes the system clock.
    gnss_delta = None
    if isinstance(gnss, Gnss) and not gnss.simulated and gnss.fix:
        state = gnss.state()
        gnss_delta = state.received_wall_ns / 1e9 - state.utc.timestamp()
        if abs(gnss_delta) > drift:
            return Check("clock.source", WARN, f"GNSS time differs by {gnss_delta:+.1f} s", limit, gnss.description)
    try:
        sync = kernel_sync()
    except OSError:
        sync = None
    if sync is not None and sync.synchronised:
        return Check("clock.source", PASS, f"kernel synchronised (max error {sync.max_error_us / 1000:.0f} ms)", limit)
    if gnss_delta is not None:
        return Check("clock.source", PASS, f"GNSS time agrees: {gnss_delta:+.1f} s", limit, gnss.description)
    try:
        hours = (now - data_dir.clock_set.stat().st_mtime) / 3600
    except OSError:
        hours = None
    if hours is not None and 0 <= hours <= max_hours:
        return Check("clock.source", PASS, f"set by the dock {hours:.1f} h ago", limit)
    set_by_dock = "never set by the dock" if hours is None else f"set by the dock {hours:.0f} h ago"
    return Check("clock.source", WARN, f"none: kernel not synchronised, no GNSS time, {set_by_dock}", limit)


def clock_verdict(checks: list[Check]) -> ClockVerdict:
    """Trusted when every clock check passes; else the first reason it is not."""
    clock = [c for c in checks if c.name.startswith("clock.")]
    for check in clock:
        if check.status != PASS:
            return ClockVerdict(False, f"{check.name}: {check.value}")
    source = next((c.value for c in clock if c.name == "clock.source"), "no source checked")
    return ClockVerdict(True, source)


def gnss_check(gnss: Gnss | None | OSError, wait: float = GNSS_WAIT_SECONDS) -> Check:
    limit = "a fix (place stamp)"
    if gnss is None:
        return Check("gnss", WARN, "no receiver fitted (gnss.port = none)", limit)
    if isinstance(gnss, OSError):
        return Check("gnss", WARN, f"not found: {gnss}", limit)
    # A receiver sends RMC and GGA once a second: give a port just opened time for both.
    deadline = time.monotonic() + wait
    while not gnss.fix and gnss.state().sentences < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    state, position = gnss.state(), gnss.position()
    if position is not None:
        value = f"fix {position}" + (f", {position.satellites} satellites" if position.satellites else "")
        return Check("gnss", PASS, value, limit, gnss.description, gnss.simulated)
    heard = f"{state.sentences} sentences, {state.malformed} malformed" if state.sentences or state.malformed \
        else "no NMEA data"
    return Check("gnss", WARN, f"no fix ({heard})", limit, gnss.description, gnss.simulated)


def _within(seconds: float, read: Callable[[], Any]) -> Any:
    """``read()`` on a helper thread, so that a hung device cannot hang the self-test. A read
    that hangs cannot be interrupted: its thread is left to the device, and the check fails."""
    result: list[Any] = []
    worker = OwnedThread(lambda: result.append(read()), "selftest-read")
    worker.start()
    try:
        worker.join(seconds)
    except ZombieThread:
        raise TimeoutError(f"nothing within {seconds:.0f} s") from None
    if worker.error is not None:
        raise worker.error  # reported by the caller as the device's failure
    return result[0]


def camera_check(camera: Camera | OSError) -> Check:
    if isinstance(camera, OSError):
        return Check("camera", FAIL, f"not found: {camera}", "delivers a frame")
    limit = f"a {camera.width}x{camera.height} frame within {DEVICE_TIMEOUT_SECONDS:.0f} s"
    started = time.perf_counter()
    try:
        frame = _within(DEVICE_TIMEOUT_SECONDS, camera.read)
    except Exception as exc:  # whatever stops the camera delivering is its failure
        return Check("camera", FAIL, f"no frame: {exc}", limit, camera.description, camera.simulated)
    shape_ok = frame.image.shape == (camera.height * 3 // 2, camera.width)
    value = f"frame in {(time.perf_counter() - started) * 1000:.0f} ms" if shape_ok else f"bad frame {frame.image.shape}"
    return Check("camera", PASS if shape_ok else FAIL, value, limit, camera.description, camera.simulated)


def microphone_check(microphone: Microphone | OSError) -> Check:
    limit = "samples within 2 s"
    if isinstance(microphone, OSError):
        return Check("microphone", WARN, f"not found: {microphone}", limit)
    try:
        chunk = _within(DEVICE_TIMEOUT_SECONDS, microphone.read)
    except Exception as exc:  # whatever stops the microphone delivering is its failure
        return Check("microphone", WARN, f"no samples: {exc}", limit, microphone.description, microphone.simulated)
    peak = float(abs(chunk.samples).max()) if chunk.samples.size else 0.0
    level = f"peak {20 * math.log10(peak):.0f} dBFS" if peak > 0 else "silent"
    return Check("microphone", PASS if chunk.samples.size else WARN, f"{chunk.samples.shape[1]} samples, {level}",
                 limit, microphone.description, microphone.simulated)


def identity_check(data_dir: DataDir) -> Check:
    """The signed identity records hold against the device key and the rules; else the device
    cannot record (firmware.provision)."""
    path, limit = data_dir.identity, "signed by the device key, within the rules"
    if not has_identity(data_dir):
        return Check("identity", WARN, "not provisioned (the first recording provisions it)", limit, str(path))
    try:
        identity = load_identity(data_dir)
    except (BodycamError, OSError) as exc:
        return Check("identity", FAIL, str(exc), limit, str(path))
    return Check("identity", PASS, f"device {identity['device']}, officer {identity['police_number']}, unit "
                                   f"{identity['unit_number']}", limit, str(path))


def key_check(data_dir: DataDir) -> Check:
    """The device key (firmware.provision's) is there and its signature verifies."""
    path, limit = data_dir.key, "a device key that signs"
    if not path.exists():
        return Check("signing.key", WARN, "not provisioned (the first recording provisions it)", limit, str(path))
    try:
        signer = FileSigner(path)
        Ed25519PublicKey.from_public_bytes(signer.public_key).verify(signer.sign(b"selftest"), b"selftest")
    except Exception as exc:  # a broken key, whatever the library says: the footage cannot be sealed
        return Check("signing.key", WARN, f"does not sign: {exc}", limit, str(path))
    return Check("signing.key", PASS, f"signs (key {signer.key_id})", limit, str(path))
