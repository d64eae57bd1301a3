"""The ``bodycam`` command line."""
from __future__ import annotations

import argparse
import logging
import math
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Sequence

from bodycam_errors import BodycamError, console_logging
from evidence.paths import DataDir
from evidence.verify import add_verify_command
from firmware import config as configuration, writer
from firmware.version import __version__


log = logging.getLogger(__name__)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    console_logging("bodycam", args.verbose)
    try:
        return args.run(args)
    except configuration.ConfigError as exc:
        print(f"bodycam: {exc}", file=sys.stderr)
        return 2
    except (BodycamError, OSError) as exc:  # hardware, capture, evidence, link: one sentence, no traceback
        log.info("the command failed", exc_info=True)       # the traceback, when debugging
        print(f"bodycam: {exc}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bodycam", description="Body-worn recorder.")
    parser.add_argument("--version", action="version", version=f"bodycam {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log INFO lines and show tracebacks on stderr (also BODYCAM_DEBUG=1)")
    commands = parser.add_subparsers(dest="command", required=True)

    record = commands.add_parser("record", help="record audio and video into the spool")
    record.add_argument("--seconds", type=float, help="stop after this much footage (default: until Ctrl-C)")
    record.add_argument("--source", help="camera: simulated:, v4l2:/dev/video0, file:PATH, picamera2:")
    record.add_argument("--mic", help="microphone: simulated:, alsa:DEVICE, pulse:DEVICE, or none")
    record.add_argument("--config", type=Path, help="configuration file (TOML) laid over the default")
    record.add_argument("--data-dir", type=Path, help="where the spool is (overrides recording.data_dir)")
    record.set_defaults(run=_record)

    provision = commands.add_parser("provision", help="create the device key and write its identity record")
    provision.add_argument("--config", type=Path, help="configuration file: data_dir and default identity")
    provision.add_argument("--data-dir", type=Path, help="where the device keeps its key and spool")
    provision.add_argument("--serial", help="product serial: 7 letters or digits")
    provision.add_argument("--police-number", help="the officer's police number: 6 digits")
    provision.add_argument("--name", help="the officer's name: up to 32 characters")
    provision.add_argument("--unit-number", help="the unit's number: 12 digits")
    provision.add_argument("--unit-name", help="the unit's name: up to 32 characters")
    provision.set_defaults(run=_provision)

    add_verify_command(commands, "check recordings against their signed seals",
                       "a spool, a session folder or a dock archive")

    inspect = commands.add_parser("inspect", help="list the sessions and segments on a spool")
    inspect.add_argument("--data-dir", type=Path, help="data directory (default: from the config)")
    inspect.add_argument("--config", type=Path, help="configuration file (TOML) laid over the default")
    inspect.set_defaults(run=_inspect)

    selftest = commands.add_parser("selftest", help="check battery, storage, clock, GNSS, camera, microphone, key")
    selftest.add_argument("--json", action="store_true", help="print the report as JSON")
    selftest.add_argument("--config", type=Path, help="configuration file (TOML) laid over the default")
    selftest.set_defaults(run=_selftest)

    run = commands.add_parser("run", help="the device service: self-test, standby, record on the button")
    run.add_argument("--config", type=Path, help="configuration file (TOML) laid over the default")
    run.add_argument("--data-dir", type=Path, help="where the spool is (overrides recording.data_dir)")
    run.set_defaults(run=_run)

    press = commands.add_parser("press", help="press a button of a running `bodycam run` (simulated GPIO)")
    press.add_argument("button", choices=["record", "record-hold", "marker", "power-hold", "dock", "undock"])
    press.add_argument("--reason", help="with record-hold: the stop reason, e.g. end_of_enforcement, weather")
    press.add_argument("--label", help="with marker: a short label for the marker")
    press.add_argument("--config", type=Path, help="configuration file (TOML): its data_dir")
    press.add_argument("--data-dir", type=Path, help="the data directory of the running service")
    press.set_defaults(run=_press)

    status = commands.add_parser("status", help="the state of a running `bodycam run`, as JSON")
    status.add_argument("--config", type=Path, help="configuration file (TOML): its data_dir")
    status.add_argument("--data-dir", type=Path, help="the data directory of the running service")
    status.set_defaults(run=_press, button="status", reason=None, label=None)

    snapshot = commands.add_parser("snapshot", help="save one decoded frame of a segment as a PNG picture")
    snapshot.add_argument("segment", type=Path, help="a segment file, seg-NNNNNN.mp4")
    snapshot.add_argument("--at", type=float, default=0.0, help="seconds into the segment (default: its first frame)")
    snapshot.add_argument("--out", type=Path, help="the PNG to write (default: beside the segment's folder)")
    snapshot.set_defaults(run=_snapshot)

    serve = commands.add_parser("serve", help="offer the sealed recordings to an enrolled dock on a serial port")
    serve.add_argument("--port", required=True, help="serial port: /dev/ttyGS0, a pty or any pyserial URL")
    serve.add_argument("--config", type=Path, help="configuration file (TOML): data_dir and [dock]")
    serve.add_argument("--data-dir", type=Path, help="where the spool is (overrides recording.data_dir)")
    serve.set_defaults(run=_serve)

    enroll = commands.add_parser("enroll", help="enrol a dock on this device (administrator)")
    enroll.add_argument("--dock-key", required=True, help="the dock's public key (dock.pub)")
    enroll.add_argument("--config", type=Path, help="configuration file (TOML): its data_dir")
    enroll.add_argument("--data-dir", type=Path, help="the device's data directory")
    enroll.set_defaults(run=_enroll)

    show = commands.add_parser("config", help="print the embedded default configuration")
    show.set_defaults(run=lambda args: print(configuration.default_text(), end="") or 0)
    return parser


