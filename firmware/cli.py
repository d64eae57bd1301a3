"""The ``bodycam`` command line."""
from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Sequence

from firmware import config as configuration
from firmware.version import __version__


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except configuration.ConfigError as exc:
        print(f"bodycam: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # HardwareError and CaptureError: one sentence, no traceback
        print(f"bodycam: {exc}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bodycam", description="Body-worn recorder.")
    parser.add_argument("--version", action="version", version=f"bodycam {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    record = commands.add_parser("record", help="record audio and video into the spool")
    record.add_argument("--seconds", type=float, help="stop after this much footage (default: until Ctrl-C)")
    record.add_argument("--source", help="camera: synthetic:, v4l2:/dev/video0, file:PATH, picamera2:")
    record.add_argument("--mic", help="microphone: synthetic:, alsa:DEVICE, pulse:DEVICE, or none")
    record.add_argument("--config", type=Path, help="configuration file (TOML) laid over the default")
    record.add_argument("--data-dir", type=Path, help="where the spool is (overrides recording.data_dir)")
    record.set_defaults(run=_record)

    inspect = commands.add_parser("inspect", help="list the sessions and segments on a spool")
    inspect.add_argument("data_dir", type=Path, nargs="?", help="data directory (default: from the config)")
    inspect.add_argument("--config", type=Path, help="configuration file (TOML) laid over the default")
    inspect.set_defaults(run=_inspect)

    show = commands.add_parser("config", help="print the embedded default configuration")
    show.set_defaults(run=lambda args: print(configuration.default_text(), end="") or 0)
    return parser


def _record(args: argparse.Namespace) -> int:
    from firmware.session import open_recorder

    if args.seconds is not None and args.seconds <= 0:
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
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with open_recorder(config, with_microphone=args.mic != "none") as recorder:
        for line in recorder.describe():
            print(line)
        progress = recorder.run(args.seconds, stop, _show_progress)
    _clear_line()
    print(_summary(progress))
    return 1 if progress.error else 0


def _inspect(args: argparse.Namespace) -> int:
    from firmware.inspect import describe_spool

    data_dir = args.data_dir or Path(configuration.load(args.config)["recording"]["data_dir"])
    print("\n".join(describe_spool(data_dir)))
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
