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
Each set also shows its sending side's CPU per GB (the device processes, or the ``sz``
processes), the pty relays' (the threads of this process that carry both sets' bytes), the
kernel's worker threads' (``kworker``: a tty moves its bytes to the reader in them) and how
busy the whole machine was (/proc/stat): on a machine that all of it keeps busy, the rates
follow the CPU each side spends per byte.
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
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from capture.sealing import Sealer, SegmentFacts, file_digest
from evidence.chain import ChainWriter
from evidence.keys import FileSigner, add_key
from evidence.paths import DataDir
from firmware.provision import load_identity
from station.dock.bays import read_bays
from station.services import dock_init
from sync.ptywire import PtyWire
from tests.conftest import record

TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    """One set of N transfers: wall time, CPU seconds of each side, each bay's time."""
    seconds: float
    station_cpu: float        # the dock process, or the rz processes
    device_cpu: float         # the device processes, or the sz processes
    relay_cpu: float          # this process: the pty relays (and its own polling)
    kernel_cpu: float         # the kernel's worker threads (a tty moves its bytes to the reader in them)
    busy: float               # share of the machine's CPU time in use, all processes
    bays: list[float]


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
        for name, run in (("zmodem (sz/rz)", zmodem), ("ours (dock service)", ours)):
            print(f"  {name:20s} {size / run.seconds / 1e6:6.1f} MB/s aggregate, station CPU "
                  f"{run.station_cpu / size * 1e9:5.1f} s/GB, bays {min(run.bays):.1f}-{max(run.bays):.1f} s "
                  f"(slowest/fastest {max(run.bays) / min(run.bays):.2f})")
            print(f"  {'':20s} devices' CPU {run.device_cpu / size * 1e9:5.1f} s/GB, relay's {run.relay_cpu / size * 1e9:5.1f}"
                  f" s/GB, kernel workers' {run.kernel_cpu / size * 1e9:4.1f} s/GB, machine busy {run.busy:.0%}"
                  f" of {os.cpu_count()} cores")
        print(f"  ours/zmodem: aggregate {zmodem.seconds / ours.seconds:.2f}x, "
              f"CPU per GB {ours.station_cpu / zmodem.station_cpu:.2f}x (devices' {ours.device_cpu / zmodem.device_cpu:.2f}x)")
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


def _zmodem(work: Path, files: list[list[Path]]) -> Run:
    """N parallel rz/sz pairs."""
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
        meter = _Meter()
        senders = [subprocess.Popen(["sz", "-b", "-8", "-q", *map(str, paths)], stdin=a, stdout=a,
                                    stderr=subprocess.DEVNULL) for _, paths, a in pairs]
        receivers = {rz.pid for rz, _, _ in pairs}
        done: dict[int, float] = {}
        rz_cpu = sz_cpu = 0.0
        while len(done) < len(senders) or receivers:
            pid, status, usage = os.wait4(-1, 0)     # sz ends once rz confirmed its last file
            if pid in receivers:
                receivers.discard(pid)
                rz_cpu += usage.ru_utime + usage.ru_stime
            for number, sender in enumerate(senders):
                if sender.pid == pid:
                    sender.returncode = os.waitstatus_to_exitcode(status)
                    done[number] = time.monotonic() - meter.began
                    sz_cpu += usage.ru_utime + usage.ru_stime
        relay, workers, busy = meter.read()
        if any(sender.returncode for sender in senders):
            raise SystemExit("bench_dock: an sz failed")
        return Run(max(done.values()), rz_cpu, sz_cpu, relay, workers, busy, [done[n] for n in range(len(senders))])
    finally:
        for fd in ends:
            os.close(fd)
        for wire in wires:
            wire.close()


def _ours(work: Path, archive: Path, devices: list[Path]) -> Run:
    """The dock service pulling every device at once."""
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
        pids = [process.pid for process in served]
        station_before, devices_before, meter = _cpu(station.pid), sum(map(_cpu, pids)), _Meter()
        for number, wire in enumerate(wires):
            (bays / f"bay-{number}").symlink_to(wire.b)
        finished: dict[str, float] = {}
        while len(finished) < len(devices):
            for bay in read_bays(archive):
                if bay.state in ("done", "refused", "error") and bay.bay not in finished:
                    finished[bay.bay] = time.monotonic() - meter.began
                    if bay.state != "done":
                        raise SystemExit(f"bench_dock: {bay.bay} {bay.state}: {bay.result}")
            time.sleep(0.05)
        relay, workers, busy = meter.read()
        return Run(max(finished.values()), _cpu(station.pid) - station_before, sum(map(_cpu, pids)) - devices_before,
                   relay, workers, busy, list(finished.values()))
    finally:
        station.send_signal(signal.SIGTERM)
        station.wait(60)
        for process in served:
            process.send_signal(signal.SIGTERM)
            process.wait(60)
        for wire in wires:
            wire.close()


class _Meter:
    """From its making: this process's CPU (user + sys, all threads), the kernel workers' CPU
    and the machine's busy share."""

    def __init__(self) -> None:
        self._own, self._workers, self._machine = _own_cpu(), _kernel_workers(), _machine_ticks()
        self.began = time.monotonic()

    def read(self) -> tuple[float, float, float]:
        (busy, total), (busy_before, total_before) = _machine_ticks(), self._machine
        workers = _kernel_workers()
        worker_cpu = sum(cpu - self._workers.get(pid, 0.0) for pid, cpu in workers.items())
        return _own_cpu() - self._own, worker_cpu, (busy - busy_before) / max(1, total - total_before)


def _kernel_workers() -> dict[int, float]:
    """CPU seconds so far of each of the kernel's worker threads (``kworker/…``), by pid."""
    workers = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue                                        # ended while we looked
        if "(kworker/" in text:
            workers[int(stat.parent.name)] = _times(text)
    return workers


def _own_cpu() -> float:
    times = os.times()
    return times.user + times.system


def _machine_ticks() -> tuple[int, int]:
    """Busy and total ticks of every CPU since boot (/proc/stat: idle and iowait are not busy)."""
    ticks = [int(field) for field in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(ticks) - ticks[3] - ticks[4], sum(ticks)


def _cpu(pid: int) -> float:
    """User + sys seconds of process ``pid`` and its threads so far."""
    return _times(Path(f"/proc/{pid}/stat").read_text())


def _times(stat: str) -> float:
    """User + sys seconds in a /proc/<pid>/stat line."""
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


if __name__ == "__main__":
    sys.exit(main())
