"""The device's event log: append-only JSON lines, each naming the SHA-256 of the line before.

Every self-test, alarm, stop and clock change is a line here (docs/event-log.md gives the
format precisely). Lines are written whole with ``O_APPEND`` and fsynced before
:meth:`EventLog.append` returns; an flock on ``events/.lock`` lets two processes append
without forking the chain. A line cut short by a power cut is left as it is and the next
line goes into a new file, chained to the last complete line, so nothing is rewritten.
:meth:`EventLog.rotate` ends the newest file when a dock asks what to take: every file but
the new, empty one is then complete and never changes again.

``EventLog`` is the only writer of the log. A thread that must never wait for the card (the
recording's) appends through an :class:`EventQueue`; warnings logged by other modules reach
the log through an :class:`EventHandler`. Both only call :meth:`EventLog.append`.
"""
from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import logging
import os
import queue
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from evidence.eventlog import GENESIS, MAX_LINE_BYTES, log_files
from evidence.files import sync_directory
from evidence.paths import DataDir
from evidence.records import canonical  # one canonical JSON for the project: sorted keys, no floats

MAX_FILE_BYTES = 1 << 20  # then a new file, so the dock can take whole files


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
    except OSError:
        return "unknown"


@dataclass
class _Tail:
    path: Path | None  # the newest file, or None before the first event
    size: int
    seq: int
    hash: str
    complete: bool  # False: the file ends in a line cut short


class EventLog:
    """Appends events under ``<data_dir>/events/``; thread-safe, and safe beside other processes."""

    def __init__(self, data_dir: DataDir) -> None:
        self.folder = data_dir.events
        self._lock = threading.Lock()
        self._cached: _Tail | None = None
        self._boot = _boot_id()

    def append(self, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        """Write one event and make it durable; returns the record as written."""
        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            with open(self.folder / ".lock", "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                tail = self._tail()
                record = {"seq": tail.seq + 1, "prev": tail.hash, "type": kind, "wall_ns": time.time_ns(),
                          "mono_ns": time.monotonic_ns(), "boot": self._boot, "data": data}
                line = canonical(record)
                if len(line) >= MAX_LINE_BYTES:
                    raise ValueError(f"event '{kind}' is {len(line)} bytes; the limit is {MAX_LINE_BYTES}")
                path, new = tail.path, False
                if path is None or not tail.complete or tail.size + len(line) + 1 > MAX_FILE_BYTES:
                    path, new = self.folder / f"events-{_number(tail.path) + 1:06d}.jsonl", True
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | (os.O_EXCL if new else 0),
                             0o644)
                try:
                    # A short write (disk full) leaves a torn line: the next event starts a new file.
                    if os.write(fd, line + b"\n") != len(line) + 1:
                        raise OSError(errno.ENOSPC, f"the event log {path} is full")
                    os.fsync(fd)
                finally:
                    os.close(fd)
                if new:
                    sync_directory(self.folder)
                size = (0 if new else tail.size) + len(line) + 1
                self._cached = _Tail(path, size, record["seq"], hashlib.sha256(line).hexdigest(), True)
        return record

    def rotate(self) -> list[Path]:
        """End the newest file: the next event starts a new one. Returns every file but that
        new, empty one; none of them is ever written again, so each may be offered whole."""
        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            with open(self.folder / ".lock", "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                files = log_files(self.folder)
                if files and files[-1].stat().st_size:
                    files.append(self.folder / f"events-{_number(files[-1]) + 1:06d}.jsonl")
                    os.close(os.open(files[-1], os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644))
                    sync_directory(self.folder)
                return files[:-1]

    def _tail(self) -> _Tail:
        files = log_files(self.folder)
        cached = self._cached
        if cached and files and files[-1] == cached.path and cached.path.stat().st_size == cached.size:
            return cached  # nobody else wrote since our last line
        fresh = bool(files) and files[-1].stat().st_size == 0  # left by rotate(): the next line goes there
        for path in reversed(files):
            data = path.read_bytes()[-2 * MAX_LINE_BYTES:]
            lines = data.split(b"\n")
            torn = lines.pop() != b""
            if lines and lines[-1]:
                last = lines[-1]
                return _Tail(files[-1], files[-1].stat().st_size, json.loads(last)["seq"],
                             hashlib.sha256(last).hexdigest(), complete=fresh or (path == files[-1] and not torn))
        return _Tail(files[-1] if files else None, 0, -1, GENESIS, complete=fresh or not files)


def _number(path: Path | None) -> int:
    return 0 if path is None else int(path.stem.split("-")[1])


class EventQueue:
    """Appends to ``events`` on a thread of its own, in order: the caller (the recording
    thread) never waits for the log's fsync. Events still queued at close are written."""

    def __init__(self, events: EventLog) -> None:
        self.events = events
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="events", daemon=True)
        self._thread.start()

    def __call__(self, kind: str, data: dict[str, Any]) -> None:
        self._queue.put((kind, data))

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            try:
                self.events.append(*item)
            except (OSError, ValueError) as exc:  # the recording goes on; the failure is said
                print(f"bodycam: the event log could not keep a {item[0]} event: {exc}", file=sys.stderr)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()


class EventHandler(logging.Handler):
    """A ``logging`` handler that appends each record it is given to ``events`` as an event of
    ``kind_of(record)``: ``{"message", "module"}``. Its level and filters say which records."""

    def __init__(self, events: EventLog, kind_of: Callable[[logging.LogRecord], str],
                 level: int = logging.WARNING) -> None:
        super().__init__(level)
        self.events, self.kind_of = events, kind_of

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.events.append(self.kind_of(record), {"message": record.getMessage(), "module": record.name})
        except (OSError, ValueError):
            self.handleError(record)  # a full card: the warning still reaches the system log