def _record(args: argparse.Namespace) -> int:
    from firmware.session import open_recorder
    from firmware.watch import watched
    from overlay.status import OverlayStatus

    if args.seconds is not None and not (math.isfinite(args.seconds) and args.seconds > 0):
        raise configuration.ConfigError("--seconds must be a positive number of seconds.")
    config = configuration.load(args.config)
    overrides: dict = {}
    if args.source:
        overrides.setdefault("sources", {})["camera"] = args.source
    if args.mic and args.mic != "none":
        overrides.setdefault("sources", {})["microphone"] = args.mic
    if args.data_dir:
        overrides.setdefault("recording", {})["data_dir"] = str(args.data_dir)
    config = config.with_overrides(overrides)
    writer.acquire(Path(config["recording"]["data_dir"]))     # for the process's life: before anything is written
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    recorder = None

    def stop_for(reason: str) -> None:  # the watcher's stop: sealed with its reason once a session is open
        if recorder is not None and recorder.recording:
            recorder.stop_recording(reason)
        else:
            stop.set()

    overlay = OverlayStatus()  # the clock's verdict and the GNSS position, as in `bodycam run`
    with watched(config, stop_for, overlay=overlay) as watcher, \
            open_recorder(config, with_microphone=args.mic != "none", overlay_status=overlay,
                          clock_status=watcher.clock.as_record) as recorder:
        for line in watcher.notes + recorder.notes + recorder.describe():
            print(line)
        progress = recorder.run(args.seconds, stop, _show_progress)
    _clear_line()
    print(_summary(progress))
    return 1 if progress.error else 0


def _selftest(args: argparse.Namespace) -> int:
    import json

    from firmware.eventlog import EventLog
    from firmware.selftest import log_report, open_hardware, run_selftest

    config = configuration.load(args.config)
    with open_hardware(config) as hardware:
        report = run_selftest(config, hardware)
    problem = log_report(EventLog(config["recording"]["data_dir"]), report)
    print(json.dumps(report.as_json(), ensure_ascii=False, indent=1) if args.json else report.table())
    if problem:
        print(f"bodycam: {problem}", file=sys.stderr)
    return report.exit_code


def _run(args: argparse.Namespace) -> int:
    from firmware.service import Service

    config = configuration.load(args.config)
    if args.data_dir:
        config = config.with_overrides({"recording": {"data_dir": str(args.data_dir)}})
    writer.acquire(Path(config["recording"]["data_dir"]))
    service = Service(config, echo=lambda line: print(line, flush=True))
    for signum in (signal.SIGINT, signal.SIGTERM):
        # Only an assignment here: the service thread notices it on its next tick.
        signal.signal(signum, lambda number, _: setattr(service, "stop_requested", signal.Signals(number).name))
    return service.run()


