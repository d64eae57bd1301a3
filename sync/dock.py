"""The dock end of the dock link: pulls every offered item into a :class:`Sink`, then receipts it.

The dock leads: it opens each session, retries requests that go unanswered, and drives
every transfer's window with its ACKs. An item is receipted only after the sink has
committed it (hash checked, durable); a session lost to the link is started again and each
transfer resumes from what the sink already holds.
"""
from __future__ import annotations

import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import serial

from evidence.receipts import receipt_data
from sync import Abandoned, AuthError, LinkDown, PeerError, VerifyError
from sync.auth import Authenticator, auth_data, transcript
from sync.link import Incoming, Link, LinkConfig, PortHub
from sync.messages import (MAGIC, MIN_VERSION, VERSION, Auth, Bye, Clock, Data, Done, Error, ErrorCode, Get,
                           Hello, Item, ListItems, Message, Offer, Receipt, Role, SetClock)
from sync.store import Partial, Sink


@dataclass
class PullReport:
    items: list[str] = field(default_factory=list)                # stored and receipted, in order
    bytes: int = 0                                                # data bytes taken in order
    resumed: list[tuple[str, int]] = field(default_factory=list)  # (id, offset) of transfers not from 0
    failed: dict[str, str] = field(default_factory=dict)          # id -> why it was not receipted
    sessions: int = 0                                             # sessions authenticated
    drops: int = 0                                                # sessions lost to the link
    clock_offset_ns: int | None = None                            # device clock minus dock clock
    seconds: float = 0.0
    cpu_seconds: float = 0.0                                      # this process's CPU (user + sys) in pull()


