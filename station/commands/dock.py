"""``bodycam-station dock`` (the dock service), ``bodycam-station bays`` (what each bay shows) and
``bodycam-station units`` (where the installed package keeps its systemd units, udev rule and
example station.toml)."""
from __future__ import annotations

import argparse
import json
import signal
import threading
from dataclasses import asdict
from importlib import resources

from station.commands import tables
from station.commands.options import Shared
from station.dock.bays import BayState, read_bays
from station.words import labels
from station.words.messages import N_, _, language

COLUMNS = (N_("bay"), N_("state"), N_("device"), N_("officer"), N_("files"), "MB", "MB/s", N_("left"), N_("result"))


def register(commands: argparse._SubParsersAction, shared: Shared) -> None:
    dock = commands.add_parser("dock", help=_("the dock service: pull every docked device at once, one worker "
                                            "per bay, until SIGTERM"), parents=[shared.dock])
    dock.set_defaults(run=_dock)
    bays = commands.add_parser("bays", help=_("each bay of the dock service: device, officer, state, progress"),
                               parents=[shared.archive])
    bays.add_argument("--json", action="store_true", help=_("one JSON list of the bays' states"))
    bays.set_defaults(run=_bays)
    units = commands.add_parser("units", help="print the folder of the installed systemd units (dock service, "
                                              "review page), udev rule and example station.toml, to copy into "
                                              "/etc (README)")
    units.set_defaults(run=_units)


def dock_ports(args: argparse.Namespace) -> tuple[list[str], int]:
    """The globs to watch and the line rate: the command line's, else the station's configuration."""
    return args.ports or args.configured_ports, args.baud


def _dock(args: argparse.Namespace) -> int:
    from station.services import dock_service, store_settings

    ports, baudrate = dock_ports(args)
    service = dock_service(args.archive, ports, url=args.catalogue, baudrate=baudrate,
                           store=store_settings(args.station_config))
    stop = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stop.set())
    print(f"dock service on {args.archive}, watching {' '.join(ports)}", flush=True)
    service.run(stop)
    return 0


def _units(args: argparse.Namespace) -> int:
    print(resources.files("station") / "systemd")
    return 0


def _bays(args: argparse.Namespace) -> int:
    states = read_bays(args.archive)
    if args.json:
        print(json.dumps([asdict(state) for state in states], indent=1))
        return 0
    rows = [tuple(_(name) for name in COLUMNS)] + [_row(state) for state in states]
    widths = [max(tables.width(row[i]) for row in rows) for i in range(len(COLUMNS) - 1)]
    for row in rows:
        cells = [cell + " " * (wide - tables.width(cell)) for cell, wide in zip(row, widths)]
        print("  ".join(cells) + "  " + row[-1])
    if not states:
        print(_("no bays yet: is the dock service running on this archive?"))
    return 0


def _row(state: BayState) -> tuple[str, ...]:
    left = "" if state.seconds_left is None else f"{state.seconds_left:.0f} s"
    return (state.bay, labels.label("bay", state.state, language()), state.device, state.officer,
            f"{state.files_done}/{state.files_total}",
            f"{state.bytes_done / 1e6:.1f}/{state.bytes_total / 1e6:.1f}",
            f"{state.rate / 1e6:.2f}" if state.rate else "", left, state.result)
