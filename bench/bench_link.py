"""Dock link: goodput and CPU per byte at each end, ours against ZMODEM over the same pty link.

    python bench/bench_link.py [--mb 50] [--lossy-mb 40] [--paced-mb 3] [--runs 5]

All runs go over one virtual cable (``sync.ptywire``: two pty pairs joined by a relay in
this process), each end in its own process, the same bytes (random, like compressed video):

- raw:    a plain writer and reader (pyserial), no protocol: how fast the machine copies bytes;
- zmodem: ``sz``/``rz`` from Debian's lrzsz, their stdin/stdout on the two ends;
- ours:   ``python -m sync serve`` and ``python -m sync pull``: handshake with Ed25519,
          windowed transfer, SHA-256 check, fsync, signed receipt -- all inside the time.

For each run it prints MB/s and the CPU seconds (user + sys, all threads) per GB moved at
the sending end (device, ``sz``) and at the receiving end (dock, ``rz``): for ZMODEM, the
whole processes (kernel accounting, ``wait4``); for ours, the process's CPU inside
``serve``/``pull`` (it reports it) -- what each end spends besides (Python start-up,
imports, loading the keys, the plain-file device hashing its files, which the real device
takes from its manifests) is printed apart, as a fixed cost per docking. The relay's CPU is
in neither. Then: a run whose cable is cut mid-file (how much is sent twice after the
resume); pulls through relays that corrupt 1 % and 0.1 % of the frames (both directions),
each against a clean pull of the same recording; and runs over a relay paced to 300 000
bytes/s, a 3 Mbaud UART (8N1).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import termios
import time
from dataclasses import dataclass
from pathlib import Path

from sync.link import LinkConfig
from sync.ptywire import Faults, PtyWire

UART = 300_000               # bytes/s of 3 Mbaud with 8 data bits, 1 start and 1 stop bit
HERE = Path(__file__).resolve()


@dataclass
class Run:
    rate: float              # bytes/s of the file
    sender_cpu: float        # CPU seconds of the sending end's process
    receiver_cpu: float      # CPU seconds of the receiving end's process
    size: int

    def per_gb(self, cpu: float) -> float:
        return cpu / self.size * 1e9

    def __str__(self) -> str:
        return (f"{self.rate / 1e6:5.1f} MB/s, CPU s/GB sender {self.per_gb(self.sender_cpu):5.1f} "
                f"receiver {self.per_gb(self.receiver_cpu):5.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=50, help="size of the recording (MB)")
    parser.add_argument("--lossy-mb", type=float, default=40, help="size for the runs with corrupted frames (MB)")
    parser.add_argument("--paced-mb", type=float, default=3, help="size for the 3 Mbaud runs (MB)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if not shutil.which("sz") or not shutil.which("rz"):
        print("bench_link: needs sz/rz (Debian package lrzsz): make system-deps", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="bench-link-"))
    try:
        keys = {name: _key(work / f"{name}.pem") for name in ("device", "dock")}
        big = _recording(work, "big", args.mb)
        size = (big / "recording.bin").stat().st_size
        window = LinkConfig().window * LinkConfig().chunk
        print(f"dock link: {size / 1e6:.0f} MB of random bytes over one pty link (2 pty pairs + relay), "
              f"{args.runs} rounds (raw, zmodem, ours interleaved):")
        rounds, start_up = [], []
        with PtyWire() as wire:
            for _ in range(args.runs):     # interleaved, so that each round sees the same machine load
                ours, stats = _ours(wire, big, work, keys)
                rounds.append((_raw(wire, big), _zmodem(wire, big, work), ours))
                start_up.append(stats["start_up_cpu"])
                raw, zmodem, ours = rounds[-1]
                print(f"  raw {raw.rate / 1e6:5.1f} MB/s | zmodem {zmodem} | ours {ours}")
            cut_at = size // 2
            cut = wire.cut_after(cut_at, seconds=2.0)
            with_outage, device = _ours(wire, big, work, keys, "--rto", "0.2", "--dead-after", "1")
        for end in ("sender", "receiver"):
            ratio = [getattr(o, f"{end}_cpu") / getattr(z, f"{end}_cpu") for _, z, o in rounds]
            zmodem_cpu = [z.per_gb(getattr(z, f"{end}_cpu")) for _, z, _ in rounds]
            ours_cpu = [o.per_gb(getattr(o, f"{end}_cpu")) for _, _, o in rounds]
            print(f"  {end} CPU s/GB, median: zmodem {statistics.median(zmodem_cpu):.1f}, "
                  f"ours {statistics.median(ours_cpu):.1f}; ours/zmodem per round {min(ratio):.2f}-{max(ratio):.2f}, "
                  f"median {statistics.median(ratio):.2f}")
        print(f"  ours besides, per process (start-up, imports, keys, listing), median: device "
              f"{statistics.median(d for d, _ in start_up):.2f} s, dock {statistics.median(d for _, d in start_up):.2f} s")
        print(f"  MB/s, median: raw {statistics.median(r.rate for r, _, _ in rounds) / 1e6:.1f}, "
              f"zmodem {statistics.median(z.rate for _, z, _ in rounds) / 1e6:.1f}, "
              f"ours {statistics.median(o.rate for _, _, o in rounds) / 1e6:.1f}")
        resent = device["data_bytes"] - size
        print(f"  cable cut for 2 s at {cut_at / 1e6:.0f} MB ({'cut' if cut.is_set() else 'NOT cut'}): "
              f"transfers {device['gets']}, {resent} bytes sent twice = {resent / window:.2f} windows "
              f"of {window // 1024} KiB; {with_outage.rate / 1e6:.1f} MB/s including the outage")
        _lossy(work, keys, _recording(work, "lossy", args.lossy_mb), args.runs)
        paced = _recording(work, "paced", args.paced_mb)
        paced_size = (paced / "recording.bin").stat().st_size
        with PtyWire(rate=UART) as wire:
            paced_raw, paced_ours = _raw(wire, paced), _ours(wire, paced, work, keys)[0]
        print(f"paced to {UART} B/s (a 3 Mbaud UART, 8N1), {paced_size / 1e6:.0f} MB: "
              f"raw {paced_raw.rate / 1e3:.1f} kB/s ({paced_raw.rate / UART:.1%}), ours {paced_ours.rate / 1e3:.1f} "
              f"kB/s ({paced_ours.rate / UART:.1%} of the line rate)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _lossy(work: Path, keys: dict[str, str], folder: Path, runs: int) -> None:
    """The same pull through a clean relay and through ones that corrupt a share of the frames."""
    size = (folder / "recording.bin").stat().st_size
    print(f"corrupted frames (one byte changed, both directions), {size / 1e6:.0f} MB, seconds of the pull:")
    for rate in (0.01, 0.001):
        clean, lossy, goes_back = [], [], []
        for seed in range(runs):
            with PtyWire() as wire:
                clean.append(size / _ours(wire, folder, work, keys)[0].rate)
            with PtyWire(faults=Faults(corrupt=rate, seed=seed)) as wire:
                run, device = _ours(wire, folder, work, keys)
                lossy.append(size / run.rate)
                goes_back.append(f"{wire.counts['corrupt']}/{device['rewinds']}")
        ratios = [bad / good for good, bad in zip(clean, lossy)]
        print(f"  {rate:.1%}: clean {' '.join(f'{s:.2f}' for s in clean)}; corrupted "
              f"{' '.join(f'{s:.2f}' for s in lossy)} (frames corrupted/go-backs {' '.join(goes_back)}); "
              f"ratio median {statistics.median(ratios):.2f}, worst {max(ratios):.2f}")


def _cpu(process: subprocess.Popen) -> float:
    """Wait for ``process`` and return its CPU seconds (user + sys), from the kernel's accounting."""
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_utime + usage.ru_stime


