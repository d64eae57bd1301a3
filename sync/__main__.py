"""``python -m sync``: the plain-file dock link, for trying it out and for the benchmark.

    python -m sync key KEYFILE                        create (once) and print an Ed25519 key
    python -m sync serve --port DEV --dir DIR --key KEYFILE --trust DOCKKEY
    python -m sync pull  --port DEV --dir DIR --key KEYFILE --trust DEVICEKEY

``serve`` offers every file under DIR; ``pull`` fetches them into DIR. Both print their
statistics as JSON when they end. The device service and the dock's archive will replace
the two plain-file ends (``bodycam serve`` / ``bodycam-station pull``).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Sequence

from evidence.keys import FileSigner
from sync import LinkError
from sync.auth import Ed25519Authenticator
from sync.device import Device
from sync.dock import Dock
from sync.link import LinkConfig, open_port
from sync.store import DirectorySink, DirectorySource


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "key":
            print((FileSigner(args.key) if args.key.exists() else FileSigner.generate(args.key)).public_key.hex())
            return 0
        auth = Ed25519Authenticator(FileSigner(args.key), [bytes.fromhex(key) for key in args.trust])
        config = LinkConfig(window=args.window, chunk=args.chunk, rto=args.rto, dead_after=args.dead_after)
        port = open_port(args.port)
        try:
            if args.command == "serve":
                source = DirectorySource(args.dir)
                source.items()                       # hash everything before the dock comes
                print("ready", flush=True, file=sys.stderr)
                result = Device(port, source, auth, config=config).serve(sessions=args.sessions)
            else:
                result = Dock(port, DirectorySink(args.dir), auth, config=config).pull(args.patience)
        finally:
            port.close()
    except (LinkError, OSError, ValueError) as exc:
        print(f"sync: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(dataclasses.asdict(result)))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sync", description="Plain-file dock link.")
    commands = parser.add_subparsers(dest="command", required=True)
    key = commands.add_parser("key", help="create an Ed25519 key file if missing and print its public key")
    key.add_argument("key", type=Path)
    defaults = LinkConfig()
    for name, help_text in (("serve", "offer the files under --dir (device side)"),
                            ("pull", "fetch everything offered into --dir (dock side)")):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("--port", required=True, help="serial port path or pyserial URL")
        command.add_argument("--dir", type=Path, required=True)
        command.add_argument("--key", type=Path, required=True, help="our Ed25519 key (PEM, mode 0600)")
        command.add_argument("--trust", action="append", default=[], help="peer public key (hex); may repeat")
        command.add_argument("--window", type=int, default=defaults.window, help="DATA frames in flight")
        command.add_argument("--chunk", type=int, default=defaults.chunk, help="data bytes per frame")
        command.add_argument("--rto", type=float, default=defaults.rto)
        command.add_argument("--dead-after", type=float, default=defaults.dead_after)
    commands.choices["serve"].add_argument("--sessions", type=int, help="exit after this many sessions")
    commands.choices["pull"].add_argument("--patience", type=float, default=30.0,
                                          help="give up after this long without progress")
    return parser


if __name__ == "__main__":
    sys.exit(main())
