"""Dock a recorded device over a pseudo-terminal pair, as ``make demo`` does.

Enrols each side on the other (``bodycam-station init``, which keeps a dock key already made,
and ``bodycam enroll``, which keeps an agency key already enrolled), starts ``bodycam serve``
on one end of the virtual cable and runs ``bodycam-station pull`` on the other, as two
processes, the way a device and its dock run them.

    python scripts/dock_demo.py --data-dir DEVICE_DATA_DIR --archive ARCHIVE
"""
from __future__ import annotations

import argparse
import signal
import subprocess
import sys
from pathlib import Path

from evidence.paths import ArchiveDir, DataDir
from sync.ptywire import PtyWire

BIN = Path(sys.executable).parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="the recorded device's data directory")
    parser.add_argument("--archive", type=Path, required=True, help="the dock's archive folder")
    args = parser.parse_args()
    station, device = str(BIN / "bodycam-station"), str(BIN / "bodycam")
    subprocess.run([station, "init", "--archive", str(args.archive),
                    "--device-key", str(DataDir(args.data_dir).public_key)], check=True)
    subprocess.run([device, "enroll", "--data-dir", str(args.data_dir),
                    "--dock-key", str(ArchiveDir(args.archive).public_key)], check=True)
    with PtyWire() as wire:
        print(f"device serves on {wire.a}, dock pulls on {wire.b}", flush=True)
        server = subprocess.Popen([device, "serve", "--port", wire.a, "--data-dir", str(args.data_dir)])
        try:
            return subprocess.run([station, "pull", "--port", wire.b, "--archive", str(args.archive)]).returncode
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
