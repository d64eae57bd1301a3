"""One writer per data directory: an flock on ``<data_dir>/writer.lock``.

``bodycam record``, ``run``, ``serve`` and ``provision`` take it before they write or
recover anything and hold it for the life of the process, so two recorders never share a
chain and power-cut recovery never seals a session whose writer is still alive. Within one
process the lock is shared (the service's dock link runs beside its recorder); the file
holds the holder's pid, so a second process can say who holds it.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from pathlib import Path
from typing import Iterator

from bodycam_errors import BodycamError
from evidence.paths import DataDir


class DataDirBusy(BodycamError, OSError):
    """Another process writes this data directory."""


_held: dict[Path, list[int]] = {}      # data directory -> [fd, holders in this process]
_guard = threading.Lock()


def acquire(data_dir: DataDir) -> None:
    """Take the writer lock of ``data_dir`` (or count one more holder in this process);
    raises :class:`DataDirBusy` naming the other process's pid."""
    path = data_dir.lock.resolve()     # one key however the directory was spelt
    with _guard:
        if path in _held:
            _held[path][1] += 1
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise DataDirBusy(f"{path.parent} is being written by another bodycam process (pid {holder}); "
                              f"only one may record or serve it at a time.") from None
        pid = f"{os.getpid()}\n".encode("ascii")
        os.pwrite(fd, pid, 0)          # then cut what a longer old pid left: never an empty file
        os.ftruncate(fd, len(pid))
        _held[path] = [fd, 1]


def _holder(fd: int, patience: float = 1.0) -> str:
    """The pid in the lock file; the holder writes it just after it locks, so wait a moment for it."""
    deadline = time.monotonic() + patience
    while True:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        if text.isdigit() or time.monotonic() > deadline:
            return text or "unknown"
        time.sleep(0.01)


def release(data_dir: DataDir) -> None:
    path = data_dir.lock.resolve()
    with _guard:
        entry = _held.get(path)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] == 0:
            del _held[path]
            os.close(entry[0])        # closing the descriptor ends the flock


@contextlib.contextmanager
def writing(data_dir: DataDir) -> Iterator[None]:
    """Hold the writer lock of ``data_dir`` for the block."""
    acquire(data_dir)
    try:
        yield
    finally:
        release(data_dir)
