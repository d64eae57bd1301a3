"""A reliable stream of messages over a pyserial port (docs/dock-protocol.md, "Transfer").

:class:`Link` moves framed messages over the port. :class:`Outgoing` and :class:`Incoming`
are the two halves of one file transfer: the sender keeps up to a window of DATA frames
beyond the receiver's last cumulative ACK; the receiver takes DATA strictly in order and
ACKs every few frames. At a gap it sends a NAK, which both acknowledges and sends the
sender back to the first byte missing (go-back-N): a lost frame costs a round trip. Only
the receiver runs a retransmission timer, for what no later frame reveals (a lost last
frame, a lost NAK), so a sender never floods a dead line, and after an outage at most one
window is sent again. All timing uses the monotonic clock.
"""
from __future__ import annotations

import logging
import os
import queue
import select
import threading
import time
from collections import deque
from dataclasses import dataclass

import serial

from bodycam_threads import OwnedThread
from sync import LinkDown, MessageError, PortError
from sync.framing import DELIMITER, FrameDecoder, encode_frame
from sync.messages import MAX_CHUNK, MAX_WINDOW, Ack, Data, Message, Nak, decode
from sync.rates import DEFAULT_BAUDRATE

log = logging.getLogger(__name__)
READ_MAX = 1 << 17           # bytes taken from the port before they are decoded
TTY_READ = 4095              # the most a read of a tty gives: its line discipline holds 4 KiB less one byte
WRITE_TIMEOUT = 5.0          # a peer that takes none of our bytes for this long stopped reading
CLOSE_TIMEOUT = 2.0          # how long close() waits for queued bytes to leave
HUB_WAKE = 0.1               # how often a port hub's thread looks whether it is told to stop
STOP_SECONDS = 5.0           # how long a port hub's thread may take to stop


@dataclass(frozen=True)
class LinkConfig:
    """Tuning shared by both ends; the effective window and chunk are negotiated in HELLO."""
    window: int = 8          # DATA frames in flight (8 x 32 KiB: 256 KiB)
    chunk: int = 32768       # data bytes per DATA frame
    rto: float = 0.2         # resend a request, or nudge a stalled transfer, after this long
    dead_after: float = 5.0  # give up on a peer that has been silent this long

    def __post_init__(self) -> None:
        if not 1 <= self.window <= MAX_WINDOW or not 1 <= self.chunk <= MAX_CHUNK:
            raise ValueError(f"window must be 1..{MAX_WINDOW} and chunk 1..{MAX_CHUNK}")
        if not 0 < self.rto < self.dead_after:
            raise ValueError("need 0 < rto < dead_after")


def open_port(url: str, baudrate: int = DEFAULT_BAUDRATE) -> serial.SerialBase:
    """Open a serial port by path or pyserial URL (/dev/ttyACM0, /dev/pts/3, ...) for a Link,
    at ``baudrate`` (a UART's line rate; a USB CDC-ACM port ignores it)."""
    try:
        return serial.serial_for_url(url, baudrate=baudrate)
    except (serial.SerialException, OSError, ValueError) as exc:
        raise PortError(f"cannot open {url}: {exc}") from exc


