"""``python -m sync.demo``: dock a recorded device over a pseudo-terminal pair, as ``make demo`` does.

Enrols each side on the other (``bodycam dock-init`` and ``bodycam enroll``), serves the
spool on one end of the virtual cable in a thread, and runs ``bodycam dock`` on the other.
"""
from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path
from typing import Sequence

from firmware.cli import main as bodycam
from sync.ptywire import PtyWire
from sync.station import serve


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sync.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="the recorded device's data directory")
    parser.add_argument("--archive", type=Path, required=True, help="the dock's archive folder")
    args = parser.parse_args(argv)
    device_pub, dock_pub = args.data_dir / "device" / "device.pub", args.archive / "dock" / "dock.pub"
    if bodycam(["dock-init", "--archive", str(args.archive), "--device-key", str(device_pub)]) or \
            bodycam(["enroll", "--data-dir", str(args.data_dir), "--dock-key", str(dock_pub)]):
        return 1
    with PtyWire() as wire:
        print(f"device serves on {wire.a}, dock pulls on {wire.b}", flush=True)
        stop = threading.Event()
        device = threading.Thread(target=serve, args=(args.data_dir, wire.a), kwargs={"stop": stop}, name="device")
        device.start()
        try:
            return bodycam(["dock", "--port", wire.b, "--archive", str(args.archive)])
        finally:
            stop.set()
            device.join()


if __name__ == "__main__":
    sys.exit(main())
