"""The filesystem the spool lives on: present, writable, how fast, how full.

There is no simulated twin: the adapter works on any directory, so the tests use real
small filesystems (tmpfs, remounted read-only) instead of a simulation.
"""
from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

from hw import HardwareError
from hw.base import Adapter

PROBE_BYTES = 4096


@dataclass(frozen=True)
class StorageReading:
    present: bool  # False: the card's mount point has nothing mounted on it
    read_only: bool
    total_bytes: int
    free_bytes: int  # what an unprivileged writer may still use


class Storage(Adapter):
    """The filesystem holding ``path``; ``card_mount`` (when given) must have a filesystem mounted on it.

    It owns nothing to release: closing only makes :meth:`read` and :meth:`probe` refuse.
    """

    def __init__(self, path: str | Path, card_mount: str | Path | None = None) -> None:
        self.path = Path(path)
        self.card_mount = Path(card_mount) if card_mount else None
        self.description = f"filesystem of {self.path}" + (f" (card at {self.card_mount})" if self.card_mount else "")

    def read(self) -> StorageReading:
        self._check_open()
        present = self.card_mount is None or os.path.ismount(self.card_mount)
        # The data directory may not exist yet: recording creates it on the same filesystem.
        where = self.path
        while not where.exists() and where != where.parent:
            where = where.parent
        try:
            stat = os.statvfs(where)
        except OSError as exc:
            raise HardwareError(f"cannot read the filesystem of {self.path}: {exc.strerror}") from exc
        return StorageReading(present, bool(stat.f_flag & os.ST_RDONLY), stat.f_blocks * stat.f_frsize,
                              stat.f_bavail * stat.f_frsize)

    def probe(self) -> float:
        """Write and fsync a small file in ``path`` and remove it; returns the seconds it took."""
        self._check_open()
        probe = self.path / f".probe-{os.getpid()}"
        started = time.perf_counter()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            try:
                os.write(fd, b"\0" * PROBE_BYTES)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise HardwareError(f"cannot write to {self.path}: {exc.strerror}") from exc
        finally:
            with contextlib.suppress(OSError):
                probe.unlink()
        return time.perf_counter() - started
