"""Sealing a recording: session records, segment manifests, and recovery after a power cut.

The segment's bytes were hashed while they were written (``capture.fmp4``), so sealing
only builds and signs a small manifest; it never reads the video again. After a power
cut, :func:`recover` seals what the cut left behind from its completed fragments, with
the flag ``recovered``, and closes the session with the flag ``interrupted``. The records
are links of the device's chain, appended by :class:`evidence.chain.ChainWriter`.
"""
from __future__ import annotations

import hashlib
import io
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import av

from capture import CaptureError
from capture.index import read_index
from evidence.boxes import fragments
from evidence.chain import ChainWriter, sessions_left_open, who
from evidence.files import sha256_file
from evidence.records import INDEX_SUFFIX, MANIFEST_SUFFIX, SESSION_CLOSE, SESSION_OPEN, SignedRecord, read_record

PART_KINDS = ("init", "fragment", "trailer")


@dataclass
class SegmentFacts:
    """Everything a manifest says about a segment, gathered while it was written (or after a cut)."""

    session: str
    number: int
    name: str
    size: int
    sha256: str
    parts: list[dict[str, Any]]
    index: dict[str, Any]
    frames: int
    first: dict[str, int] | None
    last: dict[str, int] | None
    flags: list[str] = field(default_factory=list)
    markers: list[dict[str, Any]] = field(default_factory=list)
    place: dict[str, dict[str, int] | None] = field(default_factory=lambda: {"first": None, "last": None})


class Sealer:
    """Signs the records of a recording into the device's chain. Used by one thread at a time."""

    def __init__(self, chain: ChainWriter, identity: dict[str, str],
                 clock_status: Callable[[], dict[str, Any]] = lambda: {"status": "unchecked"}) -> None:
        self.chain = chain
        self.spool = chain.folders.spool
        self.identity = identity
        self.clock_status = clock_status

    def open_session(self, session: str, link: dict[str, Any] | None = None, pre_event_ms: int = 0,
                     encryption: dict[str, Any] | None = None) -> SignedRecord:
        """``link`` ties a session that resumes an interrupted one to it: previous session and gap;
        ``encryption``, for an encrypted session, its wrapped content key (``evidence.encryption.wrap``)."""
        return self._append(self.spool / session / SESSION_OPEN, {
            "type": "session-open", "session": session, "started_wall": time.time_ns(),
            "link": link, "pre_event_ms": pre_event_ms,
            **who(self.identity), "clock": self.clock_status(),
            **({"encryption": encryption} if encryption else {}),
        })

    def seal_segment(self, facts: SegmentFacts) -> SignedRecord:
        opened = read_record(self.spool / facts.session / SESSION_OPEN).body
        return self._append(self.spool / facts.session / (facts.name + MANIFEST_SUFFIX), {
            "type": "segment", "session": facts.session, "segment": facts.number,
            "file": {"name": facts.name, "size": facts.size, "sha256": facts.sha256},
            "parts": facts.parts, "index": facts.index,
            "frames": {"count": facts.frames, "first": facts.first, "last": facts.last},
            "flags": facts.flags, "markers": facts.markers, "place": facts.place, "sealed_wall": time.time_ns(),
            # Who recorded is who opened the session, also when sealing after a power cut.
            **{key: opened[key] for key in ("officer", "unit", "firmware")},
            "clock": self.clock_status(),
        })

    def close_session(self, session: str, reason: str, flags: list[str] | None = None) -> SignedRecord:
        manifests = sorted((self.spool / session).glob("*" + MANIFEST_SUFFIX))
        last = read_record(manifests[-1]).hash if manifests else None
        return self._append(self.spool / session / SESSION_CLOSE, {
            "type": "session-close", "session": session, "segments": len(manifests), "last_segment": last,
            "reason": reason, "flags": flags or [], "ended_wall": time.time_ns(),
        })

    def _append(self, path: Path, body: dict[str, Any]) -> SignedRecord:
        try:
            return self.chain.append(path, body)
        except FileExistsError as exc:
            raise CaptureError(f"refusing to overwrite {path}: recordings are append-only") from exc
        except OSError as exc:
            raise CaptureError(f"cannot write {path}: {exc.strerror}") from exc