def _key(path: Path) -> str:
    return subprocess.run([sys.executable, "-m", "sync", "key", str(path)], check=True,
                          capture_output=True, text=True).stdout.strip()


def _recording(work: Path, name: str, mb: float) -> Path:
    folder = work / name
    folder.mkdir()
    with open(folder / "recording.bin", "wb") as fh:
        for _ in range(int(mb * 1e6) // (1 << 20)):
            fh.write(os.urandom(1 << 20))
        fh.write(os.urandom(int(mb * 1e6) % (1 << 20)))
    return folder


def _same(a: Path, b: Path) -> None:
    if hashlib.sha256(a.read_bytes()).digest() != hashlib.sha256(b.read_bytes()).digest():
        raise SystemExit(f"bench_link: {b} differs from {a}")


def _fresh(work: Path) -> Path:
    out = work / "out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    return out


def _raw(wire: PtyWire, folder: Path) -> Run:
    """Bytes/s from the reader's first byte to its last."""
    source = folder / "recording.bin"
    reader = subprocess.Popen([sys.executable, str(HERE), "--raw-read", wire.b, str(source.stat().st_size)],
                              stdout=subprocess.PIPE, text=True)
    reader.stdout.readline()                 # "ready": the reader has opened its port
    writer = subprocess.Popen([sys.executable, str(HERE), "--raw-write", wire.a, str(source)])
    writer_cpu = _cpu(writer)
    seconds = float(reader.stdout.readline())
    reader_cpu = _cpu(reader)
    if writer.returncode != 0:
        raise SystemExit("bench_link: the raw writer failed")
    return Run(source.stat().st_size / seconds, writer_cpu, reader_cpu, source.stat().st_size)


def _zmodem(wire: PtyWire, folder: Path, work: Path) -> Run:
    out, source = _fresh(work), folder / "recording.bin"
    a, b = (os.open(path, os.O_RDWR | os.O_NOCTTY) for path in (wire.a, wire.b))
    for fd in (a, b):
        termios.tcflush(fd, termios.TCIOFLUSH)        # nothing left over from the run before
    try:
        rz = subprocess.Popen(["rz", "-b", "-y", "-q"], stdin=b, stdout=b, stderr=subprocess.DEVNULL, cwd=out)
        time.sleep(0.5)                          # rz is waiting
        began = time.monotonic()
        sz = subprocess.Popen(["sz", "-b", "-8", "-q", str(source)], stdin=a, stdout=a, stderr=subprocess.DEVNULL)
        sz_cpu = _cpu(sz)
        seconds = time.monotonic() - began   # sz ends when rz has confirmed the file; rz itself
        rz_cpu = _cpu(rz)                    # sometimes idles for 30 s more, waiting for a last "OO"
    finally:
        os.close(a)
        os.close(b)
    if sz.returncode != 0 or rz.returncode != 0:
        raise SystemExit(f"bench_link: sz exited {sz.returncode}, rz {rz.returncode}")
    _same(source, out / source.name)
    return Run(source.stat().st_size / seconds, sz_cpu, rz_cpu, source.stat().st_size)


def _ours(wire: PtyWire, folder: Path, work: Path, keys: dict[str, str], *options: str) -> tuple[Run, dict]:
    """Goodput over the dock's whole pull (handshake to last receipt), each end's CPU while it
    served or pulled, and the device's statistics, with the CPU each process spent besides
    (``start_up_cpu``: Python start-up, imports, loading keys, the device listing its files)."""
    out, source = _fresh(work), folder / "recording.bin"
    device = subprocess.Popen([sys.executable, "-m", "sync", "serve", "--port", wire.a, "--dir", str(folder),
                               "--key", str(work / "device.pem"), "--trust", keys["dock"], "--sessions", "1",
                               *options], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    device.stderr.readline()                 # "ready": listed and hashed
    dock = subprocess.Popen([sys.executable, "-m", "sync", "pull", "--port", wire.b, "--dir", str(out),
                             "--key", str(work / "dock.pem"), "--trust", keys["device"], *options],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    dock_out, dock_err = dock.stdout.read(), dock.stderr.read()
    dock_cpu = _cpu(dock)
    stats = json.loads(device.stdout.read())
    device_cpu = _cpu(device)
    if dock.returncode != 0:
        raise SystemExit(f"bench_link: pull failed: {dock_err}")
    report = json.loads(dock_out)
    _same(source, out / source.name)
    size = source.stat().st_size
    stats["start_up_cpu"] = (device_cpu - stats["cpu_seconds"], dock_cpu - report["cpu_seconds"])
    return Run(size / report["seconds"], stats["cpu_seconds"], report["cpu_seconds"], size), stats


def _raw_write(port: str, path: str) -> None:
    import serial
    link = serial.serial_for_url(port)
    with open(path, "rb") as fh:
        while block := fh.read(1 << 16):
            link.write(block)
    link.flush()


def _raw_read(port: str, size: int) -> None:
    """Read with select and os.read on the port's descriptor, as the link's reader thread does."""
    import select
    import serial
    link = serial.serial_for_url(port)
    fd = link.fileno()
    print("ready", flush=True)
    got, began = 0, None
    while got < size:
        select.select([fd], [], [])
        try:
            got += len(os.read(fd, 1 << 16))
        except BlockingIOError:
            continue
        began = began or time.monotonic()
    print(time.monotonic() - began)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--raw-write":
        _raw_write(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 4 and sys.argv[1] == "--raw-read":
        _raw_read(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(main())
