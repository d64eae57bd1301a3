"""A reliable stream of messages over a pyserial port (docs/dock-protocol.md, "Transfer").

:class:`Link` moves framed messages over the port. :class:`Outgoing` and :class:`Incoming`
are the two halves of one file transfer: the sender keeps up to a window of DATA frames
beyond the receiver's last cumulative ACK; the receiver takes DATA strictly in order,
ACKs every few frames, and repeats its ACK once at a gap and whenever the stream stalls.
A repeated ACK -- one that acknowledges nothing new -- sends the sender back to the
acknowledged offset (go-back-N). Only the receiver runs a retransmission timer, so a
sender never floods a dead line, and after an outage at most one window is sent again.
All timing uses the monotonic clock.
"""
from __future__ import annotations

import os
import queue
import select
import threading
import time
from collections import deque
from dataclasses import dataclass

import serial

from sync import LinkDown, LinkError, MessageError, PortError
from sync.framing import FrameDecoder, encode_frame
from sync.messages import MAX_CHUNK, MAX_WINDOW, Ack, Data, Message, decode

TICK = 0.02                  # how long the reader thread waits before it looks at its stop flag
READ_MAX = 1 << 16


@dataclass(frozen=True)
class LinkConfig:
    """Tuning shared by both ends; the effective window and chunk are negotiated in HELLO."""
    window: int = 16         # DATA frames in flight (16 x 8 KiB: 128 KiB)
    chunk: int = 8192        # data bytes per DATA frame
    rto: float = 0.5         # resend a request, or nudge a stalled transfer, after this long
    dead_after: float = 5.0  # give up on a peer that has been silent this long

    def __post_init__(self) -> None:
        if not 1 <= self.window <= MAX_WINDOW or not 1 <= self.chunk <= MAX_CHUNK:
            raise ValueError(f"window must be 1..{MAX_WINDOW} and chunk 1..{MAX_CHUNK}")
        if not 0 < self.rto < self.dead_after:
            raise ValueError("need 0 < rto < dead_after")


def open_port(url: str, baudrate: int = 115200) -> serial.SerialBase:
    """Open a serial port by path or pyserial URL (/dev/ttyACM0, /dev/pts/3, ...) for a Link."""
    try:
        return serial.serial_for_url(url, baudrate=baudrate, write_timeout=5.0)
    except (serial.SerialException, OSError, ValueError) as exc:
        raise PortError(f"cannot open {url}: {exc}") from exc


class Link:
    """Framed messages over an open port. Malformed frames and messages are counted and dropped.

    Two threads owned by the link move the bytes: one only reads the port, one only writes
    it (joining whatever frames are queued into one write). A tty passes at most a few KiB
    at a time, so an end that decoded, stored or encoded between its reads and writes would
    leave the line idle meanwhile. The protocol runs in the thread that calls :meth:`send`
    and :meth:`receive`; :meth:`close` stops both threads (the port belongs to the caller).

    The port must be a POSIX one (it has a file descriptor) with a write timeout
    (:func:`open_port` sets one): a write that cannot finish in that time means the peer
    stopped reading.
    """

    def __init__(self, port: serial.SerialBase) -> None:
        self.port = port
        self._decoder = FrameDecoder()
        self._inbox: deque[Message] = deque()
        self._chunks: queue.SimpleQueue[bytes | OSError] = queue.SimpleQueue()
        self._frames: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._failure: LinkError | None = None     # set by the writer, raised by the next send
        self._stop = threading.Event()
        self.malformed = 0
        self._threads = [threading.Thread(target=target, daemon=True, name=f"link-{name} {port.name}")
                         for name, target in (("reader", self._read), ("writer", self._write))]
        for thread in self._threads:
            thread.start()

    @property
    def dropped_frames(self) -> int:
        return self._decoder.dropped

    def close(self) -> None:
        """Write what is queued, then stop both threads; safe to call twice."""
        self._frames.put(None)
        self._threads[1].join(timeout=10)
        self._stop.set()
        self._threads[0].join(timeout=5)
        if any(thread.is_alive() for thread in self._threads):
            raise RuntimeError("a link thread did not stop")

    def __enter__(self) -> "Link":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read(self) -> None:
        # Straight from the descriptor: pyserial's read() costs as much Python per call as
        # the decoding does, and this thread must get back to the port at once.
        fd = self.port.fileno()
        while not self._stop.is_set():
            try:
                if select.select([fd], [], [], TICK)[0]:
                    self._chunks.put(self._drain(fd))
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as exc:
                self._chunks.put(exc)
                return

    @staticmethod
    def _drain(fd: int) -> bytes:
        """What the port has now, up to READ_MAX: a tty hands out 4 KiB per read, and one
        hand-over of several reads wakes the decoding thread once instead of several times."""
        parts, size = [], 0
        while size < READ_MAX:
            try:
                data = os.read(fd, READ_MAX - size)
            except BlockingIOError:
                break
            if not data:
                if not parts:
                    raise OSError("the port reports end of file (device gone?)")
                break
            parts.append(data)
            size += len(data)
        return b"".join(parts)

    def _write(self) -> None:
        while (frames := self._frames.get()) is not None:
            batch = [frames]
            while len(batch) < 64 and not self._frames.empty():
                batch.append(self._frames.get())
            if batch[-1] is None:
                batch.pop()
                self._frames.put(None)
            try:
                self.port.write(b"".join(batch))
            except serial.SerialTimeoutException:
                self._failure = LinkDown("the peer stopped reading (write timed out)")
            except (serial.SerialException, OSError) as exc:
                self._failure = PortError(f"cannot write to the port: {exc}")

    def send(self, *messages: Message) -> None:
        """Queue the messages' frames for the writer; raises what the writer met since last time."""
        failure, self._failure = self._failure, None
        if failure is not None:
            raise failure
        for message in messages:
            self._frames.put(encode_frame(message.encode()))

    def receive(self, timeout: float) -> Message | None:
        """The next well-formed message, or None after ``timeout`` seconds (0: only what is here)."""
        deadline = time.monotonic() + timeout
        while not self._inbox:
            try:
                chunk = self._chunks.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return None
            if isinstance(chunk, OSError):
                self._chunks.put(chunk)          # every later call fails the same way
                raise PortError(f"cannot read from the port: {chunk}")
            for payload in self._decoder.feed(chunk):
                try:
                    self._inbox.append(decode(payload))
                except MessageError:
                    self.malformed += 1
        return self._inbox.popleft()

    def discard(self) -> None:
        """Forget messages already read but not yet taken (a new session starts)."""
        self._inbox.clear()


