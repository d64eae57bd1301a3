"""The pipeline between recordings: pre-event buffer, record on request, markers, stop reasons."""
from __future__ import annotations

import time

import numpy as np
import pytest

from capture import CaptureError
from evidence.records import read_record
from evidence.verify import verify_paths
from firmware.session import open_recorder
from tests.conftest import decode_audio, decode_video, index_records, segments, small_config


def wait_for(condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def buffered_session(tmp_path_factory):
    """Standby with a 2 s buffer; press once it is full; mark a frame; stop with a reason."""
    data_dir = tmp_path_factory.mktemp("pre")
    config = small_config(data_dir, recording={"pre_event_seconds": 2, "segment_seconds": 2})
    with open_recorder(config) as pipeline:
        pipeline.start()
        wait_for(lambda: pipeline.buffer_seconds() >= 2.0)
        buffered = pipeline.buffer_seconds()
        pressed_wall = time.time_ns()
        progress = pipeline.start_recording()
        time.sleep(1.0)
        marker = pipeline.add_marker("party objects")
        time.sleep(1.5)
        pipeline.stop_recording("end of enforcement")
        after_stop = pipeline.buffer_seconds()
    return progress, buffered, pressed_wall, marker, after_stop


def test_buffer_holds_whole_gops_of_the_configured_length(buffered_session):
    _, buffered, _, _, _ = buffered_session
    assert 2.0 <= buffered < 3.0


def test_buffered_footage_starts_the_recording_gapless_with_the_live_part(buffered_session):
    progress, buffered, pressed_wall, _, _ = buffered_session
    files = segments(progress.folder)
    numbers = [n for f in files for (_, _, n, _) in decode_video(f)]
    assert np.all(np.diff(numbers) == 1)
    frames = [r for f in files for r in index_records(f) if "type" not in r]
    assert [r["n"] for r in frames] == list(range(len(frames)))
    assert frames[0]["pts"] == 0
    first_wall = frames[0]["wall"]
    assert (pressed_wall - first_wall) / 1e9 == pytest.approx(buffered, abs=0.2)
    opened = read_record(progress.folder / "session-open.json").body
    assert opened["pre_event_ms"] / 1000 == pytest.approx(buffered, abs=0.2)
    assert progress.pre_event_frames >= 2 * 30


def test_pre_event_part_is_video_only(buffered_session):
    progress, buffered, _, _, _ = buffered_session
    first_audio = min(pts / rate for f in segments(progress.folder) for (pts, rate, _) in decode_audio(f))
    assert first_audio == pytest.approx(buffered, abs=0.1)


def test_marker_lands_in_the_manifest_at_the_marked_frame(buffered_session):
    progress, _, _, marker, _ = buffered_session
    marked = []
    for path in segments(progress.folder):
        body = read_record(path.with_name(path.name + ".manifest")).body
        for mark in body["markers"]:
            marked.append((path, mark, body["flags"]))
    [(path, mark, flags)] = marked
    assert mark["label"] == "party objects" and "marked" in flags
    frame = next(r for r in index_records(path) if r.get("n") == mark["n"])
    assert frame["wall"] == marker["wall"] == mark["wall"]
    assert frame["pts"] == mark["pts"] == marker["session_pts"]


def test_stop_reason_is_sealed_and_the_session_verifies(buffered_session):
    progress, _, _, _, after_stop = buffered_session
    closed = read_record(progress.folder / "session-close.json").body
    assert closed["reason"] == "end of enforcement"
    [verdict] = verify_paths([progress.folder])
    assert verdict.ok, verdict.problems
    # After the stop, standby fills the buffer again.
    assert progress.done.is_set()


def test_audio_covers_the_session_to_its_last_frame(buffered_session):
    progress, *_ = buffered_session
    files = segments(progress.folder)
    last_frame = decode_video(files[-1])[-1][1] + 1 / 30
    audio = [piece for f in files for piece in decode_audio(f)]
    pieces = [(pts, len(s)) for pts, _, s in audio]
    for (pts, size), (next_pts, _) in zip(pieces, pieces[1:]):
        assert next_pts == pts + size
    end = (pieces[-1][0] + pieces[-1][1]) / 48000
    assert last_frame <= end < last_frame + 2 * 1024 / 48000


def test_docked_pipeline_keeps_no_buffer_and_can_still_record(tmp_path):
    config = small_config(tmp_path, recording={"pre_event_seconds": 2})
    with open_recorder(config) as pipeline:
        pipeline.start()
        wait_for(lambda: pipeline.buffer_bytes() > 0)
        pipeline.set_buffering(False)
        assert pipeline.buffer_bytes() == 0
        time.sleep(0.5)
        assert pipeline.buffer_bytes() == 0
        with pytest.raises(CaptureError, match="no recording to mark"):
            pipeline.add_marker()
        progress = pipeline.start_recording(seconds=1)
        assert progress.done.wait(10)
    frames = [r for f in segments(progress.folder) for r in index_records(f) if "type" not in r]
    assert len(frames) == 30 and progress.pre_event_frames == 0
    assert decode_video(segments(progress.folder)[0])[0][0] == 0


def test_a_late_pipeline_keeps_sound_and_duration_true_to_the_pictures(tmp_path):
    """When encoding falls behind the camera, --seconds still means time, and sound ends with the pictures."""
    config = small_config(tmp_path, recording={"pre_event_seconds": 0, "segment_seconds": 2})
    slow = {"frames": 0}

    def lagging(frame):
        slow["frames"] += 1
        if slow["frames"] > 35:
            time.sleep(0.06)  # the last frames at twice their interval: the worker ends ~0.7 s behind

    with open_recorder(config) as pipeline:
        pipeline.frame_filter = lagging
        progress = pipeline.run(2)
    files = segments(progress.folder)
    frames = [r for f in files for r in index_records(f) if "type" not in r]
    assert frames[-1]["pts"] < 60 and (frames[-1]["mono"] - frames[0]["mono"]) / 1e9 < 2
    video_end = decode_video(files[-1])[-1][1] + 1 / 30
    audio = [piece for f in files for piece in decode_audio(f)]
    audio_end = (audio[-1][0] + len(audio[-1][2])) / 48000
    assert abs(audio_end - video_end) <= 2 * 1024 / 48000