def recover(sealer: Sealer) -> list[str]:
    """Seal every segment and close every session a power cut left open; say what was done."""
    done = []
    for folder in sessions_left_open(sealer.chain.folders):
        for segment in sorted(folder.glob("seg-*.mp4")):
            if not segment.with_name(segment.name + MANIFEST_SUFFIX).exists():
                facts = facts_after_cut(folder.name, segment)
                sealer.seal_segment(facts)
                done.append(f"recovered {folder.name}/{segment.name}: {facts.frames} frames, "
                            f"{facts.size} of {segment.stat().st_size} bytes sealed")
        sealer.close_session(folder.name, "power loss", ["interrupted"])
        done.append(f"closed interrupted session {folder.name}")
    return done


def close_cut_sessions(chain: ChainWriter, identity: dict[str, str]) -> list[str]:
    """:func:`recover` on ``chain``: what provisioning runs before the identity changes."""
    return recover(Sealer(chain, identity))


def facts_after_cut(session: str, segment: Path) -> SegmentFacts:
    """What can be proven of a segment cut by a power cut: its completed parts, re-checked on disk."""
    index_path = segment.with_name(segment.name + INDEX_SUFFIX)
    records = list(read_index(index_path))
    data = segment.read_bytes()
    parts, covered = [], 0
    for record in records:
        if record.get("type") not in PART_KINDS or record["offset"] != covered:
            continue
        chunk = data[covered:covered + record["size"]]
        if len(chunk) != record["size"] or hashlib.sha256(chunk).hexdigest() != record["sha256"]:
            break
        parts.append({key: record[key] for key in ("type", "number", "offset", "size", "sha256")})
        covered += record["size"]
    if parts:
        covered += _unindexed_fragments(data, covered, parts)
    fps = records[0]["video"]["fps"] if records else 1
    pts = _video_pts(data[:covered], fps) if parts else []
    by_pts = {r["pts"]: r for r in records if "type" not in r}
    frames = [_frame(by_pts[p]) for p in pts if p in by_pts]
    last_pts = frames[-1]["pts"] if frames else -1
    markers = [{k: v for k, v in r.items() if k != "type"} for r in records
               if r.get("type") == "marker" and r["pts"] <= last_pts]
    last_n = frames[-1]["n"] if frames else -1
    places = [{key: r[key] for key in ("lat", "lon", "utc")} for r in records
              if r.get("type") == "place" and r["n"] <= last_n]
    return SegmentFacts(
        session=session, number=records[0]["segment"] if records else int(segment.stem.split("-")[1]),
        name=segment.name, size=covered, sha256=hashlib.sha256(data[:covered]).hexdigest(), parts=parts,
        index=file_digest(index_path), frames=len(frames), first=frames[0] if frames else None,
        last=frames[-1] if frames else None, flags=["recovered"] + (["marked"] if markers else []),
        markers=markers, place={"first": places[0] if places else None, "last": places[-1] if places else None})


def _unindexed_fragments(data: bytes, covered: int, parts: list[dict[str, Any]]) -> int:
    """Seal, as they are on the card, the whole fragments after the last one the index names:
    the cut came after their bytes were durable and before their index lines were. What a
    player would show is then all sealed, and only a fragment cut short stays outside the
    seal (a verifier refuses a whole fragment there). Returns the bytes added."""
    added = 0
    number = max((part["number"] for part in parts if part["type"] == "fragment"), default=0)
    for offset, size in fragments(data, covered):
        if offset != covered + added:
            break
        number += 1
        parts.append({"type": "fragment", "number": number, "offset": offset, "size": size,
                      "sha256": hashlib.sha256(data[offset:offset + size]).hexdigest()})
        added += size
    return added


def _video_pts(data: bytes, fps: int) -> list[int]:
    """The presentation times (in 1/fps) of the video frames in a run of whole MP4 parts."""
    try:
        with av.open(io.BytesIO(data), format="mp4") as container:
            stream = container.streams.video[0]
            return sorted(round(p.pts * stream.time_base * fps) for p in container.demux(stream)
                          if p.pts is not None)
    except (av.FFmpegError, IndexError):
        return []


def _frame(record: dict[str, Any]) -> dict[str, int]:
    return {"n": record["n"], "pts": record["pts"], "mono": record["mono"], "wall": record["wall"]}


def file_digest(path: Path) -> dict[str, Any]:
    return {"name": path.name, "size": path.stat().st_size, "sha256": sha256_file(path).hexdigest()}
