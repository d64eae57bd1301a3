"""The capture pipeline, proven on the files it leaves: decoded with PyAV, as a player would."""
from __future__ import annotations

import io
import os
import stat

import av
import numpy as np
import pytest

from capture import CaptureError
from capture.spool import AppendOnlyFile
from hw.simulated import BEEP_HZ
from tests.conftest import decode_audio, decode_video, index_records, segments


def test_a_seven_second_recording_has_four_segments_and_every_frame(recording):
    files = segments(recording.folder)
    assert [f.name for f in files] == [f"seg-00000{i}.mp4" for i in range(1, 5)]
    assert recording.frames == 7 * 30
    assert recording.dropped == 0
    numbers = [n for f in files for (_, _, n, _) in decode_video(f)]
    assert len(numbers) == 210
    # The simulated camera writes its frame number into the picture: consecutive means no
    # frame was lost or written twice, across all three boundaries.
    assert np.all(np.diff(numbers) == 1)


def test_video_timestamps_continue_across_boundaries(recording):
    files = segments(recording.folder)
    decoded = [decode_video(f) for f in files]
    for frames in decoded:
        steps = {round(b[1] - a[1], 6) for a, b in zip(frames, frames[1:])}
        assert steps == {round(1 / 30, 6)}
    for before, after in zip(decoded, decoded[1:]):
        assert after[0][1] - before[-1][1] == pytest.approx(1 / 30, abs=1e-6)
    # Each segment but the last is exactly the configured 2 s long and starts on a keyframe.
    assert [len(frames) for frames in decoded] == [60, 60, 60, 30]
    assert decoded[0][0][1] == 0


def test_audio_is_continuous_across_boundaries(recording):
    files = segments(recording.folder)
    all_frames = [decode_audio(f) for f in files]
    pieces = [(pts, len(samples)) for frames in all_frames for (pts, _, samples) in frames]
    for (pts, size), (next_pts, _) in zip(pieces, pieces[1:]):
        assert next_pts == pts + size, "audio gap or overlap"
    # Audio covers the video: starts at the first frame, ends within one AAC block of the last.
    assert pieces[0][0] == 0
    assert abs(pieces[-1][0] + pieces[-1][1] - 7 * 48000) <= 1024
    # No segment's audio crosses into the next segment's time.
    for frames, path in zip(all_frames[:-1], files[1:]):
        start = decode_video(path)[0][1]
        assert frames[-1][0] / 48000 < start <= (frames[-1][0] + 2048) / 48000


def test_flash_and_beep_land_within_one_frame(recording):
    files = segments(recording.folder)
    flashes = [t for path in files for (_, t, _, luma) in decode_video(path) if luma > 200]
    audio = [piece for path in files for piece in decode_audio(path)]
    rate = audio[0][1]
    samples = np.concatenate([s for (_, _, s) in audio])
    loud = np.nonzero(np.abs(samples) > 0.1)[0]
    # An onset is a loud sample after at least 50 ms of quiet (the beep lasts 100 ms).
    onsets = loud[np.diff(loud, prepend=-rate) > rate // 20]
    beeps = (audio[0][0] + onsets) / rate
    # A flash every 2 s, and a beep starting with each, within one frame interval.
    assert len(flashes) >= 3 and np.allclose(np.diff(flashes), 2.0)
    for flash in flashes:
        assert min(abs(beeps - flash)) <= 1 / 30
    # Every beep that starts inside the recording (not cut by its start) has its flash.
    assert len([b for b in beeps if b > 0.05]) == len([f for f in flashes if f > 0.05])


def test_beep_is_the_simulated_tone(recording):
    path = segments(recording.folder)[1]
    samples = np.concatenate([s for (_, _, s) in decode_audio(path)])
    onset = np.nonzero(np.abs(samples) > 0.1)[0][0]
    beep = samples[onset + 480:onset + 4320]
    spectrum = np.abs(np.fft.rfft(beep))
    peak_hz = np.argmax(spectrum) * 48000 / len(beep)
    assert abs(peak_hz - BEEP_HZ) < 30


def test_index_gives_every_frames_capture_time(recording):
    files = segments(recording.folder)
    frames = [r for f in files for r in index_records(f) if "type" not in r]
    assert [r["n"] for r in frames] == list(range(210))
    assert [r["pts"] for r in frames] == list(range(210))
    mono = np.array([r["mono"] for r in frames])
    wall = np.array([r["wall"] for r in frames])
    assert np.allclose(np.diff(mono), 1e9 / 30, atol=1e6)
    # Wall and monotonic times name the same instants: their difference is constant.
    assert np.ptp(wall - mono) < 5_000_000
    # The decoded picture at each pts is the frame the index names.
    decoded = {pts: n for f in files for (pts, _, n, _) in decode_video(f)}
    assert len(decoded) == 210


def test_index_records_fragments_and_whole_file_hash(recording):
    import hashlib
    for path in segments(recording.folder):
        records = index_records(path)
        header, end = records[0], records[-1]
        assert header["type"] == "segment" and header["file"] == path.name
        assert header["device"] == "BC00001" and header["video"]["fps"] == 30
        assert end["type"] == "end"
        data = path.read_bytes()
        assert end["size"] == len(data)
        assert end["sha256"] == hashlib.sha256(data).hexdigest()
        parts = [r for r in records if r.get("type") in ("init", "fragment", "trailer")]
        assert parts[0]["type"] == "init" and parts[-1]["type"] == "trailer"
        assert sum(p["size"] for p in parts) == len(data)
        for part in parts:
            chunk = data[part["offset"]:part["offset"] + part["size"]]
            assert hashlib.sha256(chunk).hexdigest() == part["sha256"]
        # CMAF chunks: at most 1/15 s of video (two frames at 30 fps) each, and a keyframe starts one.
        init = data[:parts[0]["size"]]
        fragments = [data[p["offset"]:p["offset"] + p["size"]] for p in parts if p["type"] == "fragment"]
        video = [_video_packets(init + fragment) for fragment in fragments]
        assert all(1 <= len(packets) <= 2 for packets in video) and sum(map(len, video)) == end["frames"]
        assert all(key == (i == 0) for packets in video for i, key in enumerate(packets) if key)
        assert sum(packets[0] for packets in video) == end["frames"] // 30


def _video_packets(data: bytes) -> list[bool]:
    """Whether each video packet of a run of whole MP4 parts is a keyframe."""
    with av.open(io.BytesIO(data), format="mp4") as container:
        return [p.is_keyframe for p in container.demux(video=0) if p.size]


def test_segments_are_read_only_and_never_overwritten(recording, tmp_path):
    for path in segments(recording.folder):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o444
    existing = segments(recording.folder)[0]
    with pytest.raises(CaptureError, match="append-only"):
        AppendOnlyFile(existing)
    assert existing.stat().st_size == index_records(existing)[-1]["size"]


def test_the_mp4_header_names_the_picture_size_the_stream_has(recording):
    """The header's track and sample entry (what a player lays out from) match the encoded picture."""
    for path in segments(recording.folder):
        data = path.read_bytes()[:16384]
        entry = data.find(b"avc1")
        header_size = tuple(int.from_bytes(data[entry + 28:entry + 32][i:i + 2], "big") for i in (0, 2))
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            assert header_size == (stream.codec_context.width, stream.codec_context.height) == (320, 240)