class Link:
    """Framed messages over an open port. Malformed frames and messages are counted and dropped.

    Alone, one thread does everything: :meth:`send` queues frames and writes what the port
    takes at once, :meth:`receive` waits on the port for both directions -- reading, and
    writing the rest of the queue as the line drains -- until a message comes. Waking other
    threads for every few KiB a tty passes costs more than the decoding itself on a small CPU.
    Attached to a :class:`PortHub` (a dock with many bays), the hub's one thread reads and
    decodes instead, and :meth:`receive` waits for the messages it hands over.
    The port must be a POSIX one (pyserial opens it non-blocking and gives its descriptor);
    the port belongs to the caller, :meth:`close` only sends what is still queued.
    """

    def __init__(self, port: serial.SerialBase, write_timeout: float = WRITE_TIMEOUT,
                 hub: PortHub | None = None) -> None:
        self.port, self.write_timeout, self._hub = port, write_timeout, hub
        self._fd = port.fileno()
        self._lock = threading.Lock()    # the write queue, which the hub's thread also flushes
        self._decoder = FrameDecoder()
        self._inbox: deque[Message] = deque()
        self._arrivals: queue.SimpleQueue[Message | None] = queue.SimpleQueue()   # from the hub's thread
        self._deliver = self._inbox.append if hub is None else self._arrivals.put
        self._failure: PortError | None = None      # what the hub's thread met reading the port
        self._serving = threading.Lock()            # held by the hub's thread while it serves the port
        self._closed = False                        # set under ``_serving``: the hub's thread keeps off
        self._queued = bytearray()       # frames to write; the first ``_written`` bytes have gone
        self._written = 0
        self._moved = time.monotonic()   # when the queue last became non-empty or shrank
        self.heard = time.monotonic()    # when the port last gave bytes that may still become a frame
        self._unframed = 0               # bytes read since the last valid frame
        self.malformed = 0
        if hub is not None:
            hub.attach(self)

    @property
    def fileno(self) -> int:
        return self._fd

    @property
    def dropped_frames(self) -> int:
        return self._decoder.dropped

    def close(self) -> None:
        """Write what is queued, giving the peer up to CLOSE_TIMEOUT to take it; safe twice."""
        if self._hub is not None:
            self._hub.detach(self)
            with self._serving:          # waits out a pass of the hub's thread already under way
                self._closed = True
        deadline = time.monotonic() + CLOSE_TIMEOUT
        while self._pending() and time.monotonic() < deadline:
            try:
                select.select([], [self._fd], [], max(0.0, deadline - time.monotonic()))
                self._flush()
            except (PortError, OSError, ValueError):
                break
        self._drop_queue()

    def __enter__(self) -> "Link":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, *messages: Message) -> None:
        """Queue the messages' frames and write what the port takes now."""
        frames = b"".join(encode_frame(message.encode()) for message in messages)
        with self._lock:
            if not self._pending():
                self._moved = time.monotonic()
            self._queued += frames
            self._flush()
            if self._hub is not None and self._pending():
                self._hub.watch_writes(self, True)

    def receive(self, timeout: float) -> Message | None:
        """The next well-formed message, or None after ``timeout`` seconds (0: only what is here).

        Raises LinkDown if the peer has taken none of our queued bytes for ``write_timeout``.
        """
        if self._hub is not None:
            return self._handed(timeout)
        deadline = time.monotonic() + timeout
        while not self._inbox:
            remaining = deadline - time.monotonic()
            self._check_written()
            try:
                readable, writable, _ = select.select([self._fd], [self._fd] if self._pending() else [], [],
                                                      max(0.0, min(remaining, self.write_timeout)))
            except InterruptedError:
                continue
            if writable:
                self._flush()
            if readable:
                self._read()
            if not self._inbox and remaining <= 0:
                return None
        return self._inbox.popleft()

    def _handed(self, timeout: float) -> Message | None:
        """:meth:`receive` on a link attached to a hub: the next message its thread hands over."""
        deadline = time.monotonic() + timeout
        while True:
            failed = self._failure is not None      # set after the last message read was handed over
            wait = 0.0 if failed else max(0.0, min(deadline - time.monotonic(), self.write_timeout))
            try:
                message = self._arrivals.get(timeout=wait)
            except queue.Empty:
                message = None
            with self._lock:
                self._check_written()
            if message is not None:
                return message                      # the messages read before a failure come first
            if failed:
                raise self._failure
            if self._failure is None and time.monotonic() >= deadline:
                return None

    def _check_written(self) -> None:
        """Raise LinkDown if the peer has taken none of our queued bytes for ``write_timeout``."""
        if self._pending() and time.monotonic() - self._moved > self.write_timeout:
            self._drop_queue()           # stale now; a frame cut short is resynced at its 0x00
            raise LinkDown(f"the peer stopped reading (nothing written for {self.write_timeout:g} s)")

    def serve(self, events: int) -> None:
        """The hub's thread: the port has bytes to read or room to write (``events``, epoll's);
        each message read is handed over, a port that failed is given up with its error. Not
        once :meth:`close` began: the port may be closed, and its descriptor someone else's."""
        with self._serving:
            if self._closed:
                return
            try:
                if events & select.EPOLLOUT:
                    with self._lock:
                        self._flush()
                        if not self._pending():
                            self._hub.watch_writes(self, False)
                if events & ~select.EPOLLOUT:
                    self._read()
            except PortError as exc:
                self._give_up(exc)
            except Exception as exc:         # a fault here must cost this bay only, not the hub's thread
                log.exception("reading %s failed", self.port.name)
                self._give_up(PortError(f"reading the port failed: {exc}"))

    def _give_up(self, failure: PortError) -> None:
        self._hub.detach(self)
        self._failure = failure
        self._arrivals.put(None)             # wakes the owner, who raises it

    def drop_unsent(self) -> None:
        """Forget queued frames that have not started going out (the one on its way is
        finished): after a go-back they would only repeat what is sent again anyway."""
        with self._lock:
            if self._pending():
                end = self._queued.find(DELIMITER, self._written + 1)
                self._queued = self._queued[:end + 1] if end >= 0 else self._queued

    def discard(self) -> None:
        """Forget messages already read but not yet taken (a new session starts)."""
        self._inbox.clear()
        while not self._arrivals.empty():        # a hub's; a failure stays in ``_failure``
            self._arrivals.get_nowait()

    def _pending(self) -> int:
        return len(self._queued) - self._written

    def _drop_queue(self) -> None:
        self._queued.clear()
        self._written = 0

    def _flush(self) -> None:
        """Write queued bytes until the port takes no more without blocking: a write it takes
        only part of says it is full (trying again at once would only fail, one more system call)."""
        while pending := self._pending():
            try:
                with memoryview(self._queued) as view:
                    written = os.write(self._fd, view[self._written:])
            except BlockingIOError:
                return
            except OSError as exc:
                raise PortError(f"cannot write to the port: {exc}") from exc
            if not written:
                return
            self._written += written
            self._moved = time.monotonic()
            if self._written * 2 >= len(self._queued):       # keep the queue compact
                del self._queued[:self._written]
                self._written = 0
            if written < pending:
                return

    def _read(self) -> None:
        """Take what the port has now (a tty hands out at most ``TTY_READ`` bytes per read) and decode it."""
        parts, size, failure = [], 0, None
        while size < READ_MAX:
            try:
                data = os.read(self._fd, READ_MAX - size)
            except BlockingIOError:
                break
            except OSError as exc:
                failure = PortError(f"cannot read from the port: {exc}")
                break
            if not data:
                if not parts:
                    failure = PortError("cannot read from the port: it reports end of file (device gone?)")
                break
            parts.append(data)
            size += len(data)
            if len(data) < TTY_READ:          # the port had no more: asking again would only fail
                break
        if parts:
            self._decode(b"".join(parts))
        if failure is not None:               # raised once what came before it is decoded
            raise failure

    def _decode(self, data: bytes) -> None:
        """Hand over the messages ``data`` completes; note when bytes that may become a frame came."""
        size = len(data)
        payloads = self._decoder.feed(data)
        self._unframed = self._decoder.pending if payloads else self._unframed + size
        if self._unframed <= self._decoder.limit:      # more than one frame's bytes without one: noise
            self.heard = time.monotonic()
        for payload in payloads:
            try:
                self._deliver(decode(payload))
            except MessageError:
                self.malformed += 1


