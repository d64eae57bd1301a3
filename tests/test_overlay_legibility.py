"""The overlay survives the real encoder: its time, police number and place read back with OCR from the files.

A 4 s recording at the embedded default's 1920x1080 and bitrate, with the overlay as configured
by default (top-left) except the offset (+08:00, so the expected text does not depend on this
machine's zone), on a clock nobody vouches for, as on a PC or on a device before its first
docking: the time is drawn all the same, with the unverified mark beside it. Every decoded
frame is read; the expected time is each frame's capture second from the frame index.
"""
from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone

import av
import numpy as np
import pytest

from firmware import config as configuration
from firmware.session import make_overlay, open_recorder
from overlay.status import OverlayStatus
from tests.conftest import index_records, segments, small_context
from tests.ocr import TIME_CHARACTERS, letters, read_lines

SECONDS = 4


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    default = configuration.load()
    context = small_context(tmp_path_factory.mktemp("spool"),
                            video={key: default["video"][key] for key in ("width", "height", "bitrate_kbps")},
                            overlay={"utc_offset": "+08:00"})
    unverified = OverlayStatus(clock_trusted=False)
    with open_recorder(context, with_microphone=False, overlay_status=unverified) as recorder:
        progress = recorder.run(SECONDS)
        boxes = recorder.frame_filter.boxes()
    return progress, boxes, context.config["video"]["fps"]


def test_time_and_police_number_read_back_from_every_frame(recording):
    progress, boxes, fps = recording
    assert boxes["time"][:2] < boxes["unverified"][:2] and boxes["time"][1] == boxes["unverified"][1]
    files = segments(progress.folder)
    records = [r for path in files for r in index_records(path)]
    police_number = records[0]["police_number"]
    capture_second = {r["pts"]: r["wall"] // 1_000_000_000 for r in records if "pts" in r}
    times, numbers, expected = [], [], []
    for path in files:
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                plane = frame.planes[0]
                luma = np.frombuffer(plane, np.uint8).reshape(frame.height, plane.line_size)[:, :frame.width]
                times.append(letters(luma, boxes["time"]))
                numbers.append(letters(luma, boxes["police_number"]))
                second = capture_second[round(frame.time * fps)]
                expected.append(datetime.fromtimestamp(second, timezone(timedelta(hours=8))).isoformat())
    assert len(expected) == progress.frames >= 2 * fps  # a camera starved of CPU may drop a few
    read_times = read_lines(times, TIME_CHARACTERS)
    read_numbers = read_lines(numbers, "0123456789")
    right = [t == e and n == police_number for t, n, e in zip(read_times, read_numbers, expected)]
    wrong = [(t, n, e) for t, n, e, ok in zip(read_times, read_numbers, expected, right) if not ok]
    assert sum(right) >= 0.99 * len(right), f"{len(wrong)} of {len(right)} frames misread, e.g. {wrong[:3]}"
    # The clock ticked during the recording, and each frame showed its own second.
    assert len(set(expected)) >= SECONDS


def test_bodycam_record_burns_the_gnss_position(tmp_path):
    path = tmp_path / "device.toml"
    path.write_text(f"""
[device]
data_dir = "{tmp_path / 'data'}"
[video]
width = 640
height = 360
[sources]
camera = "simulated:"
[overlay]
size = 6.0
utc_offset = "+08:00"
[gnss]
port = "simulated:39.9042,116.4074"
""")
    subprocess.run([sys.executable, "-m", "firmware", "record", "--seconds", "2", "--mic", "none", "--config", str(path)],
                   check=True, capture_output=True, timeout=120)
    [segment] = segments(next((tmp_path / "data" / "spool").iterdir()))
    header = index_records(segment)[0]
    # Where the recorder drew the place: the same overlay, drawn here with that place.
    overlay = make_overlay(configuration.load(path), header, OverlayStatus(location=(39.9042, 116.4074)))
    overlay.draw(np.zeros((360 * 3 // 2, 640), np.uint8), header["start_pts"])
    with av.open(str(segment)) as container:
        frames = [frame for frame in container.decode(video=0)]
    places = []
    for frame in (frames[0], frames[-1]):
        plane = frame.planes[0]
        luma = np.frombuffer(plane, np.uint8).reshape(frame.height, plane.line_size)[:, :frame.width]
        places.append(letters(luma, overlay.boxes()["location"]))
    assert read_lines(places, "0123456789.NSEW ") == ["39.90420N 116.40740E"] * 2
