"""The ``bodycam-station`` command line: the dock PC's commands."""
from __future__ import annotations

import argparse
import logging
import sys
import time
from importlib import metadata
from typing import Sequence

from bodycam_errors import BodycamError, console_logging
from evidence.keys import add_key, key_text
from evidence.paths import ArchiveDir
from evidence.verify import add_verify_command
from station import config as station_config
from station.commands import (
    access as access_commands,
    agency as agency_commands,
    audit as audit_commands,
    catalogue as catalogue_commands,
    dock as dock_commands,
    options,
    report as report_commands,
    store as store_commands,
    supervision as supervision_commands,
    witness as witness_commands,
)
from station.commands.progress import add_progress, meter
from station.config import StationConfigError
from station.web import cli as web
from station.words import messages
from station.words.messages import _
from sync.dock import PullReport

log = logging.getLogger(__name__)


def main(argv: Sequence[str] | None = None) -> int:
    messages.install()
    try:
        config = station_config.load(options.config_option(argparse.ArgumentParser(add_help=False))
                                     .parse_known_args(argv)[0].config)
    except StationConfigError as exc:
        print(f"bodycam-station: {exc}", file=sys.stderr)
        return 2
    args = _parser(config).parse_args(argv)
    console_logging("bodycam-station", args.verbose)
    if (garbled := options.not_utf8(args)) is not None:
        print(f"bodycam-station: {garbled}", file=sys.stderr)
        return 1
    try:
        return args.run(args)
    except (BodycamError, OSError) as exc:     # one sentence, no traceback
        log.info("the command failed", exc_info=True)       # the traceback, when debugging
        print(f"bodycam-station: {exc}", file=sys.stderr)
        return 1


def _parser(config: station_config.StationConfig) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bodycam-station", description=_("The dock station: pull, archive, verify."),
                                     parents=[options.config_option(argparse.ArgumentParser(add_help=False))])
    parser.add_argument("--version", action="version", version=f"bodycam-station {_version()}",
                        help=_("show the version and exit"))
    parser.add_argument("-v", "--verbose", action="store_true",
                        help=_("log INFO lines and show tracebacks on stderr (also BODYCAM_DEBUG=1)"))
    commands = parser.add_subparsers(dest="command", required=True)
    shared = options.shared(config)
    _archive_commands(commands, shared, config)
    _config_command(commands, config)
    agency_commands.register(commands)
    catalogue_commands.register(commands, shared)
    access_commands.register(commands, shared)
    audit_commands.register(commands, shared)
    witness_commands.register(commands, shared)
    store_commands.register(commands, shared, config)
    dock_commands.register(commands, shared)
    supervision_commands.register(commands, shared)
    report_commands.register(commands, shared)
    web.register(commands, shared.web)
    completion = commands.add_parser("completion", help=_("print the shell's completion script (shtab): e.g. "
                                                          "bodycam-station completion bash > "
                                                          "/etc/bash_completion.d/bodycam-station"))
    completion.add_argument("shell", choices=("bash", "zsh", "tcsh"))
    completion.set_defaults(run=lambda args: print(_completion_script(parser, args.shell)) or 0)
    return parser


def _completion_script(parser: argparse.ArgumentParser, shell: str) -> str:
    import shtab

    return shtab.complete(parser, shell)


def _version() -> str:
    """The installed distribution's version (setup.py takes it from firmware/version.py)."""
    try:
        return metadata.version("bodycam")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _config_command(commands: argparse._SubParsersAction, config: station_config.StationConfig) -> None:
    show = commands.add_parser("config", parents=[options.config_option(argparse.ArgumentParser(add_help=False))],
                               help=_("print the station's effective configuration, every key explained "
                                    "(passwords masked)"))
    show.set_defaults(run=lambda args: print(station_config.describe(config), end="") or 0)


