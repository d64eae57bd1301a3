"""The muxer's output: follows the fragmented-MP4 box stream as it is written.

The MP4 muxer writes a fragmented file as a sequence of whole top-level boxes:
``ftyp moov`` (the init part), then ``moof mdat`` pairs (one fragment, ~1 s each), and
``mfra`` at a clean close. This sink sees every byte on its way to the spool, so it can
hash the file and each fragment while they are written, and tell the moment a fragment is
complete (:class:`evidence.boxes.BoxStream` follows the boxes), so that its owner can fsync
it: after a power cut, every completed fragment is on the card, whole.

It offers no ``seek``: the muxer then knows the output is a stream and never goes back
to rewrite a byte (FFmpeg refuses non-fragmented MP4 on such an output).

With a :class:`capture.cenc.Protector` the sink holds each part until it is whole, has it
encrypted, and only then writes it: the clear bytes never reach the card, and the hashes
and offsets are those of the encrypted file, which is what is sealed.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from capture import CaptureError
from capture.cenc import Protector
from capture.spool import AppendOnlyFile
from evidence import EvidenceError
from evidence.boxes import BoxStream


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

    def __init__(self, file: AppendOnlyFile, on_part: Callable[[Part], None],
                 protector: Protector | None = None) -> None:
        self._file = file
        self._on_part = on_part
        self._protector = protector
        self.whole = hashlib.sha256()
        self.fragments = 0
        self._written = 0                  # bytes written to the file
        self._part = hashlib.sha256()
        self._part_start = 0
        self._held = bytearray()           # with a protector: the clear part so far
        self._held_from = 0                # ... and where it began in the muxer's output
        self._boxes = BoxStream()

    @property
    def size(self) -> int:
        """The bytes of whole boxes written so far (in the muxer's output, the boxes followed so far)."""
        return self._boxes.position if self._protector is None else self._written

    def write(self, data: bytes) -> int:
        data = bytes(data)
        if self._protector is None:
            self._write_out(data)
        try:
            for piece, completed in self._boxes.split(data):
                if self._protector is None:
                    self._part.update(piece)
                else:
                    self._held += piece
                if completed is not None:
                    self._box_done(completed)
        except EvidenceError as exc:  # a box cut short, or one the encryption cannot read
            raise CaptureError(f"the muxer wrote a malformed box: {exc}") from exc
        return len(data)

    def _write_out(self, data: bytes) -> None:
        self._file.write(data)
        self.whole.update(data)
        self._written += len(data)

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
        if self._protector is not None:
            self._write_protected(kind)
        end = self.size
        part = Part(kind, number, self._part_start, end - self._part_start, self._part.hexdigest())
        self._part = hashlib.sha256()
        self._part_start = end
        self._on_part(part)

    def _write_protected(self, kind: str) -> None:
        clear, self._held = bytes(self._held), bytearray()
        if kind == "init":
            data = self._protector.init(clear)
        elif kind == "fragment":
            data = self._protector.fragment(clear, self._held_from, self.size)
        else:
            data = self._protector.trailer(clear)
        self._held_from = self._boxes.position
        self._part.update(data)
        self._write_out(data)
