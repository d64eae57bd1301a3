"""Reading fragmented-MP4 boxes: the one box reader of the device, the verifier and the station.

A box begins with a 32-bit big-endian size and a 4-letter type; size 1 means a 64-bit size
follows the type, size 0 that the box runs to the end of the bytes. A size smaller than its
header, or a box running past the end of the bytes, is not a box: :class:`BoxError` says where.
A fragmented file is ``ftyp moov`` (the init part), then fragments -- a ``moof`` box
directly followed by an ``mdat`` box -- and ``mfra`` at a clean close. Standard library only.
"""
from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise

from evidence import EvidenceError

HEADER = 8                # size and type
LARGE_HEADER = 16         # size 1, type, then the 64-bit size
TRACK_PATH = (b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd")
SAMPLE_DESCRIPTION_FIELDS = 8     # stsd: version and flags, entry count; then the sample entries
VISUAL_ENTRY_FIELDS = 78          # a visual sample entry's fixed fields before its boxes (ISO/IEC 14496-12)
AVC_ENTRIES = (b"avc1", b"avc3")


class BoxError(EvidenceError):
    """Bytes that are not whole MP4 boxes: cut short, or a size no box can have."""


@dataclass(frozen=True)
class Box:
    kind: bytes
    offset: int
    size: int                  # header included; for size 0, up to the end of the bytes
    header: int                # HEADER, or LARGE_HEADER with a 64-bit size
    to_end: bool = False       # its size was 0: it ends where the bytes end, wherever that is

    @property
    def body(self) -> int:
        return self.offset + self.header

    @property
    def end(self) -> int:
        return self.offset + self.size


def _header_length(first: bytes) -> int:
    """The length of the header whose first 8 bytes are ``first``."""
    return LARGE_HEADER if first[:4] == b"\0\0\0\1" else HEADER


def _parse_header(header: bytes, offset: int, available: int | None) -> Box:
    """The box whose whole header is ``header``, at ``offset``; ``available`` bytes from there on
    (None in a stream, where a box of size 0 cannot be followed)."""
    size, kind = struct.unpack_from(">I4s", header)
    to_end = size == 0
    if size == 1:
        size = struct.unpack_from(">Q", header, HEADER)[0]
    elif to_end:
        if available is None:
            raise BoxError(f"the box {kind!r} at byte {offset} has size 0 (to the end), which a stream cannot have")
        size = available
    if size < len(header):
        raise BoxError(f"the box {kind!r} at byte {offset} has size {size}, less than its {len(header)}-byte header")
    return Box(kind, offset, size, len(header), to_end)


def read_header(data: bytes, offset: int = 0, end: int | None = None) -> Box:
    """The whole box that begins at ``offset`` of ``data[:end]``."""
    end = len(data) if end is None else end
    if offset + HEADER > end:
        raise BoxError(f"cut short: the {end - offset} bytes at byte {offset} cannot hold a box header")
    length = _header_length(data[offset:offset + HEADER])
    if offset + length > end:
        raise BoxError(f"cut short: the box at byte {offset} has a 64-bit size, and only {end - offset} bytes")
    box = _parse_header(data[offset:offset + length], offset, end - offset)
    if box.end > end:
        raise BoxError(f"cut short: the box {box.kind!r} at byte {offset} runs {box.end - end} bytes past the end")
    return box


def boxes(data: bytes, start: int = 0, end: int | None = None) -> Iterator[Box]:
    """Each box of ``data[start:end]``, one after the other; raises BoxError where one is not whole."""
    position, end = start, len(data) if end is None else end
    while position < end:
        box = read_header(data, position, end)
        yield box
        position = box.end


def fragments(data: bytes, start: int = 0) -> list[tuple[int, int]]:
    """(offset, size) of each whole fragment among the whole boxes from ``start``: the walk of
    docs/evidence-format.md (rule V3.5), which ends at the first box that is not whole -- cut
    short, of an impossible size, or of size 0, whose end nothing proves."""
    walked: list[Box] = []
    try:
        for box in boxes(data, start):
            if box.to_end:
                break
            walked.append(box)
    except BoxError:
        pass                   # a tail cut by a power loss: only the boxes before it count
    return [(moof.offset, moof.size + mdat.size) for moof, mdat in pairwise(walked)
            if moof.kind == b"moof" and mdat.kind == b"mdat"]


def _find(data: bytes, path: tuple[bytes, ...], start: int = 0, end: int | None = None) -> Iterator[Box]:
    """The boxes reached from ``data[start:end]`` through the types of ``path``, in order."""
    for box in boxes(data, start, end):
        if box.kind == path[0] and path[1:]:
            yield from _find(data, path[1:], box.body, box.end)
        elif box.kind == path[0]:
            yield box


def sample_entries(init: bytes) -> list[Box]:
    """The first sample entry of each track of an init part; its type names the codec (``avc1``, ``mp4a``)."""
    found = []
    for description in _find(init, TRACK_PATH):
        entry = next(boxes(init, description.body + SAMPLE_DESCRIPTION_FIELDS, description.end), None)
        if entry is not None:
            found.append(entry)
    return found


def avc_configuration(init: bytes) -> bytes | None:
    """The body of the ``avcC`` box of an init part's H.264 track (profile, compatibility and
    level are its bytes 1 to 3); None when there is no such track."""
    for entry in sample_entries(init):
        if entry.kind in AVC_ENTRIES:
            for inner in boxes(init, entry.body + VISUAL_ENTRY_FIELDS, entry.end):
                if inner.kind == b"avcC":
                    return init[inner.body:inner.end]
    return None


class BoxStream:
    """Follows top-level boxes through bytes that arrive in pieces of any size (a muxer's output)."""

    def __init__(self) -> None:
        self.position = 0                  # bytes followed so far
        self._header = b""
        self._box: Box | None = None       # the box being read, once its header is whole

    def split(self, data: bytes) -> Iterator[tuple[memoryview, bytes | None]]:
        """``data`` cut where boxes end: each piece, with the type of the box it completes (or None)."""
        view = memoryview(data)
        while view:
            wanted = self._wanted()
            piece, view = view[:wanted], view[wanted:]
            self.position += len(piece)
            yield piece, self._advance(piece)

    def _wanted(self) -> int:
        if self._box is not None:
            return self._box.end - self.position
        if len(self._header) < HEADER:
            return HEADER - len(self._header)
        return _header_length(self._header) - len(self._header)

    def _advance(self, piece: memoryview) -> bytes | None:
        if self._box is None:
            self._header += bytes(piece)
            if len(self._header) < HEADER or len(self._header) < _header_length(self._header):
                return None
            self._box = _parse_header(self._header, self.position - len(self._header), None)
            self._header = b""
        if self.position < self._box.end:
            return None
        done, self._box = self._box.kind, None
        return done