def _archive_commands(commands: argparse._SubParsersAction, shared: options.Shared,
                      config: station_config.StationConfig) -> None:
    """The archive's own commands; each other area of the station adds its commands beside these."""

    init = commands.add_parser("init", help=_("create the dock's key once; enrol devices on it"),
                               parents=[shared.archive])
    init.add_argument("--device-key", action="append", default=[], help=_("a device's public key (device.pub)"))
    init.set_defaults(run=_init)

    enroll = commands.add_parser("enroll", help=_("enrol a device on this dock (administrator or custodian)"),
                                 parents=[shared.actor])
    enroll.add_argument("--device-key", required=True, help=_("the device's public key (device.pub)"))
    enroll.set_defaults(run=_enroll)

    pull = commands.add_parser("pull", help=_("pull, verify and archive everything a device offers, then receipt it"),
                               parents=[shared.station, shared.line])
    pull.add_argument("--port", required=True, help=_("serial port: /dev/ttyACM0, a pty or any pyserial URL"))
    pull.set_defaults(run=_pull)

    add_verify_command(commands, _("check archived footage against its signed seals, and name the dockings "
                                   "refused for a rewound or forked chain"),
                       _("the archive, or folders in it (default: 'archive' in the configuration file)"),
                       [config.archive] if config.archive else None,
                       [options.config_option(argparse.ArgumentParser(add_help=False))],
                       ).set_defaults(run=_verify, station_config=config)
    add_progress(commands.choices["verify"])
    commands.choices["verify"].set_defaults(zone=config.zone)
    commands.choices["verify"].add_argument(
        "--catalogue", default=config.catalogue,
        help=_("database URL of a shared station database, for the refused dockings (default: in the archive)"))


def _init(args: argparse.Namespace) -> int:
    from station.services import dock_init

    signer = dock_init(args.archive, [key_text(k) for k in args.device_key])
    folder = ArchiveDir(args.archive)
    print(_("dock key {key} (public key in {path}); {count} device(s) enrolled").format(
        key=signer.key_id, path=folder.public_key, count=len(list(folder.devices.glob("*.pub")))))
    return 0


def _enroll(args: argparse.Namespace) -> int:
    desk, user = access_commands.gate(args, "devices", "enroll")
    device = add_key(ArchiveDir(args.archive).devices, key_text(args.device_key))
    desk.trail.record(user.name if user else None, "enroll", role=user.role if user else None,
                      detail={"device_key": device})
    print(_("device {device} enrolled on {archive}").format(device=device, archive=args.archive))
    return 0


def _pull(args: argparse.Namespace) -> int:
    from station.services import pull

    began, shown = time.monotonic(), [-1]

    def progress(files: int, nbytes: int) -> None:
        rate = nbytes / max(time.monotonic() - began, 1e-3) / 1e6
        line = f"files {files}  {nbytes / 1e6:.2f} MB  {rate:.2f} MB/s"
        if sys.stdout.isatty():
            print(f"\r{line}", end="", flush=True)
        elif files != shown[0]:          # not a terminal: a line per file archived
            shown[0] = files
            print(line, flush=True)

    report = pull(args.archive, args.port, url=args.catalogue, progress=progress, baudrate=args.baud)
    if sys.stdout.isatty():
        print()
    print("\n".join(summary(report)))
    return 0 if not report.failed else 1


def summary(report: PullReport) -> list[str]:
    rate = report.bytes / max(report.seconds, 1e-3) / 1e6
    offset = "not set" if report.clock_offset_ns is None else f"{report.clock_offset_ns / 1e9:+.3f} s (device - dock)"
    lines = [f"archived {len(report.items)} files, {report.bytes} bytes in {report.seconds:.1f} s ({rate:.2f} MB/s)",
             f"  device clock  {offset}",
             f"  event log     {sum(item.startswith('events/') for item in report.items)} file(s), chain checked",
             f"  link          {report.sessions} session(s), {report.drops} dropped, {len(report.resumed)} resumed"]
    lines += [f"  REFUSED {item}: {why}" for item, why in report.failed.items()]
    return lines


def _verify(args: argparse.Namespace) -> int:
    """The archive's footage against its seals, then the dockings the witness refused: an open
    one fails the check, one a supervisor acknowledged is named but does not. A station's
    archive also gets its sessions' stored verdicts renewed (the review page shows those):
    a timer running this is the scheduled check."""
    from evidence.verify import run_verify
    from station.intake.witness import Witness
    from station.services import has_database, open_database, recheck, store_settings, stored_elsewhere

    store = store_settings(args.station_config)
    status = run_verify(args.paths, args.key, args.json, stored_elsewhere(args.paths, args.catalogue, store),
                        meter(args, _("verifying")))
    for archive in [path for path in args.paths if has_database(path, args.catalogue)]:
        recheck(archive, args.catalogue, store)
        for refusal in Witness(open_database(archive, args.catalogue)).refusals():
            print(witness_commands.describe(refusal, archive, args.zone), file=sys.stderr if args.json else sys.stdout)
            status = status or int(refusal["acknowledged_by"] is None)
    return status
