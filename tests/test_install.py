"""The built package installs and runs: the wheel, not the source tree, in clean virtual
environments from the configured package index, once with the station's extra alone and once
with the device's. Slow (two installs, minutes) but part of the suite: an editable install
hides any module or asset the wheel leaves out."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.web import wait_for

ROOT = Path(__file__).resolve().parent.parent
CHINESE = {"LANG": "zh_CN.UTF-8", "LC_ALL": "", "LC_MESSAGES": "", "LANGUAGE": ""}
SMALL_DEVICE = """
[device]
serial = "BC00077"
[video]
width = 320
height = 240
fps = 15
bitrate_kbps = 400
[recording]
segment_seconds = 2
[sources]
camera = "simulated:"
microphone = "simulated:"
"""


def run(*command: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    done = subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=900, check=False,
                          env=env, cwd=cwd)
    assert done.returncode == 0, f"{command} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from a copy of the tracked (and new, unignored) files: no build leftovers
    in the tree, nothing untracked in the wheel."""
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheel")
    files = run("git", "ls-files", "--cached", "--others", "--exclude-standard", "-z", cwd=ROOT).split("\0")
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", out, source)
    [built] = out.glob("bodycam-*.whl")
    return built


def installed(folder: Path, wheel: Path, extra: str) -> Path:
    """A new virtual environment with ``wheel[extra]`` installed; its bin folder."""
    run(sys.executable, "-m", "venv", folder)
    run(folder / "bin" / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check", f"{wheel}[{extra}]")
    return folder / "bin"


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without this checkout on the path or a station configuration from elsewhere."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "BODYCAM_STATION_CONFIG",
                                                            "BODYCAM_CATALOGUE", "VIRTUAL_ENV")}
    return {**env, **extra}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_station_wheel_alone_gives_a_working_bodycam_station(tmp_path, wheel):
    bin_dir = installed(tmp_path / "venv", wheel, "station")
    station = bin_dir / "bodycam-station"
    env = clean_env(BODYCAM_NEW_PASSWORD="a long enough password")
    assert "pull" in run(station, "--help", env=env, cwd=tmp_path)
    assert "用法" in run(station, "--help", env={**env, **CHINESE}, cwd=tmp_path)           # the wheel's .mo
    assert run(station, "completion", "bash", env=env, cwd=tmp_path).count("search") > 0                  # shtab
    units = Path(run(station, "units", env=env, cwd=tmp_path).strip())       # shipped in the wheel, not the tree
    assert units.is_relative_to(tmp_path / "venv"), units
    shipped = sorted(path.name for path in units.iterdir())
    assert shipped == sorted(path.name for path in (ROOT / "station" / "systemd").iterdir())
    assert shipped == ["70-bodycam-dock.rules", "bodycam-dock.service", "bodycam-web.service", "station.toml"]
    assert 'archive = "/srv/bodycam"' in run(station, "config", "--config", units / "station.toml", env=env, cwd=tmp_path)
    archive = tmp_path / "archive"
    assert "dock key" in run(station, "init", "--archive", archive, env=env, cwd=tmp_path)
    run(station, "user", "add", "admin", "--role", "administrator", "--archive", archive, env=env, cwd=tmp_path)
    port = free_port()
    (tmp_path / "station.toml").write_text(f'archive = "{archive}"\n[web]\nport = {port}\n', encoding="utf-8")
    server = subprocess.Popen([station, "web", "--config", tmp_path / "station.toml"], env=env, cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        def login_page() -> str | None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as answer:
                    return answer.read().decode("utf-8")
            except OSError:
                assert server.poll() is None, f"the web page stopped: {server.stdout.read()}"
                return None
        page = wait_for(login_page, "the review page's login page", deadline_s=60)
        assert 'name="password"' in page
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_device_wheel_records_and_verifies(tmp_path, wheel):
    bin_dir = installed(tmp_path / "venv", wheel, "device")
    env = clean_env()
    config = tmp_path / "device.toml"
    config.write_text(SMALL_DEVICE, encoding="utf-8")
    data = tmp_path / "data"
    assert "record" in run(bin_dir / "bodycam", "--help", env=env, cwd=tmp_path)
    assert "用法" in run(bin_dir / "bodycam", "--help", env={**env, **CHINESE}, cwd=tmp_path)  # the wheel's .mo
    run(bin_dir / "bodycam", "record", "--seconds", "3", "--config", config, "--data-dir", data, env=env, cwd=tmp_path)
    segments = sorted(data.glob("spool/*/seg-*.mp4"))
    assert segments, f"no segments in {data}"
    verified = run(bin_dir / "bodycam", "verify", data / "spool", "--key", data / "device" / "device.pub",
                   env=env, cwd=tmp_path)
    assert [line.split()[-1] for line in verified.splitlines() if "seg-" in line] == ["OK"] * len(segments)
