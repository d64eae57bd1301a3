"""A power cut (SIGKILL) mid-segment loses at most about a second: the rest plays, and is sealed at restart."""
from __future__ import annotations

import signal
import subprocess
import sys
import time

import numpy as np

from evidence.records import read_record
from evidence.verify import verify_paths
from tests.conftest import decode_video, index_records, segments, write_config


def test_sigkill_mid_segment_leaves_a_playable_file(tmp_path):
    config = write_config(tmp_path, segment_seconds=10)
    recorder = subprocess.Popen([sys.executable, "-m", "firmware", "record", "--config", str(config)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        index = _wait_for_fragments(tmp_path / "data" / "spool", count=3)
        time.sleep(0.5)  # land between two fragment flushes
        killed_at = time.time_ns()
        recorder.send_signal(signal.SIGKILL)
        recorder.wait(timeout=10)
    finally:
        if recorder.poll() is None:
            recorder.kill()
    [segment] = segments(index.parent)
    records = index_records(segment)
    assert records[-1].get("type") != "end", "the segment was cut, not closed"
    frames = decode_video(segment)
    numbers = [n for (_, _, n, _) in frames]
    assert len(numbers) >= 60 and np.all(np.diff(numbers) == 1)
    first_wall = next(r["wall"] for r in records if "type" not in r)
    last_wall = first_wall + (numbers[-1] - numbers[0]) * 1e9 / 30
    lost_seconds = (killed_at - last_wall) / 1e9
    assert lost_seconds <= 1.5, f"{lost_seconds:.2f} s lost"
    # Every fragment the index calls complete is whole on disk.
    data = segment.read_bytes()
    for part in (r for r in records if r.get("type") == "fragment"):
        assert part["offset"] + part["size"] <= len(data)
    # Starting again seals the cut segment from its completed fragments; nothing is rewritten.
    before = data
    restart = subprocess.run([sys.executable, "-m", "firmware", "record", "--seconds", "1", "--config", str(config)],
                             check=True, capture_output=True, text=True, timeout=60)
    assert f"recovered {segment.parent.name}/{segment.name}" in restart.stdout
    assert segment.read_bytes() == before
    assert len(list((tmp_path / "data" / "spool").iterdir())) == 2
    manifest = read_record(segment.with_name(segment.name + ".manifest")).body
    assert manifest["flags"] == ["recovered"]
    assert manifest["frames"]["count"] == len(frames)
    recovered_lost = (killed_at - manifest["frames"]["last"]["wall"]) / 1e9
    assert recovered_lost <= 1.5, f"{recovered_lost:.2f} s lost"
    closed = read_record(segment.parent / "session-close.json").body
    assert closed["reason"] == "power loss" and closed["flags"] == ["interrupted"]
    cut, after = verify_paths([tmp_path / "data" / "spool"])
    assert [s.state for s in cut.segments] == ["RECOVERED"]
    assert cut.ok and after.ok, (cut.problems, after.problems)
    assert {s.state for s in after.segments} == {"OK"}


def _wait_for_fragments(spool, count, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for index in spool.glob("*/seg-000001.mp4.idx"):
            if index.read_text().count('"type":"fragment"') >= count:
                return index
        time.sleep(0.05)
    raise AssertionError("the recorder wrote no fragments")
