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
from evidence.verify import add_verify_command
from firmware import config as configuration, words, writer
from firmware.context import DeviceContext, load_context
from firmware.version import __version__
from firmware.words import _

log = logging.getLogger(__name__)


def main(argv: Sequence[str] | None = None) -> int:
    words.install()
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


def _completion_script(parser: argparse.ArgumentParser, shell: str) -> str:
    import shtab

    return shtab.complete(parser, shell)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bodycam", description=_("Body-worn recorder."))
    parser.add_argument("--version", action="version", version=f"bodycam {__version__}",
                        help=_("show the version and exit"))
    parser.add_argument("-v", "--verbose", action="store_true",
                        help=_("log INFO lines and show tracebacks on stderr (also BODYCAM_DEBUG=1)"))
    commands = parser.add_subparsers(dest="command", required=True)
    # The options every command on the device's data shares (argparse parent parsers).
    configured = argparse.ArgumentParser(add_help=False)
    configured.add_argument("--config", type=Path, help=_("configuration file (TOML) laid over the embedded default"))
    on_data = argparse.ArgumentParser(add_help=False, parents=[configured])
    on_data.add_argument("--data-dir", type=Path, help=_("the device's data directory (overrides device.data_dir)"))

    record = commands.add_parser("record", parents=[on_data], help=_("record audio and video into the spool"))
    record.add_argument("--seconds", type=float, help=_("stop after this much footage (default: until Ctrl-C)"))
    record.add_argument("--source", help=_("camera: simulated:, v4l2:/dev/video0, file:PATH, picamera2:"))
    record.add_argument("--mic", help=_("microphone: simulated:, alsa:DEVICE, pulse:DEVICE, or none"))
    record.set_defaults(run=_record)

    provision = commands.add_parser("provision", parents=[on_data],
                                    help=_("create the device key and write its identity record"))
    provision.add_argument("--serial", help=_("product serial: 7 letters or digits"))
    provision.add_argument("--police-number", help=_("the officer's police number: 6 digits"))
    provision.add_argument("--name", help=_("the officer's name: up to 32 characters"))
    provision.add_argument("--unit-number", help=_("the unit's number: 12 digits"))
    provision.add_argument("--unit-name", help=_("the unit's name: up to 32 characters"))
    provision.set_defaults(run=_provision)

    add_verify_command(commands, _("check recordings against their signed seals"),
                       _("a spool, a session folder or a dock archive"))

    inspect = commands.add_parser("inspect", parents=[on_data], help=_("list the sessions and segments on a spool"))
    inspect.set_defaults(run=_inspect)

    selftest = commands.add_parser("selftest", parents=[configured],
                                   help=_("check battery, storage, clock, GNSS, camera, microphone, key"))
    selftest.add_argument("--json", action="store_true", help=_("print the report as JSON"))
    selftest.set_defaults(run=_selftest)

    run = commands.add_parser("run", parents=[on_data],
                              help=_("the device service: self-test, standby, record on the button"))
    run.set_defaults(run=_run)

    press = commands.add_parser("press", parents=[on_data],
                                help=_("press a button of a running `bodycam run` (simulated GPIO)"))
    press.add_argument("button", choices=["record", "record-hold", "marker", "power-hold", "dock", "undock"])
    press.add_argument("--reason", help=_("with record-hold: the stop reason, e.g. end_of_enforcement, weather"))
    press.add_argument("--label", help=_("with marker: a short label for the marker"))
    press.set_defaults(run=_press)

    status = commands.add_parser("status", parents=[on_data], help=_("the state of a running `bodycam run`, as JSON"))
    status.set_defaults(run=_press, button="status", reason=None, label=None)

    snapshot = commands.add_parser("snapshot", help=_("save one decoded frame of a segment as a PNG picture"))
    snapshot.add_argument("segment", type=Path, help=_("a segment file, seg-NNNNNN.mp4"))
    snapshot.add_argument("--at", type=float, default=0.0,
                          help=_("seconds into the segment (default: its first frame)"))
    snapshot.add_argument("--out", type=Path, help=_("the PNG to write (default: beside the segment's folder)"))
    snapshot.set_defaults(run=_snapshot)

    serve = commands.add_parser("serve", parents=[on_data],
                                help=_("offer the sealed recordings to an enrolled dock on a serial port"))
    serve.add_argument("--port", required=True, help=_("serial port: /dev/ttyGS0, a pty or any pyserial URL"))
    serve.set_defaults(run=_serve)

    enroll = commands.add_parser("enroll", parents=[on_data], help=_("enrol a dock on this device (administrator)"))
    enroll.add_argument("--dock-key", required=True, help=_("the dock's public key (dock.pub)"))
    enroll.add_argument("--agency-key", help=_("the agency's X25519 public key (PEM): new sessions are encrypted "
                                              "with a content key wrapped for it"))
    enroll.set_defaults(run=_enroll)

    show = commands.add_parser("config", help=_("print the embedded default configuration, every key explained"))
    show.set_defaults(run=lambda args: print(configuration.default_text(), end="") or 0)
    completion = commands.add_parser("completion", help=_("print the shell's completion script (shtab): e.g. "
                                                        "bodycam completion bash > /etc/bash_completion.d/bodycam"))
    completion.add_argument("shell", choices=("bash", "zsh", "tcsh"))
    completion.set_defaults(run=lambda args: print(_completion_script(parser, args.shell)) or 0)
    return parser