class PortHub:
    """One thread that reads the ports of many links (a dock's bays) as their bytes come, with
    one epoll over them all, and hands each link the messages decoded. A thread per bay, each
    in its own select and read, costs a wake and a hand-over of the interpreter's lock for
    every few KiB a tty gives; here one wake serves every port that has bytes, and a bay's
    thread wakes once a whole message is there."""

    def __init__(self) -> None:
        self._poller = select.epoll()
        self._links: dict[int, Link] = {}
        self._lock = threading.Lock()
        self._thread = OwnedThread(self._run, "port hub")
        self._thread.start()

    def attach(self, link: Link) -> None:
        with self._lock:
            self._links[link.fileno] = link
            self._poller.register(link.fileno, select.EPOLLIN)

    def detach(self, link: Link) -> None:
        """Stop reading ``link``'s port (before it is closed: its descriptor may be reused)."""
        with self._lock:
            if self._links.get(link.fileno) is link:
                del self._links[link.fileno]
                self._poller.unregister(link.fileno)

    def watch_writes(self, link: Link, writes: bool) -> None:
        """Also tell ``link`` when its port has room to write (it has bytes queued), or no longer."""
        with self._lock:
            if self._links.get(link.fileno) is link:
                self._poller.modify(link.fileno, select.EPOLLIN | (select.EPOLLOUT if writes else 0))

    def close(self) -> None:
        self._thread.stop(STOP_SECONDS)
        self._poller.close()

    def __enter__(self) -> "PortHub":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        while not self._thread.stopping.is_set():
            for fd, events in self._poller.poll(HUB_WAKE):
                link = self._links.get(fd)
                if link is not None:
                    try:
                        link.serve(events)
                    except Exception:        # serve gives its own faults to its link; anything else is logged
                        log.exception("the port hub could not serve a port")


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

    def on_ack(self, ack: Ack | Nak) -> None:
        """An ACK moves the window forward; a NAK also sends the transfer back to its offset.
        Either is ignored if it is older than what is acknowledged or names bytes that do not
        exist; one past what was sent (from before a go-back) skips ahead."""
        if not self.acked <= ack.offset <= self.size:
            return
        self.window = min(self._limit, ack.window)
        self.acked = ack.offset
        if isinstance(ack, Nak) and self.next > ack.offset:
            self.rewind()
        self.next = max(self.next, ack.offset)

    def rewind(self) -> None:
        """Go back to the acknowledged offset: the receiver saw a gap or the stream stalled."""
        self.next = self.acked
        self.rewinds += 1


