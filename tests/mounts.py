"""Small real filesystems for the storage tests: a tmpfs mounted for one test, remountable read-only."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest


def _mount(*args: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["mount", *args], capture_output=True, text=True)
    except FileNotFoundError:
        return subprocess.CompletedProcess(["mount"], 127, "", "no mount command")


def remount(path: Path, mode: str) -> None:
    done = _mount("-o", f"remount,{mode}", str(path))
    assert done.returncode == 0, done.stderr


@pytest.fixture
def tmpfs(tmp_path):
    """A 3 MiB tmpfs; skipped (only) where this sandbox cannot mount, e.g. without root."""
    point = tmp_path / "card"
    point.mkdir()
    done = _mount("-t", "tmpfs", "-o", "size=3m", "tmpfs", str(point))
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or 'mount failed'})")
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], check=True)
