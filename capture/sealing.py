"""Sealing on the device: session records, segment manifests, the chain head, and recovery.

The segment's bytes were hashed while they were written (``capture.fmp4``), so sealing
only builds and signs a small manifest; it never reads the video again. After a power
cut, :func:`recover` seals what the cut left behind from its completed fragments, with
the flag ``recovered``, and closes the session with the flag ``interrupted``.
"""
from __future__ import annotations

import hashlib
import io
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import av

from capture.index import read_index
from capture.spool import AppendOnlyFile
from evidence import EvidenceError
from evidence.files import atomic_write, sha256_file
from evidence.keys import Signer
from evidence.mp4 import fragments
from evidence.paths import DataDir
from evidence.records import (FORMAT, GENESIS, IDENTITY_GLOB, INDEX_SUFFIX, MANIFEST_SUFFIX, SESSION_CLOSE,
                              SESSION_OPEN, SignedRecord, identity_name, read_record, sign)

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


class ChainState:
    """The head of the device's chain -- the newest record's ``seq`` and hash -- kept in
    ``device/chain.json`` as a signed ``chain-head`` record (docs/evidence-format.md).

    At start the head is checked against the newest record of this key on the device (the
    spool's records and the identity records). A head that is missing, damaged, signed by
    another key, ahead of or behind those records is rebuilt from them, and :attr:`found`
    says what was wrong; so a number is never used twice and no gap is ever forged. (The
    record is written before the head moves, so a power cut may leave it one record behind.)
    """

    def __init__(self, path: Path, signer: Signer, device: str, records: list[Path]) -> None:
        self.path, self.signer, self.device = path, signer, device
        self.seq, self.head = 0, GENESIS
        self.newest: SignedRecord | None = None      # the newest record of this key on the device
        for record_path in records:
            try:
                record = read_record(record_path)
            except EvidenceError:
                continue         # the verifier names it; it is no link of ours to follow
            if record.public_key == signer.public_key and (self.newest is None
                                                           or record.body["seq"] > self.newest.body["seq"]):
                self.newest = record
        self.found = self._check_stored()
        if self.newest is not None:
            self.seq, self.head = self.newest.body["seq"], self.newest.hash
        if self.found:
            self.advance(self.seq, self.head)

    def _check_stored(self) -> str:
        """What is wrong with the stored head ("" if it names the newest record)."""
        newest = (self.newest.body["seq"], self.newest.hash) if self.newest else (0, GENESIS)
        if not self.path.exists():
            return "" if self.newest is None else f"the chain head {self.path} is missing"
        try:
            stored = read_record(self.path)
        except EvidenceError as exc:
            return f"the chain head {self.path} is damaged ({exc})"
        body = stored.body
        if body["type"] != "chain-head" or stored.public_key != self.signer.public_key:
            return f"the chain head {self.path} is not this device's signed head"
        if (body["seq"], body["head"]) == newest:
            return ""
        where = "ahead of" if body["seq"] > newest[0] else "behind" if body["seq"] < newest[0] else "at odds with"
        return (f"the chain head {self.path} (record {body['seq']}) was {where} the newest record on the "
                f"device (record {newest[0]})")

    def advance(self, seq: int, head: str) -> None:
        self.seq, self.head = seq, head
        record = sign({"format": FORMAT, "type": "chain-head", "device": self.device, "key_id": self.signer.key_id,
                       "seq": seq, "head": head, "written_wall": time.time_ns()}, self.signer)
        atomic_write(self.path, record.to_bytes())


def record_paths(folders: DataDir) -> list[Path]:
    """Every chain record on the device: the identity records, then each session's records."""
    found = sorted(folders.identity.glob(IDENTITY_GLOB)) if folders.identity.is_dir() else []
    if folders.spool.is_dir():
        found += [p for folder in folders.spool.iterdir() if folder.is_dir() for p in folder.iterdir()
                  if p.name.endswith(MANIFEST_SUFFIX) or p.name in (SESSION_OPEN, SESSION_CLOSE)]
    return found


class Sealer:
    """Signs the records of the device's chain. Used by one thread at a time."""

    def __init__(self, folders: DataDir, signer: Signer, identity: dict[str, str],
                 clock_status: Callable[[], dict[str, Any]] = lambda: {"status": "unchecked"}) -> None:
        self.spool = folders.spool
        self.signer = signer
        self.identity = identity
        self.clock_status = clock_status
        self.identities = folders.identity
        folders.device.mkdir(parents=True, exist_ok=True)
        self.chain = ChainState(folders.chain, signer, identity["device"], record_paths(folders))

    def record_identity(self, identity: dict[str, str], reason: str) -> SignedRecord:
        """Sign who carries the device into the chain: at provisioning, and at each re-assignment."""
        self.identity = identity
        number = len(list(self.identities.glob(IDENTITY_GLOB))) + 1
        self.identities.mkdir(parents=True, exist_ok=True)
        return self._append(self.identities / identity_name(number), {
            "type": "identity", **self._who(identity), "reason": reason, "signed_wall": time.time_ns()})

    def open_session(self, session: str, link: dict[str, Any] | None = None, pre_event_ms: int = 0) -> SignedRecord:
        """``link`` ties a session that resumes an interrupted one to it: previous session and gap."""
        return self._append(self.spool / session / SESSION_OPEN, {
            "type": "session-open", "session": session, "started_wall": time.time_ns(),
            "link": link, "pre_event_ms": pre_event_ms,
            **self._who(self.identity), "clock": self.clock_status(),
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

    def _who(self, identity: dict[str, str]) -> dict[str, Any]:
        return {"officer": {"police_number": identity["police_number"], "name": identity["officer"]},
                "unit": {"number": identity["unit_number"], "name": identity["unit"]},
                "firmware": identity["firmware"]}

    def _append(self, path: Path, body: dict[str, Any]) -> SignedRecord:
        seq = self.chain.seq + 1
        body = {"format": FORMAT, "device": self.identity["device"], "key_id": self.signer.key_id,
                "seq": seq, "prev": self.chain.head, **body}
        record = sign(body, self.signer)
        stored = AppendOnlyFile(path)
        stored.write(record.to_bytes())
        stored.close()
        self.chain.advance(seq, record.hash)
        return record


def recover(sealer: Sealer) -> list[str]:
    """Seal every segment and close every session a power cut left open; say what was done."""
    done = []
    sessions = sorted(p for p in sealer.spool.iterdir() if p.is_dir()) if sealer.spool.is_dir() else []
    for folder in sessions:
        if (folder / SESSION_CLOSE).exists() or not (folder / SESSION_OPEN).exists():
            continue
        for segment in sorted(folder.glob("seg-*.mp4")):
            if not segment.with_name(segment.name + MANIFEST_SUFFIX).exists():
                facts = facts_after_cut(folder.name, segment)
                sealer.seal_segment(facts)
                done.append(f"recovered {folder.name}/{segment.name}: {facts.frames} frames, "
                            f"{facts.size} of {segment.stat().st_size} bytes sealed")
        sealer.close_session(folder.name, "power loss", ["interrupted"])
        done.append(f"closed interrupted session {folder.name}")
    return done


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
