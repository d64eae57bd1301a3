"""``make arm64-check`` says which extra it proved: "passed" only when the pi extra installed and
ran; a run that could install the device extra alone names the pi extra as not proven and exits 2.
(The check itself needs root, binfmt_misc and downloads, 14-20 min: not run here.)"""
from __future__ import annotations

import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "arm64-check.sh"


def reported(extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", str(SCRIPT), "--report", extra], capture_output=True, text=True, check=False)


def test_a_run_that_installed_the_device_extra_alone_does_not_say_passed():
    done = reported("device")
    assert done.returncode == 2 and "passed" not in done.stderr
    lines = done.stderr.splitlines()
    assert lines[0].startswith("arm64-check: pi extra NOT proven: not installable from the package index")
    assert "PiDNG is sdist-only for aarch64" in lines[0]
    assert lines[1].startswith("arm64-check: device extra installed from aarch64 wheels and run under qemu-aarch64")


def test_a_run_that_installed_the_pi_extra_passes():
    done = reported("pi")
    assert done.returncode == 0
    assert done.stderr == "arm64-check: passed: bodycam[pi] installed from aarch64 wheels and run under qemu-aarch64\n"
