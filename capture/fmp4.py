"""The muxer's output: follows the fragmented-MP4 box stream as it is written.

The MP4 muxer writes a fragmented file as a sequence of whole top-level boxes:
``ftyp moov`` (the init part), then ``moof mdat`` pairs (one fragment, ~1 s each), and
``mfra`` at a clean close. This sink sees every byte on its way to the spool, so it can
hash the file and each fragment while they are written, and tell the moment a fragment is
complete (:class:`evidence.boxes.BoxStream` follows the boxes), so that its owner can fsync
it: after a power cut, every completed fragment is on the card, whole.

It offers no ``seek``: the muxer then knows the output is a stream and never goes back
to rewrite a byte (FFmpeg refuses non-fragmented MP4 on such an output).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable

from capture import CaptureError
from capture.spool import AppendOnlyFile
from evidence.boxes import BoxError, BoxStream


@dataclass(frozen=True)
class Part:
    """A run of whole boxes: the init part, a fragment (moof+mdat) or the trailer."""

    kind: str
    number: int
    offset: int
    size: int
    sha256: str


class FragmentSink:
    """A file-like output for PyAV that follows the boxes, hashes parts and reports each one as it completes."""

    def __init__(self, file: AppendOnlyFile, on_part: Callable[[Part], None]) -> None:
        self._file = file
        self._on_part = on_part
        self.whole = hashlib.sha256()
        self.fragments = 0
        self._part = hashlib.sha256()
        self._part_start = 0
        self._boxes = BoxStream()

    @property
    def size(self) -> int:
        return self._boxes.position

    def write(self, data: bytes) -> int:
        data = bytes(data)
        self._file.write(data)
        self.whole.update(data)
        try:
            for piece, completed in self._boxes.split(data):
                self._part.update(piece)
                if completed is not None:
                    self._box_done(completed)
        except BoxError as exc:
            raise CaptureError(f"the muxer wrote a malformed box: {exc}") from exc
        return len(data)

    def flush(self) -> None:
        """Nothing is buffered here: every write already reached the file."""

    def _box_done(self, kind: bytes) -> None:
        if kind == b"moov":
            self._end_part("init", 0)
        elif kind == b"mdat":
            self.fragments += 1
            self._end_part("fragment", self.fragments)
        elif kind == b"mfra":
            self._end_part("trailer", 0)

    def _end_part(self, kind: str, number: int) -> None:
        end = self._boxes.position
        part = Part(kind, number, self._part_start, end - self._part_start, self._part.hexdigest())
        self._part = hashlib.sha256()
        self._part_start = end
        self._on_part(part)