class Outgoing:
    """The sending half of one transfer: bytes [acked, size) of an item, a window at a time."""

    def __init__(self, tag: int, start: int, size: int, chunk: int, window: int) -> None:
        self.tag, self.size, self.chunk = tag, size, chunk
        self.window = self._limit = window
        self.acked = self.next = start
        self.rewinds = 0

    @property
    def done(self) -> bool:
        return self.acked >= self.size

    def ready(self) -> bool:
        """True if the window has room for the next frame."""
        return self.next < self.size and self.next - self.acked < self.window * self.chunk

    def take(self) -> tuple[int, int]:
        """Offset and length of the next frame to send."""
        offset, length = self.next, min(self.chunk, self.size - self.next)
        self.next += length
        return offset, length

    def on_ack(self, ack: Ack) -> None:
        if not self.acked <= ack.offset <= self.size:
            return                                   # a late ACK, or one for bytes that do not exist
        self.window = min(self._limit, ack.window)
        if ack.offset > self.acked:
            self.acked = ack.offset
            self.next = max(self.next, ack.offset)   # an ACK from before a rewind may skip ahead
        elif ack.offset == self.acked and self.next > self.acked:
            self.rewind()

    def rewind(self) -> None:
        """Go back to the acknowledged offset: the receiver saw a gap or the stream stalled."""
        self.next = self.acked
        self.rewinds += 1


class Incoming:
    """The receiving half of one transfer: takes DATA in order and says when to ACK."""

    def __init__(self, tag: int, start: int, size: int, window: int, rto: float) -> None:
        self.tag, self.size, self.window, self.rto = tag, size, window, rto
        self.expected = start
        self.heard = False            # any DATA of this transfer seen yet
        self._ack_every = max(1, window // 4)
        self._unacked = 0
        self._gap = False
        self._gap_reported: int | None = None
        self._progress = self._nudged = time.monotonic()

    @property
    def done(self) -> bool:
        return self.expected >= self.size

    @property
    def idle(self) -> float:
        """Seconds since the last in-order DATA."""
        return time.monotonic() - self._progress

    def accept(self, data: Data) -> bool:
        """True if ``data`` is the next in order: the caller hands it to the sink."""
        self.heard = True
        if data.offset == self.expected and data.offset + len(data.data) <= self.size:
            self.expected += len(data.data)
            self._unacked += 1
            self._gap = False
            self._progress = time.monotonic()
            return True
        self._gap = self._gap or data.offset > self.expected    # a frame before it was lost
        return False

    def ack(self) -> Ack | None:
        """The ACK to send now, if any."""
        now = time.monotonic()
        if self._unacked and (self._unacked >= self._ack_every or self.done):
            pass
        elif self._gap and self._gap_reported != self.expected:
            self._gap_reported = self.expected           # once per gap, not once per frame
        elif now - max(self._progress, self._nudged) >= self.rto:
            self._nudged = now                           # stalled: repeat, the sender goes back
        else:
            return None
        self._unacked = 0
        return Ack(self.tag, self.expected, self.window)
