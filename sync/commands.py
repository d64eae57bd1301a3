"""The dock-link commands of ``bodycam``: serve, dock, dock-init, enroll, archive-search."""
from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path

from firmware import config as configuration
from sync.dock import PullReport
from sync.enroll import add_key, dock_init as init_dock, enrolled_docks_dir, enrolled_devices_dir


def serve(args: argparse.Namespace) -> int:
    from sync.station import ClockPolicy, serve as serve_spool

    config = configuration.load(args.config)
    data_dir = args.data_dir or Path(config["recording"]["data_dir"])
    clock = ClockPolicy(config["dock"]["set_system_clock"], int(config["clock"]["max_drift_seconds"] * 10**9))
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    print(f"serving {data_dir} on {args.port} to {len(list(enrolled_docks_dir(data_dir).glob('*.pub')))} "
          f"enrolled dock(s)", flush=True)
    stats = serve_spool(data_dir, args.port, release_after_days=config["dock"]["release_after_days"], clock=clock,
                        stop=stop)
    print(f"served {stats.sessions} session(s): {len(stats.receipts)} receipts, {len(stats.refused)} refusals")
    return 0


def dock(args: argparse.Namespace) -> int:
    from sync.station import pull

    began, shown = time.monotonic(), [-1]

    def progress(files: int, nbytes: int) -> None:
        rate = nbytes / max(time.monotonic() - began, 1e-3) / 1e6
        line = f"files {files}  {nbytes / 1e6:.2f} MB  {rate:.2f} MB/s"
        if sys.stdout.isatty():
            print(f"\r{line}", end="", flush=True)
        elif files != shown[0]:          # not a terminal: a line per file archived
            shown[0] = files
            print(line, flush=True)

    report = pull(args.archive, args.port, progress=progress)
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


def dock_init(args: argparse.Namespace) -> int:
    signer = init_dock(args.archive, [_key_text(k) for k in args.device_key])
    print(f"dock key {signer.key_id} (public key in {args.archive / 'dock' / 'dock.pub'}); "
          f"{len(list(enrolled_devices_dir(args.archive).glob('*.pub')))} device(s) enrolled")
    return 0


def enroll(args: argparse.Namespace) -> int:
    data_dir = args.data_dir or Path(configuration.load(args.config)["recording"]["data_dir"])
    print(f"dock {add_key(enrolled_docks_dir(data_dir), _key_text(args.dock_key))} enrolled on {data_dir}")
    return 0


def archive_search(args: argparse.Namespace) -> int:
    from sync.archive import search

    found = search(args.archive, officer=args.officer, device=args.device, date=args.date, case=args.case)
    for entry in found:
        print(json.dumps(entry, ensure_ascii=False))
    return 0 if found else 1


def _key_text(value: str) -> str:
    """A public key given as a file (PEM) or as its text."""
    return Path(value).read_text() if Path(value).is_file() else value
