"""Dock link: goodput over a pseudo-terminal link, against the link's raw ceiling and ZMODEM.

    python bench/bench_link.py [--mb 50] [--paced-mb 3] [--runs 3]

All runs go over one virtual cable (``sync.ptywire``: two pty pairs joined by a relay in
this process), each end in its own process, the same bytes (random, like compressed video):

- raw:    a plain writer and reader (pyserial), no protocol -- the ceiling of the link;
- zmodem: ``sz``/``rz`` from Debian's lrzsz, their stdin/stdout on the two ends;
- ours:   ``python -m sync serve`` and ``python -m sync pull``: handshake with Ed25519,
          windowed transfer, SHA-256 check, fsync, signed receipt -- all inside the time.
Then a run whose cable is cut mid-file (how much is sent twice after the resume), and
runs over a relay paced to 300 000 bytes/s, a 3 Mbaud UART (8N1).

The three are interleaved round by round, so each round compares them under the same load;
the summary gives the median of the per-round ratios and the best of each column. Each
figure comes with how many of the machine's cores were busy (``/proc/stat``) during that
run: a pty has no line rate, so its "raw ceiling" is however fast the CPUs move bytes.
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
import threading
import time
from pathlib import Path

from sync.link import LinkConfig
from sync.ptywire import PtyWire

UART = 300_000               # bytes/s of 3 Mbaud with 8 data bits, 1 start and 1 stop bit
HERE = Path(__file__).resolve()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=50, help="size of the recording (MB)")
    parser.add_argument("--paced-mb", type=float, default=3, help="size for the 3 Mbaud runs (MB)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if not shutil.which("sz") or not shutil.which("rz"):
        print("bench_link: needs sz/rz (Debian package lrzsz): make system-deps", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="bench-link-"))
    try:
        keys = {name: _key(work / f"{name}.pem") for name in ("device", "dock")}
        big, paced = _recording(work, "big", args.mb), _recording(work, "paced", args.paced_mb)
        size, paced_size = ((folder / "recording.bin").stat().st_size for folder in (big, paced))
        window = LinkConfig().window * LinkConfig().chunk
        print(f"dock link: {size / 1e6:.0f} MB of random bytes over one pty link (2 pty pairs + relay), "
              f"MB/s, {args.runs} rounds:")
        rounds, cores = [], _Cores()
        cores.start()
        with PtyWire() as wire:
            for _ in range(args.runs):     # interleaved, so that each round sees the same machine load
                runs = [_busy(cores, _raw, wire, big), _busy(cores, _zmodem, wire, big, work),
                        _busy(cores, lambda *a: _ours(*a)[0], wire, big, work, keys)]
                rounds.append([rate for rate, _ in runs])
                raw, zmodem, ours = rounds[-1]
                print("  " + "   ".join(f"{name} {rate / 1e6:5.1f} ({cores:.1f} cores)"
                                        for name, (rate, cores) in zip(("raw", "zmodem", "ours"), runs))
                      + f"   ours/raw {ours / raw:4.0%}   ours/zmodem {ours / zmodem:4.2f}x")
            cut_at = size // 2
            cut = wire.cut_after(cut_at, seconds=2.0)
            with_outage, device = _ours(wire, big, work, keys, "--rto", "0.2", "--dead-after", "1")
        raw, zmodem, ours = (max(column) for column in zip(*rounds))
        print(f"  median of the rounds: ours/raw {statistics.median(r[2] / r[0] for r in rounds):.0%}, "
              f"ours/zmodem {statistics.median(r[2] / r[1] for r in rounds):.2f}x")
        print(f"  best of each: raw {raw / 1e6:.1f}, zmodem {zmodem / 1e6:.1f}, ours {ours / 1e6:.1f} "
              f"= {ours / raw:.0%} of raw, {ours / zmodem:.2f}x zmodem")
        resent = device["data_bytes"] - size
        print(f"  cable cut for 2 s at {cut_at / 1e6:.0f} MB ({'cut' if cut.is_set() else 'NOT cut'}): "
              f"transfers {device['gets']}, {resent} bytes sent twice = {resent / window:.2f} windows "
              f"of {window // 1024} KiB; {with_outage / 1e6:.1f} MB/s including the outage")
        with PtyWire(rate=UART) as wire:
            paced_raw, paced_ours = _raw(wire, paced), _ours(wire, paced, work, keys)[0]
        print(f"paced to {UART} B/s (a 3 Mbaud UART, 8N1), {paced_size / 1e6:.0f} MB: "
              f"raw {paced_raw / 1e3:.1f} kB/s ({paced_raw / UART:.1%}), ours {paced_ours / 1e3:.1f} kB/s "
              f"({paced_ours / UART:.1%} of the line rate)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


class _Cores(threading.Thread):
    """Samples the machine's busy CPU time (/proc/stat, all but idle and iowait) every 10 ms."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.samples: list[tuple[float, float]] = []

    def run(self) -> None:
        while True:
            with open("/proc/stat") as stat:
                ticks = [int(field) for field in stat.readline().split()[1:]]
            self.samples.append((time.monotonic(), (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")))
            time.sleep(0.01)

    def busy(self, began: float, ended: float) -> float:
        """Cores busy on average between two monotonic times."""
        inside = [(t, cpu) for t, cpu in self.samples if began <= t <= ended]
        if len(inside) < 2:
            return float("nan")
        return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])


def _busy(cores: _Cores, run, *args) -> tuple[float, float]:
    """``run``'s rate and the busy cores over the time it measured (it ended just now)."""
    size = (args[1] / "recording.bin").stat().st_size
    rate = run(*args)
    ended = time.monotonic()
    return rate, cores.busy(ended - size / rate, ended)


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


def _raw(wire: PtyWire, folder: Path) -> float:
    """Bytes/s from the reader's first byte to its last."""
    source = folder / "recording.bin"
    reader = subprocess.Popen([sys.executable, str(HERE), "--raw-read", wire.b, str(source.stat().st_size)],
                              stdout=subprocess.PIPE, text=True)
    reader.stdout.readline()                 # "ready": the reader has opened its port
    writer = subprocess.run([sys.executable, str(HERE), "--raw-write", wire.a, str(source)], check=True)
    seconds = float(reader.communicate(timeout=600)[0])
    return source.stat().st_size / seconds if writer.returncode == 0 else 0.0


def _zmodem(wire: PtyWire, folder: Path, work: Path) -> float:
    out, source = _fresh(work), folder / "recording.bin"
    a, b = (os.open(path, os.O_RDWR | os.O_NOCTTY) for path in (wire.a, wire.b))
    for fd in (a, b):
        termios.tcflush(fd, termios.TCIOFLUSH)        # nothing left over from the run before
    try:
        rz = subprocess.Popen(["rz", "-b", "-y", "-q"], stdin=b, stdout=b, stderr=subprocess.DEVNULL, cwd=out)
        time.sleep(0.5)                          # rz is waiting
        began = time.monotonic()
        subprocess.run(["sz", "-b", "-8", "-q", str(source)], stdin=a, stdout=a, stderr=subprocess.DEVNULL,
                       check=True, timeout=600)
        rz.wait(timeout=60)
        seconds = time.monotonic() - began
    finally:
        os.close(a)
        os.close(b)
    _same(source, out / source.name)
    return source.stat().st_size / seconds


def _ours(wire: PtyWire, folder: Path, work: Path, keys: dict[str, str], *options: str) -> tuple[float, dict]:
    """Goodput over the dock's whole pull (handshake to last receipt), and the device's statistics."""
    out, source = _fresh(work), folder / "recording.bin"
    device = subprocess.Popen([sys.executable, "-m", "sync", "serve", "--port", wire.a, "--dir", str(folder),
                               "--key", str(work / "device.pem"), "--trust", keys["dock"], "--sessions", "1",
                               *options], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    device.stderr.readline()                 # "ready": listed and hashed
    dock = subprocess.run([sys.executable, "-m", "sync", "pull", "--port", wire.b, "--dir", str(out),
                           "--key", str(work / "dock.pem"), "--trust", keys["device"], *options],
                          capture_output=True, text=True, timeout=600)
    stats = json.loads(device.communicate(timeout=60)[0])
    if dock.returncode != 0:
        raise SystemExit(f"bench_link: pull failed: {dock.stderr}")
    report = json.loads(dock.stdout)
    _same(source, out / source.name)
    return source.stat().st_size / report["seconds"], stats


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
