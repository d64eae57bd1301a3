"""File helpers that evidence depends on: streaming SHA-256, durable names, atomic replacement."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path


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
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    sync_directory(path.parent)
