"""The device end of the dock link: answers the dock, streams items, takes signed receipts.

The thread that calls :meth:`Device.serve` owns everything here: it takes requests,
answers them, and in between keeps the current transfer's window full. The device only ever answers; it never starts anything, and an
unauthenticated dock gets nothing but HELLO and ERROR.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import BinaryIO, Callable

import serial

from evidence.receipts import receipt_data
from sync import LinkDown
from sync.auth import Authenticator, auth_data, transcript
from sync.framing import MAX_PAYLOAD
from sync.link import Link, LinkConfig, Outgoing
from sync.messages import (HEADER, MAGIC, MIN_VERSION, VERSION, Ack, Auth, Bye, Clock, Data, Done, Error,
                           ErrorCode, Get, Hello, Item, ListItems, Message, Nak, Offer, Receipt, Role, SetClock)
from sync.store import Source

log = logging.getLogger(__name__)
POLL = 0.1                   # how often an idle device looks at ``stop``
OFFER_ITEM = 1 + 8 + 32 + 1  # an OFFER item's bytes besides its id


@dataclass
class DeviceStats:
    sessions: int = 0                                            # HELLOs answered
    gets: list[tuple[str, int]] = field(default_factory=list)    # (item id, offset) of each transfer
    data_bytes: int = 0                                          # DATA bytes sent, repeats included
    rewinds: int = 0                                             # go-backs asked for by the dock
    receipts: list[str] = field(default_factory=list)            # items released by a valid receipt
    refused: list[str] = field(default_factory=list)             # refusals, also logged
    cpu_seconds: float = 0.0                                     # this process's CPU (user + sys) in serve()


@dataclass
class _Session:
    peer: Hello                  # the dock's HELLO
    transcript: bytes
    window: int
    chunk: int
    authenticated: bool = False
    listing: list[Item] | None = None
    offered: dict[str, Item] = field(default_factory=dict)


class Device:
    """Serve a :class:`Source` to an authenticated dock over ``port``.

    ``set_clock(dock_ns)`` sets the device's clock and returns its reading from just
    before; without it SET_CLOCK is refused as unsupported.
    """

    def __init__(self, port: serial.SerialBase, source: Source, auth: Authenticator, *,
                 config: LinkConfig = LinkConfig(), set_clock: Callable[[int], int] | None = None) -> None:
        self.port = port
        self.source, self.auth, self.config, self.set_clock = source, auth, config, set_clock
        self.stats = DeviceStats()
        self._session: _Session | None = None
        self._out: Outgoing | None = None
        self._file: BinaryIO | None = None
        self._last_get = -1          # tag of the last GET that started a transfer
        self._cache: tuple[bytes, Message] | None = None   # last request and its answer
        self._heard = time.monotonic()

    def serve(self, stop: threading.Event | None = None, sessions: int | None = None) -> DeviceStats:
        """Answer the dock until ``stop`` is set, or until ``sessions`` sessions ended in BYE."""
        ended, cpu = 0, time.process_time()
        self.link = Link(self.port)
        try:
            while not (stop is not None and stop.is_set()) and (sessions is None or ended < sessions):
                try:
                    ended += self._step()
                except LinkDown as exc:
                    self._end(str(exc))
        finally:
            self._end(None)
            self.link.close()
            self.stats.cpu_seconds = time.process_time() - cpu
        return self.stats

    def _step(self) -> bool:
        """Handle every message that has come in (an ACK or NAK changes what to send), then
        fill the window; wait for the dock only when there is nothing to send."""
        out = self._out
        streaming = out is not None and out.ready()
        message = self.link.receive(0 if streaming else POLL)
        if message is not None:
            self._heard = time.monotonic()
            return self._dispatch(message)
        if streaming:
            self._send_window(out)
        elif self._session is not None and time.monotonic() - self._heard > self.config.dead_after:
            self._end("the dock went silent")
        return False

    def _send_window(self, out: Outgoing) -> None:
        """Send as many DATA frames as the window allows, each as soon as it is encoded: a
        pty or UART buffers a few KiB only, so the line must not wait for the whole window."""
        while out.ready():
            offset, length = out.take()
            try:
                if self._file.tell() != offset:
                    self._file.seek(offset)
                data = self._file.read(length)
                if len(data) != length:
                    raise OSError("the item is shorter than offered")
            except OSError as exc:
                self._close_transfer()
                self.link.send(Error(out.tag, ErrorCode.INTERNAL, f"cannot read the item: {exc}"))
                return
            self.stats.data_bytes += length
            self.link.send(Data(out.tag, offset, data))

    def _dispatch(self, message: Message) -> bool:
        out = self._out
        if isinstance(message, (Ack, Nak)):
            if out is not None and message.tag == out.tag:
                rewinds = out.rewinds
                out.on_ack(message)
                if out.rewinds > rewinds:
                    self._went_back()
                if out.done:
                    self._close_transfer()
            return False
        if isinstance(message, Get) and message.tag == self._last_get:
            if out is not None:      # the dock heard nothing of this transfer yet: start over
                out.rewind()
                self._went_back()
            return False
        handler = self._handlers.get(type(message))
        if handler is None:
            return False             # not a request (a stray answer): nothing to do
        payload = message.encode()
        if self._cache is not None and self._cache[0] == payload:
            self.link.send(self._cache[1])       # a repeat: the same answer, done only once
            return False
        self._close_transfer()       # any new request ends the current transfer
        if type(message) not in (Hello, Auth, Bye) and not (self._session and self._session.authenticated):
            answer = self._refuse(message, ErrorCode.AUTH, "authenticate first")
        else:
            answer = handler(self, message)
        if answer is not None:
            self._cache = (payload, answer)
            self.link.send(answer)
        if isinstance(message, Bye):
            self._end(None)
            return True
        return False

    def _hello(self, hello: Hello) -> Message:
        self._end(None)
        version = min(VERSION, hello.version_max)
        if hello.role != Role.DOCK:
            return self._refuse(hello, ErrorCode.AUTH, "only a dock may open a session")
        if version < max(MIN_VERSION, hello.version_min):
            return self._refuse(hello, ErrorCode.VERSION, f"this device speaks versions {MIN_VERSION}..{VERSION}")
        reply = Hello(hello.tag, MAGIC, MIN_VERSION, VERSION, Role.DEVICE, self.config.window,
                      self.config.chunk, self.auth.public_key, os.urandom(32))
        self._session = _Session(hello, transcript(hello.encode(), reply.encode()),
                                 min(hello.window, self.config.window), min(hello.chunk, self.config.chunk))
        self.stats.sessions += 1
        return reply

    def _auth(self, message: Auth) -> Message:
        session = self._session
        if session is None:
            return self._refuse(message, ErrorCode.AUTH, "HELLO first")
        if not self.auth.verify(session.peer.public_key, auth_data(Role.DOCK, session.transcript),
                                message.signature):
            return self._refuse(message, ErrorCode.AUTH,
                                f"dock key {session.peer.public_key.hex()[:16]} is not enrolled or its signature fails")
        session.authenticated = True
        return Auth(message.tag, self.auth.sign(auth_data(Role.DEVICE, session.transcript)))

    def _list(self, message: ListItems) -> Message:
        session = self._session
        if message.start == 0 or session.listing is None:
            session.listing = self.source.items()     # one snapshot, paged
            session.offered.update((item.id, item) for item in session.listing)
        if message.start > len(session.listing):
            return Error(message.tag, ErrorCode.RANGE, "LIST starts past the end")
        page, size = [], HEADER.size + 10
        for item in session.listing[message.start:]:
            size += OFFER_ITEM + len(item.id.encode("utf-8"))
            if size > MAX_PAYLOAD:
                break
            page.append(item)
        return Offer(message.tag, message.start, len(session.listing), tuple(page))

    def _get(self, message: Get) -> Message | None:
        item = self._session.offered.get(message.id)
        if item is None:
            return Error(message.tag, ErrorCode.NOT_FOUND, f"no item {message.id!r} on offer")
        if message.offset > item.size:
            return Error(message.tag, ErrorCode.RANGE, f"offset {message.offset} is past the end ({item.size})")
        if message.offset == item.size:      # nothing left to send: say so at once
            self.stats.gets.append((item.id, message.offset))
            return Data(message.tag, item.size, b"")
        try:
            self._file = self.source.open(item)
        except KeyError:
            return Error(message.tag, ErrorCode.NOT_FOUND, f"item {message.id!r} is gone")
        except OSError as exc:
            return Error(message.tag, ErrorCode.INTERNAL, f"cannot open {message.id!r}: {exc.strerror}")
        self._out = Outgoing(message.tag, message.offset, item.size, self._session.chunk, self._session.window)
        self._last_get = message.tag
        self.stats.gets.append((item.id, message.offset))
        return None

    def _receipt(self, message: Receipt) -> Message:
        item = self._session.offered.get(message.id)
        if item is None or item.sha256 != message.sha256:
            return self._refuse(message, ErrorCode.RECEIPT, f"no item {message.id!r} with that SHA-256")
        data = receipt_data(self.auth.public_key, item.id, item.sha256)
        if not self.auth.verify(self._session.peer.public_key, data, message.signature):
            return self._refuse(message, ErrorCode.RECEIPT, f"receipt for {message.id!r} has a bad signature")
        self.source.received(item, message.signature)
        self.stats.receipts.append(item.id)
        return Done(message.tag, item.sha256, item.id)

    def _set_clock(self, message: SetClock) -> Message:
        if self.set_clock is None:
            return Error(message.tag, ErrorCode.UNSUPPORTED, "this device does not take the time from the dock")
        return Clock(message.tag, message.time_ns, self.set_clock(message.time_ns))

    def _bye(self, message: Bye) -> Message:
        return Bye(message.tag)

    _handlers: dict[type, Callable[["Device", Message], Message | None]] = {
        Hello: _hello, Auth: _auth, ListItems: _list, Get: _get, Receipt: _receipt, SetClock: _set_clock, Bye: _bye}

    def _refuse(self, message: Message, code: ErrorCode, text: str) -> Error:
        self.stats.refused.append(f"{message.NAME}: {text}")
        log.warning("refused %s: %s", message.NAME, text)
        return Error(message.tag, code, text)

    def _went_back(self) -> None:
        """The transfer goes back to the dock's ACK: frames still queued would only arrive
        behind their own repeats (on a slow line, a window behind), so they go."""
        self.stats.rewinds += 1
        self.link.drop_unsent()

    def _close_transfer(self) -> None:
        if self._file is not None:
            self._file.close()
        if self._out is not None:
            self.link.drop_unsent()          # the dock asked for something else: answer that first
        self._file, self._out = None, None

    def _end(self, reason: str | None) -> None:
        if reason and self._session is not None:
            log.info("session ended: %s", reason)
        self._close_transfer()
        self._session, self._cache = None, None
