"""The pipeline between recordings: pre-event buffer, record on request, markers, stop reasons."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from capture import CaptureError
from evidence.eventlog import log_files
from evidence.paths import DataDir
from evidence.records import read_record
from evidence.verify import verify_paths
from firmware.session import open_recorder
from tests.conftest import decode_audio, decode_video, index_records, segments, small_context, write_config
from tests.waiting import wait_for


@pytest.fixture(scope="module")
def buffered_session(tmp_path_factory):
    """Standby with a 2 s buffer; press once it is full; mark a frame; stop with a reason."""
    data_dir = tmp_path_factory.mktemp("pre")
    context = small_context(data_dir, recording={"pre_event_seconds": 2, "segment_seconds": 2})
    with open_recorder(context) as pipeline:
        pipeline.start()
        wait_for(lambda: pipeline.buffer_seconds() >= 2.0, "a full buffer")
        buffered = pipeline.buffer_seconds()
        pressed_wall = time.time_ns()
        progress = pipeline.start_recording()
        wait_for(lambda: progress.frames >= progress.pre_event_frames + 30, "a second of live frames")
        marker = pipeline.add_marker("party objects")
        wait_for(lambda: progress.frames >= progress.pre_event_frames + 75, "1.5 s more of live frames")
        pipeline.stop_recording("end of enforcement")
        after_stop = wait_for(pipeline.buffer_seconds, "the buffer filling again after the stop")
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
    assert progress.done.is_set() and after_stop > 0


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
    context = small_context(tmp_path, recording={"pre_event_seconds": 2})
    with open_recorder(context) as pipeline:
        read, captured = pipeline.camera.read, [0]

        def counted():
            captured[0] += 1
            return read()

        pipeline.camera.read = counted
        pipeline.start()
        wait_for(lambda: pipeline.buffer_bytes() > 0, "buffering")
        pipeline.set_buffering(False)
        assert pipeline.buffer_bytes() == 0
        docked_at = captured[0]
        wait_for(lambda: captured[0] >= docked_at + 15, "half a second of frames while docked")
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
    context = small_context(tmp_path, recording={"pre_event_seconds": 0, "segment_seconds": 2})
    slow = {"frames": 0}

    def lagging(frame):
        slow["frames"] += 1
        if slow["frames"] > 35:
            time.sleep(0.06)  # the last frames at twice their interval: the worker ends ~0.7 s behind

    with open_recorder(context) as pipeline:
        pipeline.frame_filter = lagging
        progress = pipeline.run(2)
    files = segments(progress.folder)
    frames = [r for f in files for r in index_records(f) if "type" not in r]
    assert frames[-1]["pts"] < 60 and (frames[-1]["mono"] - frames[0]["mono"]) / 1e9 < 2
    video_end = decode_video(files[-1])[-1][1] + 1 / 30
    audio = [piece for f in files for piece in decode_audio(f)]
    audio_end = (audio[-1][0] + len(audio[-1][2])) / 48000
    assert abs(audio_end - video_end) <= 2 * 1024 / 48000


def logged(data_dir, kind):
    folder = DataDir(data_dir).events
    return [event["data"] for path in log_files(folder) for event in map(json.loads, path.read_text().splitlines())
            if event["type"] == kind]


def test_frames_lost_while_recording_are_counted_and_logged_by_their_place(tmp_path):
    context = small_context(tmp_path, recording={"pre_event_seconds": 0, "segment_seconds": 60})
    stalls = {"frames": 0}

    def stalling(frame):
        stalls["frames"] += 1
        if stalls["frames"] == 20:
            time.sleep(1.5)  # longer than the camera's 1 s queue: the frames after it are lost

    with open_recorder(context) as pipeline:
        pipeline.frame_filter = stalling
        progress = pipeline.run(3)
    pts = [r["pts"] for f in segments(progress.folder) for r in index_records(f) if "type" not in r]
    gaps = [[a + 1, b - 1] for a, b in zip(pts, pts[1:]) if b > a + 1]
    assert progress.dropped == sum(b - a + 1 for a, b in gaps) > 0
    events = logged(tmp_path, "frames_dropped")
    assert [gap for event in events for gap in event["pts"]] == gaps
    assert {event["session"] for event in events} == {progress.session_id}
    assert sum(event["count"] for event in events) == progress.dropped


def test_the_capture_threads_and_the_encoders_threads_take_the_configured_priority(tmp_path):
    context = small_context(tmp_path, recording={"capture_nice": 7})  # up from 0: allowed without privilege
    before = _thread_nices()
    with open_recorder(context) as pipeline:
        pipeline.start()
        wait_for(lambda: pipeline.buffer_bytes() > 0, "buffering")
        during = _thread_nices()
        names = {thread.native_id: thread.name for thread in threading.enumerate()}
    # New threads: ours by name, the encoders' (libx264's) without one; the event writer is not capture.
    new = [(names.get(tid, "native"), nice) for tid, nice in during.items() if tid not in before]
    new = [(name, nice) for name, nice in new if name != "events"]
    assert {name for name, _ in new} == {"pipeline", "camera", "microphone", "native"}
    assert {nice for _, nice in new} == {7}, new
    assert during[threading.get_native_id()] == before[threading.get_native_id()]


def _thread_nices() -> dict[int, int]:
    """Each thread of this process and its nice value (/proc/self/task/*/stat, field 19)."""
    nices = {}
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(OSError):
            nices[int(task.name)] = int((task / "stat").read_text().rsplit(")", 1)[1].split()[16])
    return nices


def test_a_priority_the_process_may_not_take_is_refused_with_an_event(tmp_path):
    config = write_config(tmp_path)  # the default capture_nice, -10: below the process's own
    command = [sys.executable, "-m", "firmware", "record", "--seconds", "1", "--config", str(config)]
    if os.geteuid() == 0:  # root may take any priority: the recorder runs without CAP_SYS_NICE
        assert shutil.which("setpriv"), "setpriv (util-linux) is needed to run the recorder without CAP_SYS_NICE"
        command = ["setpriv", "--bounding-set=-sys_nice", "--inh-caps=-sys_nice", *command]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    [event] = logged(tmp_path / "data", "priority_refused")
    assert event["nice"] == -10 and "cannot give the capture threads nice -10" in event["message"]
    [session] = (tmp_path / "data" / "spool").iterdir()
    assert segments(session)
