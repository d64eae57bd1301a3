"""The clocks: the battery-backed RTC and the kernel's view of its own synchronisation.

An RTC is chosen by a string: ``sysfs:/sys/class/rtc/rtc0``, ``simulated:`` or
``simulated:OFFSET`` (seconds ahead of system time), and ``auto`` (rtc0 if the kernel has
one, else simulated). The kernel's synchronisation status is read with adjtimex(2) in
read-only mode; it is the same call on every Linux, so it has no twin.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from hw import HardwareError
from hw.base import Adapter

RTC0 = Path("/sys/class/rtc/rtc0")
STA_UNSYNC = 0x0040
TIME_ERROR = 5


class Rtc(Adapter):
    """Base class of the RTC adapters.

    A subclass must set ``description`` and override :meth:`read`; it may override ``_close``
    and set ``simulated`` (:class:`~hw.base.Adapter`).
    """

    description = "RTC"

    def read(self) -> float:
        """The RTC's time in seconds since the epoch (UTC); raises HardwareError when it cannot be read
        (AdapterClosed once closed)."""
        raise NotImplementedError


class SysfsRtc(Rtc):
    """An RTC the kernel knows: ``since_epoch`` in ``/sys/class/rtc/rtcN`` (any root, so tests use a fake tree)."""

    def __init__(self, root: str | Path = RTC0) -> None:
        self.root = Path(root)
        self.description = f"RTC {self.root}"

    def read(self) -> float:
        self._check_open()
        try:
            return float((self.root / "since_epoch").read_text(encoding="ascii").strip())
        except (OSError, ValueError) as exc:
            # A read fails with EINVAL when the RTC lost its time (flat backup cell).
            raise HardwareError(f"cannot read the RTC {self.root}: {exc}") from exc


class SimulatedRtc(Rtc):
    """An RTC that follows system time, ``offset`` seconds ahead, at the RTC's one-second resolution."""

    simulated = True

    def __init__(self, offset: float = 0.0, now: Callable[[], float] = time.time) -> None:
        self.offset, self._now = offset, now
        self.description = "simulated RTC (no RTC found: follows system time)"

    def read(self) -> float:
        self._check_open()
        return float(int(self._now() + self.offset))


@dataclass(frozen=True)
class KernelSync:
    """The kernel's own word on its clock: synchronised to a reference, and its error bound."""

    synchronised: bool
    max_error_us: int
    state: int  # adjtimex's return value: TIME_OK 0 .. TIME_ERROR 5


class _Timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


class _Timex(ctypes.Structure):
    # struct timex of <sys/timex.h>; ctypes lays it out with the platform's alignment.
    _fields_ = [("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
                ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long), ("status", ctypes.c_int),
                ("constant", ctypes.c_long), ("precision", ctypes.c_long), ("tolerance", ctypes.c_long),
                ("time", _Timeval), ("tick", ctypes.c_long), ("ppsfreq", ctypes.c_long),
                ("jitter", ctypes.c_long), ("shift", ctypes.c_int), ("stabil", ctypes.c_long),
                ("jitcnt", ctypes.c_long), ("calcnt", ctypes.c_long), ("errcnt", ctypes.c_long),
                ("stbcnt", ctypes.c_long), ("tai", ctypes.c_int), ("_padding", ctypes.c_int * 11)]


_libc: ctypes.CDLL | None = None


def kernel_sync() -> KernelSync:
    """Ask the kernel (adjtimex with modes 0: read only, no privilege needed) whether its clock is synchronised."""
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    timex = _Timex()  # modes = 0: change nothing
    state = _libc.adjtimex(ctypes.byref(timex))
    if state < 0:
        raise HardwareError(ctypes.get_errno(), "adjtimex failed")
    synchronised = not timex.status & STA_UNSYNC and state != TIME_ERROR
    return KernelSync(synchronised, int(timex.maxerror), state)
