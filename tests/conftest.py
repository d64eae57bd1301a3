"""Shared helpers: small real recordings made with the simulated devices and the real encoders."""
from __future__ import annotations

import gc
import glob
import json
import shutil
from pathlib import Path

import av
import numpy as np
import pytest

from firmware import config as configuration
from firmware.context import DeviceContext, device_context
from firmware.session import open_recorder
from hw.simulated import read_barcode

SMALL = {"video": {"width": 320, "height": 240, "fps": 30, "bitrate_kbps": 600},
         "recording": {"segment_seconds": 2},
         "sources": {"camera": "simulated:", "microphone": "simulated:"}}


def small_config(data_dir: Path, **sections: dict) -> configuration.Config:
    overrides = {name: dict(keys) for name, keys in SMALL.items()}
    overrides["device"] = {"data_dir": str(data_dir)}
    for name, keys in sections.items():
        overrides.setdefault(name, {}).update(keys)
    return configuration.load().with_overrides(overrides)


def small_context(data_dir: Path, **sections: dict) -> DeviceContext:
    """The device context of :func:`small_config`: what the recorder, the self-test and the offload take."""
    return device_context(small_config(data_dir, **sections))


# The device's other parts, all simulated, for tests that run the whole device (buttons held 1 s).
SIMULATED_PARTS = """
[gpio]
pin_factory = "simulated:"
hold_seconds = 1.0
power_hold_seconds = 1.0
[battery]
main = "simulated:"
backup = "simulated:"
[clock]
rtc = "simulated:"
[gnss]
port = "none"
"""


def write_config(tmp_path: Path, extra: str = "", camera: str = "simulated:", segment_seconds: int = 60) -> Path:
    """A small config file for tests that run the ``bodycam`` command; ``extra`` is more TOML tables."""
    path = tmp_path / "device.toml"
    path.write_text(f"""
[device]
data_dir = "{tmp_path / 'data'}"
[video]
width = 320
height = 240
[recording]
segment_seconds = {segment_seconds}
[sources]
camera = "{camera}"
microphone = "simulated:"
{extra}
""")
    return path


def record(data_dir: Path, seconds: float, **sections: dict):
    with open_recorder(small_context(data_dir, **sections)) as recorder:
        return recorder.run(seconds)


def segments(folder: Path) -> list[Path]:
    return sorted(Path(p) for p in glob.glob(str(folder / "seg-*.mp4")))


def index_records(segment: Path) -> list[dict]:
    return [json.loads(line) for line in segment.with_name(segment.name + ".idx").read_text().splitlines()]


def decode_video(path: Path) -> list[tuple[int, float, int, float]]:
    """(pts, time, barcode number, mean luma) of every frame that decodes."""
    frames = []
    with av.open(str(path)) as container:
        try:
            for frame in container.decode(video=0):
                plane = frame.planes[0]
                y = np.frombuffer(plane, np.uint8).reshape(frame.height, plane.line_size)[:, :frame.width]
                frames.append((frame.pts, frame.time, read_barcode(y), float(y.mean())))
        except av.FFmpegError:
            pass  # a tail cut short by a power cut ends decoding, as in any player
    return frames


def decode_audio(path: Path) -> list[tuple[int, int, np.ndarray]]:
    """(pts, sample rate, samples of channel 0) of every audio frame that decodes."""
    out = []
    with av.open(str(path)) as container:
        try:
            for frame in container.decode(audio=0):
                out.append((frame.pts, frame.sample_rate, frame.to_ndarray()[0]))
        except av.FFmpegError:
            pass
    return out


@pytest.fixture(scope="session")
def recording(tmp_path_factory):
    """One 7 s recording in 2 s segments: four segments, three boundaries."""
    data_dir = tmp_path_factory.mktemp("spool")
    progress = record(data_dir, 7)
    return progress


def copy_archive(source: Path, target: Path) -> Path:
    """A copy of a pulled archive for one test. Catalogue connections that earlier tests left to
    the garbage collector are closed first: SQLite removes its -wal and -shm files as the last
    connection closes, which must not happen while the copy lists and reads them."""
    gc.collect()
    shutil.copytree(source, target)
    return target
