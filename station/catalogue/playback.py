"""A session's footage as the review page plays it: the untouched originals, read where they lie.

The segments of a session are fragmented MP4 files whose timestamps run on the session's
timeline (docs/frame-index.md), so a browser's Media Source Extensions can play them as one
timeline when fed each file's init part and then its fragments, byte ranges of the signed
originals: nothing is copied, remuxed or re-encoded. Which byte ranges make a segment comes
from its signed manifest (``parts``), so a recovered segment's torn tail is never played;
when each fragment starts, and the capture time of every frame, from its frame index.
Every segment carries the verifier's state beside it. Reading all this costs seconds for an
hour of footage (every manifest and frame index parsed), so it is worked out when the session
is verified and stored with the verdicts (``station.catalogue.verdicts``, ``to_json`` and
``from_json``): opening a page reads neither video nor index.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Callable

from evidence import EvidenceError
from evidence.boxes import BoxError, avc_configuration
from evidence.records import INDEX_SUFFIX, MANIFEST_SUFFIX, SESSION_OPEN, read_record
from evidence.verify import GOOD, SessionVerdict

AUDIO_CODEC = "mp4a.40.2"         # AAC-LC, what the device's encoder writes
SEGMENT_NUMBER = re.compile(r"seg-(\d+)\.mp4")
CHUNK_S = 1.0                     # seconds of footage per Range request of the player


@dataclass(frozen=True)
class Part:
    """One byte range of a segment: its init (``ftyp``+``moov``) or one fragment (``moof``+``mdat``)."""

    kind: str
    offset: int
    size: int
    start: float                   # seconds on the session's timeline (the init: the segment's start)


@dataclass(frozen=True)
class Marker:
    label: str
    at: float                      # seconds on the session's timeline
    wall_ns: int


@dataclass
class Segment:
    name: str
    number: int
    state: str
    detail: str
    start: float                   # seconds on the session's timeline
    duration: float
    first_wall_ns: int | None
    last_wall_ns: int | None
    parts: list[Part] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)

    @property
    def good(self) -> bool:
        return self.state in GOOD


@dataclass
class SessionFootage:
    session: str
    folder: Path
    opened: dict[str, Any]
    closed_reason: str
    problems: list[str]
    fps: int
    mime: str
    segments: list[Segment]

    @property
    def duration(self) -> float:
        return max((s.start + s.duration for s in self.segments), default=0.0)

    @property
    def markers(self) -> list[Marker]:
        return [m for s in self.segments for m in s.markers]


def open_local(path: Path) -> BinaryIO:
    return path.open("rb")


def load(folder: Path, verdict: SessionVerdict, open_file: Callable[[Path], BinaryIO] = open_local) -> SessionFootage:
    """Describe how to play the session in ``folder``, each segment with its state in ``verdict``;
    a video's first bytes are read with ``open_file`` (the footage's: a freed one from the store)."""
    opened = verdict.open_record.body if verdict.open_record else {}
    segments, fps, mime = [], 0, ""
    for verdict_segment in verdict.segments:
        index = read_index(folder / (verdict_segment.name + INDEX_SUFFIX))
        header = index[0] if index and index[0].get("type") == "segment" else {}
        fps = fps or header.get("video", {}).get("fps", 0)
        segment = _segment(folder, verdict_segment.name, verdict_segment.state, verdict_segment.detail, index,
                           header.get("video", {}).get("fps") or fps or 30)
        if not mime and segment.parts:
            mime = media_type(open_file, folder / segment.name, segment.parts[0], "audio" in header)
        segments.append(segment)
    return SessionFootage(verdict.session, folder, opened, verdict.closed, verdict.problems, fps or 30,
                          mime, segments)


def to_json(footage: SessionFootage) -> str:
    """The description as stored (its folder left out: it is where the catalogue says)."""
    described = dataclasses.asdict(footage)
    del described["folder"]
    return json.dumps(described, ensure_ascii=False)


def from_json(folder: Path, text: str) -> SessionFootage:
    described = json.loads(text)
    segments = [Segment(**{**s, "parts": [Part(**p) for p in s["parts"]], "markers": [Marker(**m) for m in s["markers"]]})
                for s in described.pop("segments")]
    return SessionFootage(folder=folder, segments=segments, **described)


def read_index(path: Path) -> list[dict[str, Any]]:
    """The lines of a frame index; a last line cut short by a power cut is skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        return []
    lines = []
    for line in text.split("\n")[:-1]:
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue
    return lines


