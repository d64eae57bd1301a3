"""A virtual serial cable: two pseudo-terminal pairs joined by a relay, for tests and benchmarks.

Each end opens its side (``wire.a`` or ``wire.b``, a /dev/pts path) with pyserial, just as
it would open /dev/ttyACM0. Two relay threads copy between the masters, one per direction.
The relay can pace the bytes to a line rate (a UART), and break the line on purpose: drop,
corrupt, duplicate or delay whole frames (found by their 0x00 delimiters), or cut the
cable for a while, also in the middle of a frame.
"""
from __future__ import annotations

import os
import random
import select
import termios
import threading
import time
import tty
from dataclasses import dataclass

from bodycam_threads import OwnedThread

STOP_SECONDS = 2.0
WAIT = 0.05                   # how long a relay thread blocks before looking at its flags


@dataclass(frozen=True)
class Faults:
    """Per-frame probabilities of each fault, and the seed that makes a run repeatable."""
    drop: float = 0.0
    corrupt: float = 0.0      # one byte changed
    duplicate: float = 0.0    # sent twice in a row
    delay: float = 0.0        # held back until 1..3 later frames have passed
    seed: int = 0

    @property
    def any(self) -> bool:
        return self.drop + self.corrupt + self.duplicate + self.delay > 0


class PtyWire:
    """Pseudo-terminal ends ``a`` and ``b`` and the relay between them; ``close()`` stops it."""

    def __init__(self, rate: float | None = None, faults: Faults = Faults(), record: bool = False) -> None:
        self.rate, self.faults = rate, faults
        self.recorded = (bytearray(), bytearray()) if record else None   # what a and b sent: a tap
        self._fds: list[int] = []
        self._masters, paths = [], []
        for _ in range(2):
            master, slave = os.openpty()
            self._fds += [master, slave]       # the slave stays open: an end may close and reopen
            tty.setraw(master)
            tty.setraw(slave)
            os.set_blocking(master, False)
            self._masters.append(master)
            paths.append(os.ttyname(slave))
        self.a, self.b = paths
        self.forwarded = [0, 0]                # bytes read from a (for b) and from b (for a)
        self.counts = {"drop": 0, "corrupt": 0, "duplicate": 0, "delay": 0, "cut": 0}
        self._stop = threading.Event()
        self._cut_until: float | None = 0.0    # None: cut until mended
        self._trigger: tuple[int, float | None, threading.Event] | None = None
        self._lock = threading.Lock()
        self._threads = [OwnedThread(self._pump, f"ptywire-{i}", args=(i,), stopping=self._stop) for i in (0, 1)]
        for thread in self._threads:
            thread.start()

    def cut(self, seconds: float | None = None) -> None:
        """Lose everything in both directions, for ``seconds`` or until :meth:`mend`."""
        with self._lock:
            self._cut_until = None if seconds is None else time.monotonic() + seconds
            self.counts["cut"] += 1

    def mend(self) -> None:
        with self._lock:
            self._cut_until = 0.0

    def cut_after(self, nbytes: int, seconds: float | None = None) -> threading.Event:
        """Cut the cable once ``nbytes`` more have gone from a to b; the event tells when."""
        done = threading.Event()
        with self._lock:
            self._trigger = (self.forwarded[0] + nbytes, seconds, done)
        return done

    def line_rate(self, end: str) -> int:
        """The line rate the kernel holds for end ``a`` or ``b``, as a termios constant
        (``termios.B115200``): what the last program to open that end set it to."""
        attributes = termios.tcgetattr(self._fds[1 if end == "a" else 3])
        if attributes[4] != attributes[5]:
            raise ValueError(f"end {end} has input rate {attributes[4]} and output rate {attributes[5]}")
        return attributes[5]

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(STOP_SECONDS)  # a relay that hangs raises ZombieThread: its fds stay open
        for fd in self._fds:
            os.close(fd)
        self._fds = []

    def __enter__(self) -> "PtyWire":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _is_cut(self) -> bool:
        until = self._cut_until
        return until is None or time.monotonic() < until

    def _pump(self, index: int) -> None:
        src, dst = self._masters[index], self._masters[1 - index]
        relay = _Mangler(self.faults, index, self.counts) if self.faults.any else None
        due = time.monotonic()
        while not self._stop.is_set():
            if not select.select([src], [], [], WAIT)[0]:
                if relay is not None and relay.held:
                    due = self._write(dst, relay.flush(), due)
                continue
            try:
                data = os.read(src, 1 << 16)
            except (BlockingIOError, InterruptedError):
                continue
            trigger = None
            if index == 0:
                with self._lock:
                    trigger = self._trigger
                    if trigger is not None and self.forwarded[0] + len(data) >= trigger[0]:
                        data = data[:trigger[0] - self.forwarded[0]]
                        self._trigger = None
                    else:
                        trigger = None
            self.forwarded[index] += len(data)
            if self.recorded is not None:
                self.recorded[index].extend(data)
            if not self._is_cut():
                due = self._write(dst, relay.feed(data) if relay else data, due)
            if trigger is not None:
                self.cut(trigger[1])
                trigger[2].set()

    def _write(self, dst: int, data: bytes, due: float) -> float:
        """Write all of ``data`` unless cut or stopped, paced to ``rate``; returns the new due time."""
        view = memoryview(data)
        step = len(view) if self.rate is None else max(1, int(self.rate / 200))   # 5 ms slices
        while view and not self._stop.is_set() and not self._is_cut():
            if self.rate is not None:
                time.sleep(max(0.0, due - time.monotonic()))
            try:
                written = os.write(dst, view[:step])
            except BlockingIOError:
                select.select([], [dst], [], WAIT)
                continue
            view = view[written:]
            if self.rate is not None:
                due = max(due, time.monotonic()) + written / self.rate
        return due


class _Mangler:
    """Splits one direction's bytes into frames and decides each frame's fate."""

    def __init__(self, faults: Faults, index: int, counts: dict[str, int]) -> None:
        self.faults, self.counts = faults, counts
        self.rng = random.Random(faults.seed * 2 + index)
        self.pending = b""
        self.held: list[list] = []            # [frames still to wait, frame]

    def feed(self, data: bytes) -> bytes:
        *frames, self.pending = (self.pending + data).split(b"\x00")
        out = bytearray()
        for frame in frames:
            out += self._fate(frame + b"\x00") if frame else b"\x00"
            if frame:
                for entry in self.held:
                    entry[0] -= 1
                out += b"".join(frame for wait, frame in self.held if wait <= 0)
                self.held = [entry for entry in self.held if entry[0] > 0]
        return bytes(out)

    def flush(self) -> bytes:
        out = b"".join(frame for _, frame in self.held)
        self.held = []
        return out

    def _fate(self, frame: bytes) -> bytes:
        f, roll = self.faults, self.rng.random()
        for name, p in (("drop", f.drop), ("corrupt", f.corrupt), ("duplicate", f.duplicate), ("delay", f.delay)):
            if roll < p:
                self.counts[name] += 1
                break
            roll -= p
        else:
            return frame
        if name == "drop":
            return b""
        if name == "corrupt":
            mangled = bytearray(frame)
            mangled[self.rng.randrange(len(frame) - 1)] ^= self.rng.randrange(1, 256)
            return bytes(mangled)
        if name == "duplicate":
            return frame + frame
        self.held.append([self.rng.randint(1, 3), b"\x00" + frame])
        return b""
