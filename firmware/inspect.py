"""``bodycam inspect``: what is on a spool, session by session, and whether each segment plays."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import av

from capture.index import read_index
from evidence.paths import DataDir
from evidence.records import INDEX_SUFFIX, SESSION_OPEN, read_record


def describe_spool(data_dir: DataDir) -> list[str]:
    """One line per session and per segment: frames, length, first and last frame time, playability."""
    spool = data_dir.spool
    sessions = sorted(p for p in spool.iterdir() if p.is_dir()) if spool.is_dir() else []
    if not sessions:
        return [f"no recordings in {spool}"]
    lines = []
    for session in sessions:
        lines.append(f"session {session.name}")
        for segment in sorted(session.glob("seg-*.mp4")):
            lines.append("  " + _describe_segment(segment))
    return lines


def _describe_segment(path: Path) -> str:
    records = list(read_index(path.with_name(path.name + INDEX_SUFFIX)))
    frames = [r for r in records if "type" not in r]
    ended = records and records[-1].get("type") == "end"
    decoded = "encrypted for the agency" if _encrypted(path) else f"{_decodable_frames(path)} decodable"
    state = "sealed" if ended else "open (not closed: power cut?)"
    if not frames:
        return f"{path.name}  {state}  no frames indexed, {decoded}"
    fps = records[0]["video"]["fps"]
    return (f"{path.name}  {len(frames)} frames ({len(frames) / fps:.2f} s)  "
            f"{_when(frames[0]['wall'])} .. {_when(frames[-1]['wall'])}  "
            f"{decoded}  {path.stat().st_size / 1e6:.1f} MB  {state}")


def snapshot(segment: Path, at: float, out: Path) -> Path:
    """Decode the frame shown ``at`` seconds into ``segment`` and save it as a PNG (the overlay as burned in).
    An encrypted session's segment is refused: the device holds no key that decrypts it."""
    if _encrypted(segment):
        raise OSError(f"{segment} is encrypted for the agency: the device cannot show it (the station can)")
    try:
        with av.open(str(segment)) as container:
            start = None
            for frame in container.decode(video=0):
                start = frame.time if start is None else start
                if frame.time - start >= at:
                    frame.to_image().save(out)
                    return out
    except (av.FFmpegError, OSError) as exc:
        raise OSError(f"cannot read a frame from {segment}: {exc}") from exc
    raise OSError(f"{segment} has no frame {at:g} s in")


def _encrypted(segment: Path) -> bool:
    """Whether the segment's session records encrypted (its open record names the wrapped key)."""
    opened = segment.parent / SESSION_OPEN
    return opened.exists() and "encryption" in read_record(opened).body


def _when(wall_ns: int) -> str:
    return datetime.fromtimestamp(wall_ns / 1e9, timezone.utc).astimezone().isoformat(timespec="milliseconds")


def _decodable_frames(path: Path) -> int:
    count = 0
    try:
        with av.open(str(path)) as container:
            for _ in container.decode(video=0):
                count += 1
    except av.FFmpegError:
        pass  # a tail cut short by a power cut: what decoded before it still counts
    return count
