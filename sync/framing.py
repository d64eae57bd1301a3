"""Frames on a byte stream: COBS with a CRC-32C, delimited by 0x00 (docs/dock-protocol.md, "Framing").

On the wire a frame is ``00 COBS(payload || CRC-32C(payload) little-endian) 00``, COBS being
Cheshire and Baker's Consistent Overhead Byte Stuffing (at most one byte in 254). COBS removes
every 0x00 from the body, so a 0x00 always marks a frame boundary and a receiver that
starts in the middle of a stream, or after line noise, is back in step at the next one.
The leading 0x00 ends whatever noise came before, so noise never spoils the next frame;
the empty frames it makes between two frames are ignored.
"""
from __future__ import annotations

import crc32c               # Castagnoli CRC, in hardware (SSE 4.2, ARMv8 CRC) where the CPU has it
from cobs import cobs       # C implementation, with a pure-Python fallback in the same package

from sync import FrameError

MAX_PAYLOAD = 33024         # bytes of message in one frame (32 KiB of data plus headers)
DELIMITER = b"\x00"
CRC_SIZE = 4


def max_encoded(max_payload: int = MAX_PAYLOAD) -> int:
    """The longest COBS body (between two delimiters) of a valid frame."""
    return cobs.max_encoded_length(max_payload + CRC_SIZE)


def encode_frame(payload: bytes, max_payload: int = MAX_PAYLOAD) -> bytes:
    """The bytes to write for one payload."""
    if len(payload) > max_payload:
        raise FrameError(f"payload of {len(payload)} bytes exceeds the maximum frame ({max_payload})")
    body = cobs.encode(payload + crc32c.crc32c(payload).to_bytes(CRC_SIZE, "little"))
    return b"".join((DELIMITER, body, DELIMITER))


class FrameDecoder:
    """Turns arbitrary chunks of a byte stream into the payloads of valid frames.

    Anything else -- noise, a frame cut short, a bad CRC, an over-long run -- is counted in
    ``dropped`` and skipped up to the next delimiter. Memory stays bounded by the maximum
    frame whatever is fed in.
    """

    def __init__(self, max_payload: int = MAX_PAYLOAD) -> None:
        self.max_payload = max_payload
        self.limit = max_encoded(max_payload)       # the longest body of a valid frame
        self._pending = bytearray()
        self._skipping = False       # inside an over-long run: drop until the next delimiter
        self.frames = 0
        self.dropped = 0

    @property
    def pending(self) -> int:
        """Bytes held of a frame not yet ended by its delimiter."""
        return len(self._pending)

    def feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        start = 0
        with memoryview(data) as view:      # slices of a view: a frame's bytes are copied once
            while (end := data.find(DELIMITER, start)) >= 0:
                self._end_run(view[start:end], out)
                start = end + 1
            self._take(view[start:])
        return out

    def _end_run(self, piece: memoryview, out: list[bytes]) -> None:
        """A delimiter ends the run of bytes before it: check it as a frame's body."""
        if self._pending:
            self._take(piece)
            body, self._pending = self._pending, bytearray()
        else:
            body = piece.tobytes()
        if self._skipping:
            self._skipping = False
        elif body:
            payload = self._check(body)
            if payload is not None:
                out.append(payload)

    def _take(self, piece: memoryview) -> None:
        if self._skipping:
            return
        self._pending += piece
        if len(self._pending) > self.limit:
            self._pending.clear()
            self._skipping = True
            self.dropped += 1

    def _check(self, body: bytes | bytearray) -> bytes | None:
        if len(body) > self.limit:
            self.dropped += 1
            return None
        try:
            raw = cobs.decode(body)
        except cobs.DecodeError:
            self.dropped += 1
            return None
        payload, crc = raw[:-CRC_SIZE], raw[-CRC_SIZE:]
        if len(raw) < CRC_SIZE or crc32c.crc32c(payload).to_bytes(CRC_SIZE, "little") != crc \
                or len(payload) > self.max_payload:
            self.dropped += 1
            return None
        self.frames += 1
        return payload
