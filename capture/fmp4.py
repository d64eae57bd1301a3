"""The muxer's output: follows the fragmented-MP4 box stream as it is written.

The MP4 muxer writes a fragmented file as a sequence of whole top-level boxes:
``ftyp moov`` (the init part), then ``moof mdat`` pairs (one fragment, ~1 s each), and
``mfra`` at a clean close. This sink sees every byte on its way to the spool, so it can
hash the file and each fragment while they are written, and tell the moment a fragment is
complete, so that its owner can fsync it: after a power cut, every completed fragment is on
the card, whole.

It offers no ``seek``: the muxer then knows the output is a stream and never goes back
to rewrite a byte (FFmpeg refuses non-fragmented MP4 on such an output).
"""
from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from typing import Callable

from capture import CaptureError
from capture.spool import AppendOnlyFile


@dataclass(frozen=True)
class Part:
    """A run of whole boxes: the init part, a fragment (moof+mdat) or the trailer."""

    kind: str
    number: int
    offset: int
    size: int
    sha256: str


class FragmentSink:
    """A file-like output for PyAV that tracks boxes, hashes parts and reports each one as it completes."""

    def __init__(self, file: AppendOnlyFile, on_part: Callable[[Part], None]) -> None:
        self._file = file
        self._on_part = on_part
        self.whole = hashlib.sha256()
        self.fragments = 0
        self._part = hashlib.sha256()
        self._part_start = 0
        self._boxes: list[str] = []
        self._header = b""
        self._box_left = 0
        self._position = 0

    @property
    def size(self) -> int:
        return self._position

    def write(self, data: bytes) -> int:
        data = bytes(data)
        self._file.write(data)
        self.whole.update(data)
        view = memoryview(data)
        while view:
            if self._box_left == 0:
                view = self._read_header(view)
                continue
            take = min(self._box_left, len(view))
            self._consume(view[:take])
            self._box_left -= take
            view = view[take:]
            if self._box_left == 0:
                self._box_done()
        return len(data)

    def flush(self) -> None:
        """Nothing is buffered here: every write already reached the file."""

    def _read_header(self, view: memoryview) -> memoryview:
        need = 8 - len(self._header)
        if len(self._header) >= 8 and self._header[:4] == b"\0\0\0\1":
            need = 16 - len(self._header)
        self._header += bytes(view[:need])
        self._consume(view[:need])
        view = view[need:]
        if len(self._header) < 8:
            return view
        size, kind = struct.unpack(">I4s", self._header[:8])
        if size == 1:
            if len(self._header) < 16:
                return view
            size = struct.unpack(">Q", self._header[8:16])[0]
        if size < len(self._header):
            raise CaptureError(f"the muxer wrote a malformed box {kind!r} of size {size}")
        self._boxes.append(kind.decode("latin-1"))
        self._box_left = size - len(self._header)
        self._header = b""
        if self._box_left == 0:
            self._box_done()
        return view

    def _consume(self, chunk: memoryview) -> None:
        self._part.update(chunk)
        self._position += len(chunk)

    def _box_done(self) -> None:
        last = self._boxes[-1]
        if last == "moov":
            self._end_part("init", 0)
        elif last == "mdat":
            self.fragments += 1
            self._end_part("fragment", self.fragments)
        elif last == "mfra":
            self._end_part("trailer", 0)

    def _end_part(self, kind: str, number: int) -> None:
        part = Part(kind, number, self._part_start, self._position - self._part_start, self._part.hexdigest())
        self._part = hashlib.sha256()
        self._part_start = self._position
        self._boxes.clear()
        self._on_part(part)
