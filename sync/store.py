"""The two pluggable ends of a transfer: what the device offers and where the dock keeps it.

A :class:`Source` (device side) lists items and opens them for reading; it hears about
each signed receipt, and only then may it release the item. A :class:`Sink` (dock side)
says how much of an item it already holds durably, takes the rest, and commits the item
only after checking it. :class:`DirectorySource` and :class:`DirectorySink` are the simple
plain-file versions; the device's spool and the dock's archive plug in the same way.
"""
from __future__ import annotations

import logging
import os
import queue
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Callable, Protocol

from bodycam_threads import OwnedThread
from evidence.files import sha256_file, sync_directory
from evidence.paths import PARTIAL
from sync import VerifyError
from sync.messages import Item

log = logging.getLogger(__name__)
BUFFER = 1 << 20             # bytes a partial copy holds in memory before writing them out (a hand-over
                             # to the storing thread per MiB: per 64 KiB they cost 10 % of the dock's CPU)


class Source(Protocol):
    """The device's side. Must override all three."""

    def items(self) -> list[Item]:
        """Items pending upload, in the order to send them (urgent first, then oldest)."""
        ...

    def open(self, item: Item) -> BinaryIO:
        """A seekable binary reader of exactly ``item.size`` bytes; raises KeyError if gone."""
        ...

    def received(self, item: Item, signature: bytes) -> None:
        """The dock signed a receipt (already verified) for ``item``; it may now be released."""
        ...


class Partial(Protocol):
    """An item being received. ``offset`` bytes are held already; ``close`` keeps them."""

    offset: int

    def write(self, data: bytes) -> None: ...

    def commit(self) -> None:
        """Make the item durable and final if it checks out; otherwise discard it and raise
        :class:`VerifyError` (the next :meth:`Sink.resume` starts again from 0)."""
        ...

    def close(self) -> None:
        """Make what was written durable, for a later resume; safe after commit and twice."""
        ...


class Sink(Protocol):
    """The dock's side."""

    def peer(self, device_key: bytes) -> None:
        """The device that proved ``device_key`` in this session's AUTH; told before any
        :meth:`resume`, in every session."""
        ...

    def resume(self, item: Item) -> Partial | None:
        """The partial copy of ``item`` to continue, or None if the item is already stored.

        Raises :class:`VerifyError` if the item can never be accepted (unsafe id, or a
        different item is already stored under its id).
        """
        ...


