"""The dock service with N devices docked at once: aggregate goodput, station CPU per GB and
fairness, against N parallel ZMODEM transfers (``sz``/``rz``) of the same files in the same run.

    python bench/bench_dock.py [--devices 8] [--mb 200] [--segment-mb 50]

Each device is a real data directory with its own key and chain: a short real recording
(simulated camera, 320x240), then a session of ``--mb`` MB sealed by the device's own
``Sealer`` whose segment videos are random bytes (like compressed video: the dock never
decodes, it checks each file's size and SHA-256 against the signed manifest), so that a
large docking costs no encoding time. Every device serves in its own process
(``python -m firmware serve``) on its own pty pair (``sync.ptywire``); the station is one
``bodycam-station dock`` process watching a folder of links, as ``/dev/serial/by-id/`` looks.

First ZMODEM: N pairs of ``rz -b``/``sz -b -8`` over N fresh pty pairs, each sending every
file of its device's spool and event log, all started at once; then ours: the N links made
at once, timed until every bay's state file says ``done``. Aggregate MB/s is all the bytes
over the wall time from the first start to the last end; the station's CPU is the dock
process's (user + sys, /proc) from docking to the last bay done, against the sum of the
``rz`` processes' (kernel accounting); fairness is the slowest bay's time over the fastest's.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from capture.sealing import SegmentFacts, Sealer, file_digest  # noqa: E402
from evidence.chain import ChainWriter  # noqa: E402
from evidence.keys import FileSigner, add_key  # noqa: E402
from evidence.paths import DataDir  # noqa: E402
from firmware.provision import load_identity  # noqa: E402
from station.dock.bays import read_bays  # noqa: E402
from station.services import dock_init  # noqa: E402
from sync.ptywire import PtyWire  # noqa: E402
from tests.conftest import record  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=8)
    parser.add_argument("--mb", type=float, default=200, help="MB of sealed video per device")
    parser.add_argument("--segment-mb", type=float, default=50, help="MB per segment file")
    args = parser.parse_args()
    if not shutil.which("sz") or not shutil.which("rz"):
        print("bench_dock: needs sz/rz (Debian package lrzsz): sh scripts/system-deps.sh", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="bench-dock-"))
    try:
        devices = [_device(work / f"device{n}", n, args.mb, args.segment_mb) for n in range(args.devices)]
        archive = work / "archive"
        dock_init(archive, [DataDir(d).public_key.read_text() for d in devices])
        for device in devices:
            add_key(DataDir(device).docks, (archive / "dock" / "dock.pub").read_text())
        files = [_offered(device) for device in devices]
        size = sum(path.stat().st_size for paths in files for path in paths)
        print(f"{args.devices} devices x {size / args.devices / 1e6:.0f} MB docked at once, each on its own pty pair:")
        zmodem = _zmodem(work, files)
        ours = _ours(work, archive, devices)
        for name, (seconds, cpu, bays) in (("zmodem (sz/rz)", zmodem), ("ours (dock service)", ours)):
            print(f"  {name:20s} {size / seconds / 1e6:6.1f} MB/s aggregate, station CPU {cpu / size * 1e9:5.1f} s/GB, "
                  f"bays {min(bays):.1f}-{max(bays):.1f} s (slowest/fastest {max(bays) / min(bays):.2f})")
        print(f"  ours/zmodem: aggregate {zmodem[0] / ours[0]:.2f}x, CPU per GB {ours[1] / zmodem[1]:.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _device(data_dir: Path, number: int, mb: float, segment_mb: float) -> Path:
    """A device with its own key and chain: a short real recording, then ``mb`` MB sealed as segments."""
    record(data_dir, 1.0, device={"serial": f"BD{number:05d}"}, officer={"police_number": f"{800000 + number}"})
    folders = DataDir(data_dir)
    identity = load_identity(folders)
    sealer = Sealer(ChainWriter(folders, FileSigner(folders.key), identity["device"]), identity)
    session = f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{identity['device']}-bench"
    (folders.spool / session).mkdir(parents=True)
    sealer.open_session(session)
    left, segment = int(mb * 1e6), 0
    while left > 0:
        segment += 1
        video = folders.spool / session / f"seg-{segment:06d}.mp4"
        size = min(left, int(segment_mb * 1e6))
        left -= size
        with open(video, "wb") as out:
            while size:
                size -= out.write(os.urandom(min(1 << 20, size)))
        index = video.with_name(video.name + ".idx")
        index.write_text("")
        digest = file_digest(video)
        whole = [{"type": "init", "number": 0, "offset": 0, "size": digest["size"], "sha256": digest["sha256"]}]
        sealer.seal_segment(SegmentFacts(session, segment, video.name, digest["size"], digest["sha256"], whole,
                                         file_digest(index), 0, None, None))
    sealer.close_session(session, "stop")
    return data_dir


def _offered(device: Path) -> list[Path]:
    """What the device offers its dock, as files: its spool, identity records, event log."""
    folders = DataDir(device)
    return sorted(p for p in (*folders.spool.rglob("*"), *folders.identity.glob("*.json"), *folders.events.glob("*"))
                  if p.is_file())


def _zmodem(work: Path, files: list[list[Path]]) -> tuple[float, float, list[float]]:
    """N parallel rz/sz pairs: wall time, the rz processes' CPU, each pair's time."""
    wires = [PtyWire() for _ in files]
    ends, pairs = [], []
    try:
        for number, (wire, paths) in enumerate(zip(wires, files)):
            out = work / f"zmodem{number}"
            out.mkdir()
            a, b = (os.open(path, os.O_RDWR | os.O_NOCTTY) for path in (wire.a, wire.b))
            ends += [a, b]
            rz = subprocess.Popen(["rz", "-b", "-y", "-q", "-E"], stdin=b, stdout=b, stderr=subprocess.DEVNULL, cwd=out)
            pairs.append((rz, paths, a))
        time.sleep(0.5)                                    # every rz waits
        began = time.monotonic()
        senders = [subprocess.Popen(["sz", "-b", "-8", "-q", *map(str, paths)], stdin=a, stdout=a,
                                    stderr=subprocess.DEVNULL) for _, paths, a in pairs]
        receivers = {rz.pid for rz, _, _ in pairs}
        done: dict[int, float] = {}
        cpu = 0.0
        while len(done) < len(senders) or receivers:
            pid, status, usage = os.wait4(-1, 0)     # sz ends once rz confirmed its last file
            if pid in receivers:
                receivers.discard(pid)
                cpu += usage.ru_utime + usage.ru_stime
            for number, sender in enumerate(senders):
                if sender.pid == pid:
                    sender.returncode = os.waitstatus_to_exitcode(status)
                    done[number] = time.monotonic() - began
        seconds = max(done.values())
        if any(sender.returncode for sender in senders):
            raise SystemExit("bench_dock: an sz failed")
        return seconds, cpu, [done[n] for n in range(len(senders))]
    finally:
        for fd in ends:
            os.close(fd)
        for wire in wires:
            wire.close()


def _ours(work: Path, archive: Path, devices: list[Path]) -> tuple[float, float, list[float]]:
    """The dock service pulling every device at once: wall time, its CPU, each bay's time."""
    bays, wires, served = work / "by-id", [PtyWire() for _ in devices], []
    bays.mkdir()
    station = subprocess.Popen([sys.executable, "-m", "station", "dock", "--archive", str(archive),
                                "--port", str(bays / "bay-*")], stdout=subprocess.PIPE, text=True)
    try:
        station.stdout.readline()
        for device, wire in zip(devices, wires):
            served.append(subprocess.Popen([sys.executable, "-m", "firmware", "serve", "--port", wire.a,
                                            "--data-dir", str(device)], stdout=subprocess.PIPE, text=True))
        for process in served:
            process.stdout.readline()                      # "serving"
        cpu_before, began = _cpu(station.pid), time.monotonic()
        for number, wire in enumerate(wires):
            (bays / f"bay-{number}").symlink_to(wire.b)
        finished: dict[str, float] = {}
        while len(finished) < len(devices):
            for bay in read_bays(archive):
                if bay.state in ("done", "refused", "error") and bay.bay not in finished:
                    finished[bay.bay] = time.monotonic() - began
                    if bay.state != "done":
                        raise SystemExit(f"bench_dock: {bay.bay} {bay.state}: {bay.result}")
            time.sleep(0.05)
        cpu = _cpu(station.pid) - cpu_before
        return max(finished.values()), cpu, list(finished.values())
    finally:
        station.send_signal(signal.SIGTERM)
        station.wait(60)
        for process in served:
            process.send_signal(signal.SIGTERM)
            process.wait(60)
        for wire in wires:
            wire.close()


def _cpu(pid: int) -> float:
    """User + sys seconds of process ``pid`` and its threads so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


if __name__ == "__main__":
    sys.exit(main())