class Incoming:
    """The receiving half of one transfer: takes DATA in order and says when to ACK or NAK."""

    def __init__(self, tag: int, start: int, size: int, window: int, rto: float, keepalive: float = 1.0) -> None:
        self.tag, self.size, self.window, self.rto, self.keepalive = tag, size, window, rto, keepalive
        self.expected = start
        self.heard = False            # any DATA of this transfer seen yet
        self._ack_every = max(1, window // 2)
        self._unacked = 0
        self._gap_at: int | None = None       # offset of the last frame past a gap, since a frame was taken
        self._nak = False                     # a NAK is due
        self._progress = self._nudged = self._replied = time.monotonic()

    @property
    def done(self) -> bool:
        return self.expected >= self.size

    def idle(self, heard: float) -> float:
        """Seconds since the last in-order DATA or, on a slow line where one frame takes
        longer than that, since bytes last came in (``heard``, monotonic)."""
        return time.monotonic() - max(self._progress, heard)

    def accept(self, data: Data) -> bool:
        """True if ``data`` is the next in order: the caller hands it to the sink.

        A frame past a gap (one before it was lost) calls for a NAK if it is the first since
        a frame was taken, or if its offset is not above the last such frame's: the sender
        has gone back since, and the frame it was sent back for was lost again."""
        self.heard = True
        end = data.offset + len(data.data)
        if data.offset == self.expected and self.expected < end <= self.size:
            self.expected = end
            self._unacked += 1
            self._gap_at, self._nak = None, False
            self._progress = time.monotonic()
            return True
        if data.offset > self.expected:
            self._nak = self._nak or self._gap_at is None or data.offset <= self._gap_at
            self._gap_at = data.offset
        return False

    def reply(self, heard: float) -> tuple[Ack | Nak, ...]:
        """The ACK or NAKs to send now, if any; ``heard`` is when bytes last came in
        (monotonic): a frame still arriving on a slow line is no stall. A gap's NAK goes
        twice: one lost to noise would cost the RTO, and the second costs the device
        nothing, as it handles all that has come in before it sends again. On a line too slow
        for half a window within the sender's patience, an ACK goes at least every
        ``keepalive`` seconds once the transfer's first frame is in (before it, a reply is the
        GET again, which would send the sender back): the sender hears the receiver is there."""
        now = time.monotonic()
        nak = Nak(self.tag, self.expected, self.window)
        if self._nak:
            self._nak = False
            return self._sent(now, nak, nak)
        if self._unacked and (self._unacked >= self._ack_every or self.done):
            return self._sent(now, Ack(self.tag, self.expected, self.window))
        if now - max(self._progress, self._nudged, heard) >= self.rto:
            self._nudged = now                           # stalled: the sender goes back
            return self._sent(now, nak)
        if self.heard and now - self._replied >= self.keepalive:
            return self._sent(now, Ack(self.tag, self.expected, self.window))
        return ()

    def _sent(self, now: float, *replies: Ack | Nak) -> tuple[Ack | Nak, ...]:
        self._unacked, self._replied = 0, now
        return replies