def frame_times(index: list[dict[str, Any]]) -> list[tuple[int, int]]:
    """(pts, capture wall time in ns) of every frame line of an index."""
    return [(line["pts"], line["wall"]) for line in index if "type" not in line and "pts" in line]


def _segment(folder: Path, name: str, state: str, detail: str, index: list[dict[str, Any]], fps: int) -> Segment:
    frames = frame_times(index)
    start_pts = index[0].get("start_pts", frames[0][0] if frames else 0) if index else 0
    last_pts = frames[-1][0] if frames else start_pts
    segment = Segment(name, _number(name), state, detail, start_pts / fps, (last_pts - start_pts + 1) / fps,
                      frames[0][1] if frames else None, frames[-1][1] if frames else None)
    segment.parts = _parts(folder / (name + MANIFEST_SUFFIX), index, fps, segment.start)
    segment.markers = [Marker(str(m.get("label", "")), m["pts"] / fps, m["wall"])
                       for m in _sealed_markers(folder / (name + MANIFEST_SUFFIX), index)]
    return segment


def _number(name: str) -> int:
    found = SEGMENT_NUMBER.match(name)
    return int(found.group(1)) if found else 0


def _parts(manifest: Path, index: list[dict[str, Any]], fps: int, start: float) -> list[Part]:
    """Init and fragments, from the signed manifest when it reads, else from the index; each
    fragment starts at the first frame the index lists after the part before it."""
    starts, pending = {}, None
    for line in index:
        if "type" not in line and pending is None:
            pending = line["pts"] / fps
        elif line.get("type") == "fragment":
            starts[line["number"]] = pending if pending is not None else start
            pending = None
    try:
        sealed = read_record(manifest).body.get("parts", [])
    except (EvidenceError, OSError):
        sealed = [line for line in index if line.get("type") in ("init", "fragment", "trailer")]
    parts = [Part(p["type"], p["offset"], p["size"], starts.get(p["number"], start) if p["type"] == "fragment" else start)
             for p in sealed if p.get("type") in ("init", "fragment")]
    return _chunks(parts)


def _chunks(parts: list[Part]) -> list[Part]:
    """Consecutive fragments joined into byte ranges of about ``CHUNK_S`` seconds: the device
    writes a fragment every 1/15 s, a browser is better served by fewer, larger requests (a
    media segment of MSE may hold several ``moof``+``mdat`` pairs)."""
    joined: list[Part] = []
    for part in parts:
        last = joined[-1] if joined else None
        if (last is not None and part.kind == last.kind == "fragment" and part.offset == last.offset + last.size
                and part.start - last.start < CHUNK_S):
            joined[-1] = Part("fragment", last.offset, last.size + part.size, last.start)
        else:
            joined.append(part)
    return joined


def _sealed_markers(manifest: Path, index: list[dict[str, Any]]) -> list[dict[str, Any]]:
    try:
        return list(read_record(manifest).body.get("markers", []))
    except (EvidenceError, OSError):
        return [line for line in index if line.get("type") == "marker"]


def media_type(open_file: Callable[[Path], BinaryIO], video: Path, init: Part, audio: bool) -> str:
    """The MIME type with codecs a browser needs to play these segments: ``avc1.PPCCLL`` read
    from the ``avcC`` box of the init part (profile, compatibility, level); "" if the video
    cannot be read."""
    try:
        with open_file(video) as file:
            head = file.read(init.size)
    except OSError:
        return ""
    try:
        configuration = avc_configuration(head)
    except BoxError:
        configuration = None       # a damaged header: the page still shows the segment and its state
    codecs = [f"avc1.{configuration[1:4].hex()}" if configuration and len(configuration) >= 4 else "avc1.42e01e"]
    if audio:
        codecs.append(AUDIO_CODEC)
    return f'video/mp4; codecs="{", ".join(codecs)}"'


def session_folder(archive: Path, folder: Path) -> Path | None:
    """``folder`` when it lies inside the archive and holds a session, else None (a catalogue
    row that points elsewhere is not followed)."""
    root, found = archive.resolve(), folder.resolve()
    if root not in found.parents or not (found / SESSION_OPEN).exists():
        return None
    return found


def archived_file(archive: Path, path: Path) -> bool:
    """Whether ``path`` is a regular file inside ``archive``, reached without following a link
    at its last step (a link planted in a session folder, to anywhere, is not served)."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        regular = stat.S_ISREG(os.fstat(descriptor).st_mode)
    finally:
        os.close(descriptor)
    return regular and archive.resolve() in path.resolve().parents
