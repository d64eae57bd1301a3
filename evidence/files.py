"""File helpers that evidence depends on: streaming SHA-256, durable names, atomic replacement,
files created once and never opened for writing again."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

READ_ONLY = 0o444


def sha256_file(path: Path, size: int | None = None) -> "hashlib._Hash":
    """SHA-256 of a file (of its first ``size`` bytes), read a megabyte at a time; returns the hash object."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        remaining = size
        while remaining is None or remaining > 0:
            block = fh.read(1 << 20 if remaining is None else min(1 << 20, remaining))
            if not block:
                break
            digest.update(block)
            remaining = None if remaining is None else remaining - len(block)
    return digest


def sync_directory(path: Path) -> None:
    """fsync a directory so that the names created in it survive a power cut."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` so that a power cut leaves the old or the new bytes, never a mix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    _write_durably(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode), data)
    os.replace(temporary, path)
    sync_directory(path.parent)


def create_append_only(path: Path) -> int:
    """Create ``path`` (``O_EXCL``: an existing file is never opened for writing again), read-only
    on disk and opened for appending only, its name made durable; returns the descriptor.
    Raises ``FileExistsError`` or another ``OSError`` as the system does."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, READ_ONLY)
    try:
        sync_directory(path.parent)
    except OSError:
        os.close(fd)
        raise
    return fd


def write_once(path: Path, data: bytes) -> None:
    """Store ``data`` as the new file ``path`` (:func:`create_append_only`), durably."""
    _write_durably(create_append_only(path), data)


def write_secret_once(path: Path, data: bytes) -> None:
    """Store ``data`` (a private key) as the new file ``path``, readable by its owner alone,
    durably. Raises ``FileExistsError`` if ``path`` exists: a key is never replaced."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_durably(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600), data)
    sync_directory(path.parent)


def _write_durably(fd: int, data: bytes) -> None:
    """Write all of ``data`` to ``fd``, fsync and close it."""
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