def _press(args: argparse.Namespace) -> int:
    import json

    from firmware.control import request

    message = {"press": args.button, "reason": args.reason, "label": args.label}
    reply = request(DataDir(_data_dir(args)).control_socket, {k: v for k, v in message.items() if v is not None})
    if "error" in reply:
        print(f"bodycam: {reply['error']}", file=sys.stderr)
        return 1
    print(json.dumps(reply, ensure_ascii=False))
    return 0


def _snapshot(args: argparse.Namespace) -> int:
    from firmware.inspect import snapshot

    out = args.out or Path(f"{args.segment.parent.name}-{args.segment.stem}-{args.at:g}s.png")
    print(f"{snapshot(args.segment, args.at, out)} written")
    return 0


def _data_dir(args: argparse.Namespace) -> Path:
    return args.data_dir or Path(configuration.load(args.config)["recording"]["data_dir"])


def _provision(args: argparse.Namespace) -> int:
    from capture.sealing import close_cut_sessions
    from firmware import provision

    config = configuration.load(args.config)
    values = provision.from_config(config)
    writer.acquire(_data_dir(args))
    old = provision.load_identity(_data_dir(args)) if provision.has_identity(_data_dir(args)) else None
    if old:
        values.update({key: old[key] for key in provision.FIELDS})
    given = {"device": args.serial, "police_number": args.police_number, "officer": args.name,
             "unit_number": args.unit_number, "unit": args.unit_name}
    values.update({key: value for key, value in given.items() if value is not None})
    signer, identity = provision.provision(_data_dir(args), values, close_cut_sessions)
    print(f"device {identity['device']} provisioned: key {signer.key_id} "
          f"(public key in {DataDir(_data_dir(args)).public_key})")
    print(f"officer {identity['police_number']} {identity['officer']}, unit {identity['unit_number']} {identity['unit']}")
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from firmware.inspect import describe_spool

    print("\n".join(describe_spool(_data_dir(args))))
    return 0


def _serve(args: argparse.Namespace) -> int:
    from firmware.offload import ClockPolicy, serve

    config = configuration.load(args.config)
    data_dir = args.data_dir or Path(config["recording"]["data_dir"])
    writer.acquire(data_dir)
    clock = ClockPolicy(config["dock"]["set_system_clock"], int(config["clock"]["max_drift_seconds"] * 10**9))
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    docks = len(list(DataDir(data_dir).docks.glob('*.pub')))
    print(f"serving {data_dir} on {args.port} at {config['dock']['baudrate']} baud to {docks} enrolled dock(s)",
          flush=True)
    stats = serve(data_dir, args.port, release_after_days=config["dock"]["release_after_days"], clock=clock, stop=stop,
                  baudrate=config["dock"]["baudrate"])
    print(f"served {stats.sessions} session(s): {len(stats.receipts)} receipts, {len(stats.refused)} refusals")
    return 0


def _enroll(args: argparse.Namespace) -> int:
    from evidence.keys import add_key, key_text

    data_dir = _data_dir(args)
    print(f"dock {add_key(DataDir(data_dir).docks, key_text(args.dock_key))} enrolled on {data_dir}")
    return 0


def _show_progress(progress) -> None:
    line = (f"REC {time.strftime('%H:%M:%S', time.gmtime(progress.elapsed))}  "
            f"segments {progress.segments}  frames {progress.frames}  dropped {progress.dropped}")
    if sys.stdout.isatty():
        print(f"\r{line}", end="", flush=True)
    elif int(progress.elapsed * 2) % 10 == 0:
        print(line, flush=True)


def _clear_line() -> None:
    if sys.stdout.isatty():
        print()


def _summary(progress) -> str:
    seconds = progress.audio_samples
    lines = [
        f"Recorded session {progress.session_id}: stopped ({progress.stop_reason})",
        f"  folder    {progress.folder}",
        f"  segments  {progress.segments}",
        f"  frames    {progress.frames}  dropped {progress.dropped}",
        f"  audio     {seconds} samples, {progress.audio_gaps} gaps filled with silence",
        f"  elapsed   {progress.elapsed:.1f} s",
    ]
    if progress.error:
        lines.append(f"  error     {progress.error}")
    return "\n".join(lines)
