"""Small real filesystems for the storage tests: a tmpfs mounted for one test, remountable read-only."""
from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path
from typing import Iterator

import pytest


def _mount(*args: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["mount", *args], capture_output=True, text=True)
    except FileNotFoundError:
        return subprocess.CompletedProcess(["mount"], 127, "", "no mount command")


def remount(path: Path, mode: str) -> None:
    done = _mount("-o", f"remount,{mode}", str(path))
    assert done.returncode == 0, done.stderr


@contextlib.contextmanager
def mounted_tmpfs(point: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` (e.g. "3m") on a new folder ``point``, which no other process fills;
    the test is skipped (only) where this sandbox cannot mount, e.g. without root."""
    point.mkdir()
    done = _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point))
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or 'mount failed'})")
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], check=True)


@pytest.fixture
def tmpfs(tmp_path):
    """A 3 MiB tmpfs."""
    with mounted_tmpfs(tmp_path / "card", "3m") as point:
        yield point