class DirectorySource:
    """Every regular file under ``root`` (ids are relative paths), oldest first.

    Receipts are kept in memory: a received file is no longer offered by this object.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.receipts: dict[str, bytes] = {}
        self._hashes: dict[tuple[str, int, int], bytes] = {}

    def items(self) -> list[Item]:
        found = []
        for path in self.root.rglob("*"):
            if path.is_file() and not path.is_symlink():
                stat = path.stat()
                found.append((stat.st_mtime_ns, path.relative_to(self.root).as_posix(), stat.st_size))
        items = []
        for mtime, item_id, size in sorted(found):
            if item_id not in self.receipts:
                key = (item_id, size, mtime)
                if key not in self._hashes:
                    self._hashes[key] = sha256_file(self.root / item_id).digest()
                items.append(Item(item_id, size, self._hashes[key]))
        return items

    def open(self, item: Item) -> BinaryIO:
        try:
            return open(self.root / item.id, "rb")
        except FileNotFoundError as exc:
            raise KeyError(item.id) from exc

    def received(self, item: Item, signature: bytes) -> None:
        self.receipts[item.id] = signature


class DirectorySink:
    """Items land in ``root/<id>``, read-only; partial copies wait in ``root/.partial``.

    A partial copy is named by the item's SHA-256 and fsynced every ``sync_every`` bytes,
    so after a crash or power cut the transfer resumes from what is on disk; its hash is
    taken as it is written (the part already on disk is read once at resume).
    """

    def __init__(self, root: Path, sync_every: int = 4 << 20) -> None:
        self.root = Path(root)
        self.sync_every = sync_every
        self.partials = self.root / PARTIAL
        self.partials.mkdir(parents=True, exist_ok=True)

    def path(self, item: Item) -> Path:
        parts = PurePosixPath(item.id).parts
        if (not parts or parts[0] in ("/", PARTIAL) or any(p in ("", ".", "..") for p in parts)
                or "\\" in item.id or "\x00" in item.id):
            raise VerifyError(f"item id {item.id!r} is not a safe relative path")
        return self.root.joinpath(*parts)

    def peer(self, device_key: bytes) -> None:
        """Plain files are filed by their ids alone: which device sent them changes nothing."""

    def resume(self, item: Item) -> "FilePartial | None":
        final = self.path(item)
        if final.exists():
            if final.stat().st_size == item.size and sha256_file(final).digest() == item.sha256:
                return None
            raise VerifyError(f"{item.id!r} is already stored with different contents")
        return FilePartial(item, self.partials / item.sha256.hex(), final, self.sync_every)


class FilePartial:
    def __init__(self, item: Item, path: Path, final: Path, sync_every: int) -> None:
        self.item, self.path, self.final, self.sync_every = item, path, final, sync_every
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            size = os.fstat(self._fd).st_size
            if size > item.size:                 # cannot be a prefix of this item: start over
                os.ftruncate(self._fd, 0)
                size = 0
            self._digest = sha256_file(path, size)
        except BaseException:
            os.close(self._fd)
            raise
        self.offset = size
        self._buffer = bytearray()
        self._unsynced = 0
        self._storer: _Storer | None = None      # started by the first full buffer: small items need none

    def write(self, data: bytes) -> None:
        self._buffer += data          # stored in pieces of BUFFER bytes: fewer system calls and hand-overs
        self.offset += len(data)
        if len(self._buffer) >= BUFFER:
            if self._storer is None:
                self._storer = _Storer(self._store)
            self._storer.put(bytes(self._buffer))
            self._buffer.clear()

    def _store(self, piece: bytes) -> None:
        with memoryview(piece) as view:
            done = 0
            while done < len(view):
                done += os.write(self._fd, view[done:])
        self._digest.update(piece)
        self._unsynced += len(piece)
        if self._unsynced >= self.sync_every:
            os.fdatasync(self._fd)
            self._unsynced = 0

    def commit(self) -> None:
        self.close()
        if self.offset != self.item.size or self._digest.digest() != self.item.sha256:
            self.path.unlink()
            raise VerifyError(f"{self.item.id!r}: SHA-256 of the received bytes does not match")
        self.final.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(self.path, 0o444)
        os.link(self.path, self.final)           # never replaces an existing file
        self.path.unlink()
        for folder in {self.final.parent, self.path.parent}:
            sync_directory(folder)

    def close(self) -> None:
        if self._fd >= 0:
            try:
                if self._storer is not None:
                    self._storer.finish()
                self._store(bytes(self._buffer))
                self._buffer.clear()
                os.fsync(self._fd)
            finally:
                os.close(self._fd)
                self._fd = -1


class _Storer:
    """Writes, hashes and fsyncs a partial copy's pieces in a thread of its own, so that the
    link goes on reading the port meanwhile (an fsync on an SD card takes tens of ms, which
    would stop the line). At most ``depth`` pieces wait; an error is raised to the caller
    at its next :meth:`put` or at :meth:`finish`."""

    def __init__(self, store: Callable[[bytes], None], depth: int = 16) -> None:
        self._store = store
        self._pieces: queue.Queue[bytes | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = OwnedThread(self._run, "partial-storer")
        self._thread.start()

    def put(self, piece: bytes) -> None:
        self._raise()
        self._pieces.put(piece)

    def finish(self) -> None:
        """Wait until every piece is stored; raises what storing met."""
        self._pieces.put(None)
        self._thread.join()
        self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        while (piece := self._pieces.get()) is not None:
            if self._error is None:              # after an error, only drain: put() must not block
                try:
                    self._store(piece)
                except BaseException as exc:
                    log.exception("storing a piece of a partial copy failed")
                    self._error = exc