def _context(args: argparse.Namespace, overrides: dict[str, dict] | None = None) -> DeviceContext:
    """The process's one device context: ``--config`` over the default, then ``--data-dir``."""
    return load_context(args.config, args.data_dir, overrides)


def _record(args: argparse.Namespace) -> int:
    from firmware.session import open_recorder
    from firmware.watch import watched
    from overlay.status import OverlayStatus

    if args.seconds is not None and not (math.isfinite(args.seconds) and args.seconds > 0):
        raise configuration.ConfigError("--seconds must be a positive number of seconds.")
    overrides: dict = {}
    if args.source:
        overrides.setdefault("sources", {})["camera"] = args.source
    if args.mic and args.mic != "none":
        overrides.setdefault("sources", {})["microphone"] = args.mic
    context = _context(args, overrides)
    writer.acquire(context.data_dir)     # for the process's life: before anything is written
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
    with watched(context, stop_for, overlay=overlay) as watcher, \
            open_recorder(context, with_microphone=args.mic != "none", overlay_status=overlay,
                          clock_status=watcher.clock.as_record) as recorder:
        for line in watcher.notes + recorder.notes + recorder.describe():
            print(line)
        progress = recorder.run(args.seconds, stop, _show_progress)
    _clear_line()
    print(_summary(progress))
    return 1 if progress.error else 0


def _selftest(args: argparse.Namespace) -> int:
    import json

    from firmware.selftest import log_report, open_hardware, run_selftest

    context = load_context(args.config)
    with open_hardware(context) as hardware:
        report = run_selftest(context, hardware)
    problem = log_report(context.events, report)
    print(json.dumps(report.as_json(), ensure_ascii=False, indent=1) if args.json else report.table())
    if problem:
        print(f"bodycam: {problem}", file=sys.stderr)
    return report.exit_code


def _run(args: argparse.Namespace) -> int:
    from firmware.service import Service

    context = _context(args)
    writer.acquire(context.data_dir)
    service = Service(context, echo=lambda line: print(line, flush=True))
    for signum in (signal.SIGINT, signal.SIGTERM):
        # Only an assignment here: the service thread notices it on its next tick.
        signal.signal(signum, lambda number, _: setattr(service, "stop_requested", signal.Signals(number).name))
    return service.run()


def _press(args: argparse.Namespace) -> int:
    import json

    from firmware.control import request

    message = {"press": args.button, "reason": args.reason, "label": args.label}
    reply = request(_context(args).data_dir.control_socket, {k: v for k, v in message.items() if v is not None})
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


def _provision(args: argparse.Namespace) -> int:
    from capture.sealing import close_cut_sessions
    from firmware import provision

    context = _context(args)
    data_dir = context.data_dir
    values = provision.from_config(context.config)
    writer.acquire(data_dir)
    old = provision.load_identity(data_dir) if provision.has_identity(data_dir) else None
    if old:
        values.update({key: old[key] for key in provision.FIELDS})
    given = {"device": args.serial, "police_number": args.police_number, "officer": args.name,
             "unit_number": args.unit_number, "unit": args.unit_name}
    values.update({key: value for key, value in given.items() if value is not None})
    signer, identity = provision.provision(context, values, close_cut_sessions)
    print(f"device {identity['device']} provisioned: key {signer.key_id} (public key in {data_dir.public_key})")
    print(f"officer {identity['police_number']} {identity['officer']}, unit {identity['unit_number']} {identity['unit']}")
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from firmware.inspect import describe_spool

    print("\n".join(describe_spool(_context(args).data_dir)))
    return 0


def _serve(args: argparse.Namespace) -> int:
    from firmware.offload import serve

    context = _context(args)
    writer.acquire(context.data_dir)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    docks = len(list(context.data_dir.docks.glob('*.pub')))
    print(f"serving {context.data_dir.root} on {args.port} at {context.dock.baudrate} baud to {docks} enrolled "
          f"dock(s)", flush=True)
    stats = serve(context, args.port, stop=stop)
    print(f"served {stats.sessions} session(s): {len(stats.receipts)} receipts, {len(stats.refused)} refusals")
    return 0


def _enroll(args: argparse.Namespace) -> int:
    from evidence.keys import add_key, key_text

    data_dir = _context(args).data_dir
    print(f"dock {add_key(data_dir.docks, key_text(args.dock_key))} enrolled on {data_dir.root}")
    if args.agency_key:
        from evidence.encryption import enrol_agency_key

        print(f"agency key {enrol_agency_key(data_dir.device, key_text(args.agency_key))} enrolled on "
              f"{data_dir.root}: new sessions are encrypted for it")
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