class Dock:
    """Pull from a device over ``port`` into ``sink``.

    ``clock()`` gives the dock's UTC time in nanoseconds; with it, each session sets the
    device's clock and records how far off it was. ``offered(items)`` hears each session's
    list; once ``stop`` is set the pull raises :class:`Abandoned`, leaving the item under
    way partial and unreceipted (a receipt goes only for an item the sink committed). With a
    ``hub``, its thread reads the port (a dock service's bays share one).
    """

    def __init__(self, port: serial.SerialBase, sink: Sink, auth: Authenticator, *,
                 config: LinkConfig = LinkConfig(), clock: Callable[[], int] | None = None,
                 offered: Callable[[list[Item]], None] | None = None, stop: threading.Event | None = None,
                 hub: PortHub | None = None) -> None:
        self.port, self.hub = port, hub
        self.sink, self.auth, self.config, self.clock = sink, auth, config, clock
        self.offered, self.stop = offered, stop
        self._tag = secrets.randbits(32)

    def pull(self, patience: float = 30.0) -> PullReport:
        """Take everything on offer. Sessions lost to the link are opened again until one
        completes; gives up (LinkDown) after ``patience`` seconds without progress."""
        report = PullReport()
        began = progress_at = time.monotonic()
        cpu = time.process_time()
        progress = (0, 0)
        with Link(self.port, hub=self.hub) as self.link:
            while True:
                try:
                    self._session(report)
                    break
                except LinkDown:
                    self._check_stop()
                    report.drops += 1
                    now = time.monotonic()
                    if (report.bytes, len(report.items)) != progress:
                        progress, progress_at = (report.bytes, len(report.items)), now
                    if now - progress_at > patience:
                        raise
        report.seconds = time.monotonic() - began
        report.cpu_seconds = time.process_time() - cpu
        return report

    def _session(self, report: PullReport) -> None:
        self.link.discard()
        hello = Hello(self._next_tag(), MAGIC, MIN_VERSION, VERSION, Role.DOCK, self.config.window,
                      self.config.chunk, self.auth.public_key, os.urandom(32))
        device = self._request(hello, Hello)
        if device.role != Role.DEVICE:
            raise AuthError("the peer is not a device")
        if min(VERSION, device.version_max) < max(MIN_VERSION, device.version_min):
            raise PeerError(ErrorCode.VERSION, f"no version in common with {device.version_min}..{device.version_max}")
        session = transcript(hello.encode(), device.encode())
        answer = self._request(Auth(self._next_tag(), self.auth.sign(auth_data(Role.DOCK, session))), Auth)
        if not self.auth.verify(device.public_key, auth_data(Role.DEVICE, session), answer.signature):
            raise AuthError(f"device key {device.public_key.hex()[:16]} is not enrolled or its signature fails")
        self.sink.peer(device.public_key)
        report.sessions += 1
        if self.clock is not None:
            try:
                clock = self._request(SetClock(self._next_tag(), self.clock()), Clock)
                report.clock_offset_ns = clock.device_ns - clock.time_ns
            except PeerError as exc:
                if exc.code != ErrorCode.UNSUPPORTED:
                    raise
        window = min(self.config.window, device.window)
        items = self._list()
        if self.offered is not None:
            self.offered(items)
        for item in items:
            self._check_stop()
            if item.id not in report.items and item.id not in report.failed:
                self._take(item, device.public_key, window, report)
        self._request(Bye(self._next_tag()), Bye)

    def _list(self) -> list[Item]:
        items: list[Item] = []
        while True:
            offer = self._request(ListItems(self._next_tag(), len(items)), Offer)
            items += offer.items
            if len(items) >= offer.total or not offer.items:
                return items

    def _take(self, item: Item, device_key: bytes, window: int, report: PullReport) -> None:
        for _ in range(2):           # a copy that fails its hash is fetched once more, from 0
            try:
                partial = self.sink.resume(item)
                if partial is not None:
                    try:
                        if partial.offset < item.size:
                            self._fetch(item, partial, window, report)
                        partial.commit()
                    finally:
                        partial.close()
            except (VerifyError, PeerError) as exc:
                report.failed[item.id] = str(exc)
                if isinstance(exc, PeerError):
                    return
                continue
            signature = self.auth.sign(receipt_data(device_key, item.id, item.sha256))
            try:
                self._request(Receipt(self._next_tag(), item.sha256, signature, item.id), Done)
            except PeerError as exc:
                report.failed[item.id] = f"receipt refused: {exc}"
                return
            report.failed.pop(item.id, None)
            report.items.append(item.id)
            return

    def _fetch(self, item: Item, partial: Partial, window: int, report: PullReport) -> None:
        get = Get(self._next_tag(), partial.offset, item.id)
        if partial.offset:
            report.resumed.append((item.id, partial.offset))
        incoming = Incoming(get.tag, partial.offset, item.size, window, self.config.rto,
                            keepalive=self.config.dead_after / 4)
        self.link.send(get)
        while not incoming.done:
            self._check_stop()
            message = self.link.receive(self.config.rto / 2)
            if isinstance(message, Data) and message.tag == get.tag:
                if incoming.accept(message):
                    partial.write(message.data)
                    report.bytes += len(message.data)
            elif isinstance(message, Error) and message.tag == get.tag:
                raise PeerError(message.code, message.text)
            if incoming.idle(self.link.heard) > self.config.dead_after:
                raise LinkDown(f"no data for {item.id!r} in {self.config.dead_after} s")
            replies = incoming.reply(self.link.heard)
            if replies:
                self.link.send(*(replies if incoming.heard else (get,)))   # nothing heard: the GET was lost

    def _request(self, request: Message, expect: type) -> Message:
        """Send ``request`` until its answer comes; raise PeerError on ERROR, LinkDown on silence.

        The same bytes go again after one RTO without an answer, then after twice as long each
        time (a device busy with a long answer is not flooded with repeats); bytes that may
        still become a frame postpone that. ``dead_after`` counts from the first sending.
        """
        first = last = time.monotonic()
        wait = self.config.rto
        self.link.send(request)
        while True:
            self._check_stop()
            due = max(last, self.link.heard) + wait - time.monotonic()
            answer = self.link.receive(min(self.config.rto, max(0.0, due)))     # a look at ``stop`` every RTO
            if answer is not None and answer.tag == request.tag:
                if isinstance(answer, expect):
                    return answer
                if isinstance(answer, Error):
                    raise PeerError(answer.code, answer.text)
            now = time.monotonic()
            if now - first > self.config.dead_after:
                raise LinkDown(f"no answer to {request.NAME} in {self.config.dead_after} s")
            if now - max(last, self.link.heard) >= wait:
                self.link.send(request)
                last, wait = now, wait * 2

    def _check_stop(self) -> None:
        if self.stop is not None and self.stop.is_set():
            raise Abandoned("the dock was told to stop; what was under way stays partial, unreceipted")

    def _next_tag(self) -> int:
        self._tag = (self._tag + 1) % 2**32
        return self._tag
