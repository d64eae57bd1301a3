"""Power cuts (SIGKILL) at 20 instants lose at most 0.25 s each: the rest plays, and is sealed at restart.

Each recorder is killed at its instant; the next one, starting, seals what the cut left
(``recovered``) and closes that session (``interrupted``), and is itself killed. Every other
cut comes right after a keyframe (the start of a second of the session's timeline), where
fragments cut only at keyframes used to lose a whole second. Footage lost is measured as the
kill's wall time minus the capture time of the last frame the recovered seal holds.
"""
from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from evidence.records import read_record
from evidence.verify import verify_paths
from tests.conftest import decode_video, index_records, write_config
from tests.waiting import wait_for

CUTS = 20
MAX_LOST_SECONDS = 0.25


def test_twenty_power_cuts_each_lose_at_most_a_quarter_second(tmp_path):
    config = write_config(tmp_path)
    spool = tmp_path / "data" / "spool"
    chance = random.Random(14)
    cuts: list[tuple[Path, int]] = []
    for number in range(CUTS):
        seen = set(spool.iterdir()) if spool.exists() else set()
        recorder = subprocess.Popen([sys.executable, "-m", "firmware", "record", "--config", str(config)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            segment, first_wall = _wait_for_first_fragment(spool, seen)
            if number % 2 == 0:  # right after the next keyframe: a whole second of the timeline
                elapsed = time.time_ns() - first_wall
                instant = first_wall + (elapsed // 10**9 + 1) * 10**9 + chance.randrange(0, 50_000_000)
            else:
                instant = time.time_ns() + chance.randrange(0, 1_000_000_000)
            while time.time_ns() < instant:
                time.sleep(0.001)
            killed_at = time.time_ns()
            recorder.send_signal(signal.SIGKILL)
            recorder.wait(timeout=10)
        finally:
            if recorder.poll() is None:
                recorder.kill()
        assert index_records(segment)[-1].get("type") != "end", "the segment was cut, not closed"
        cuts.append((segment, killed_at))
    before = {segment: segment.read_bytes() for segment, _ in cuts}
    restart = subprocess.run([sys.executable, "-m", "firmware", "record", "--seconds", "1", "--config", str(config)],
                             check=True, capture_output=True, text=True, timeout=60)
    assert f"recovered {cuts[-1][0].parent.name}/{cuts[-1][0].name}" in restart.stdout

    lost = []
    for segment, killed_at in cuts:
        assert segment.read_bytes() == before[segment], "recovery rewrote a cut file"
        manifest = read_record(segment.with_name(segment.name + ".manifest")).body
        assert manifest["flags"] == ["recovered"]
        closed = read_record(segment.parent / "session-close.json").body
        assert closed["reason"] == "power loss" and closed["flags"] == ["interrupted"]
        # What the seal holds plays in order to the last frame it names, nothing doubled; where
        # the camera lost frames while the machine was starved, the timeline jumps by exactly as many.
        frames = decode_video(segment)
        numbers = np.array([n for (_, _, n, _) in frames])
        slots = np.array([round(seconds * 30) for (_, seconds, _, _) in frames])
        assert len(numbers) >= manifest["frames"]["count"] >= 1
        assert np.all(np.diff(numbers) >= 1) and np.array_equal(np.diff(numbers), np.diff(slots))
        lost.append((killed_at - manifest["frames"]["last"]["wall"]) / 1e9)
    assert max(lost) <= MAX_LOST_SECONDS, f"footage lost per cut: {[round(s, 3) for s in lost]}"

    verdicts = verify_paths([spool])
    assert len(verdicts) == CUTS + 1
    assert all(v.ok for v in verdicts), [v.problems for v in verdicts if not v.ok]
    cut_sessions = {segment.parent for segment, _ in cuts}    # the restart's may sort among them (same second)
    assert [s.state for v in verdicts if v.folder in cut_sessions for s in v.segments] == ["RECOVERED"] * CUTS
    [restarted] = [v for v in verdicts if v.folder not in cut_sessions]
    assert {s.state for s in restarted.segments} == {"OK"}


def _wait_for_first_fragment(spool: Path, seen: set[Path]) -> tuple[Path, int]:
    """The new session's first segment, once a fragment of it is written; and its first frame's wall time."""
    def written() -> tuple[Path, int] | None:
        for index in spool.glob("*/seg-000001.mp4.idx"):
            lines = index.read_text().splitlines() if index.parent not in seen else []
            if any('"type":"fragment"' in line for line in lines):
                first = next(json.loads(line) for line in lines if '"pts"' in line)
                return index.with_name("seg-000001.mp4"), first["wall"]
        return None
    return wait_for(written, "a fragment of the new session's first segment")
