"""The device's end of the dock link: the spool as what it offers, receipts, release, the clock.

First, always, ``device/chain-head.json``: the signed chain head, so that the dock checks the
device's chain against what it saw before it takes anything; then the identity records,
``device/identity-NNNNNN.json``. Then items ``<session>/<file>``: per session folder (sessions holding a ``marked`` segment
first, then oldest first) the open record, then per sealed segment its manifest, index and
video, then the close record. What is not sealed yet is not offered. A video is offered as
exactly the bytes its manifest sealed (``evidence.receipts.extent``). Then the event log,
as ``events/events-NNNNNN.jsonl`` in order: each listing first ends the log's newest file
(:meth:`EventLog.rotate`), so every file offered is complete and never changes; events
written after that go in a later docking. A dock's receipt is stored in
``<data_dir>/receipts/<item>.receipt`` before anything is freed, and only a segment's video
is ever freed: when the receipt names exactly the hash its manifest sealed, the file on
disk still begins with those bytes, and ``release_after_days`` have passed. Manifests,
indexes and session records stay, so the chain still verifies on the device; event files
stay too (they are small, and the device's own record of what happened).
"""
from __future__ import annotations

import hashlib
import io
import logging
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO, Callable

from evidence import EvidenceError, receipts
from evidence.eventlog import log_files
from evidence.files import sync_directory
from evidence.keys import FileSigner, load_public_key, read_keys
from evidence.paths import DEVICE_ITEMS, EVENTS, RECEIPT_SUFFIX, DataDir
from evidence.receipts import receipt_dock
from evidence.records import (CHAIN_HEAD, IDENTITY_GLOB, INDEX_SUFFIX, MANIFEST_SUFFIX, SESSION_CLOSE, SESSION_OPEN,
                              read_record)
from firmware.context import DeviceContext
from firmware.eventlog import EventHandler, EventLog
from firmware.writer import writing
from sync.auth import Ed25519Authenticator
from sync.device import Device, DeviceStats
from sync.link import LinkConfig, open_port
from sync.messages import Item

log = logging.getLogger(__name__)
DAY_NS = 86_400 * 10**9
MARKED = 1                      # OFFER priority of a session holding a marked segment
HEAD_ITEM = f"{DEVICE_ITEMS}/{CHAIN_HEAD}"


def device_public_key(data_dir: DataDir) -> bytes:
    return load_public_key(data_dir.public_key.read_text())


def device_authenticator(data_dir: DataDir) -> Ed25519Authenticator:
    """The device's end: its own key, trusting only the enrolled docks."""
    return Ed25519Authenticator(FileSigner(data_dir.key), read_keys(data_dir.docks))


def release_due(data_dir: DataDir, release_after_days: float, now_ns: int | None = None) -> list[str]:
    """Free every receipted video whose retention has run out (at service start); returns their ids."""
    folder = data_dir.receipts
    device_key = device_public_key(data_dir)
    return [item_id for path in sorted(folder.glob(f"*/*.mp4{RECEIPT_SUFFIX}"))
            if _release(data_dir, item_id := path.relative_to(folder).as_posix()[:-len(RECEIPT_SUFFIX)],
                        device_key, release_after_days, now_ns)]


def _release(data_dir: DataDir, item_id: str, device_key: bytes, release_after_days: float,
             now_ns: int | None) -> bool:
    video = data_dir.spool / item_id
    if not item_id.endswith(".mp4") or not video.exists():
        return False
    try:
        manifest = read_record(video.with_name(video.name + MANIFEST_SUFFIX)).body
        sealed = manifest["file"]
    except (EvidenceError, KeyError, TypeError):
        return False
    received = receipts.received_ns(data_dir, item_id)
    if received is None or (now_ns or time.time_ns()) - received < release_after_days * DAY_NS:
        return False
    if sealed.get("name") != video.name or receipts.extent(video, manifest)[1] != sealed["sha256"] \
            or receipt_dock(data_dir, item_id, sealed["sha256"], device_key) is None:
        return False            # not offered as sealed (changed in size), or no receipt of exactly it
    if not receipts.holds(video, sealed):
        return False            # changed since it was sealed: the dock holds other bytes than these
    video.unlink()
    sync_directory(video.parent)
    log.info("released %s: receipted by the dock", item_id)
    return True


def _session_folders(spool: Path) -> list[Path]:
    """The spool's session folders, oldest first (their names begin with the start time)."""
    return sorted(p for p in spool.iterdir() if p.is_dir()) if spool.is_dir() else []


def not_offloaded(context: DeviceContext) -> tuple[int, int]:
    """(sessions, bytes) on the spool that no stored valid receipt covers: what only the device
    holds. A file is covered when :func:`receipt_dock` holds for the extent it is offered
    with; files not sealed yet count. Only sessions with receipts are read, so an undocked
    spool costs no hashing."""
    data_dir = context.data_dir
    folders = _session_folders(data_dir.spool)
    docked = [session for session in folders if (data_dir.receipts / session.name).is_dir()]
    covered: set[str] = set()
    if docked:
        source = SpoolSource(context)
        docks = read_keys(data_dir.docks)
        covered = {item.id for session in docked for item in source._session(session)[1]
                   if receipt_dock(data_dir, item.id, item.sha256.hex(), source.device_key, docks) is not None}
    sessions = total = 0
    for session in folders:
        pending = [f.stat().st_size for f in session.iterdir() if f.is_file() and f"{session.name}/{f.name}" not in covered]
        sessions += bool(pending)
        total += sum(pending)
    return sessions, total


class SpoolSource:
    """``sync.store.Source`` over the context's ``<data_dir>/spool``, releasing videos after the
    context's ``dock.release_after_days``; each release is an event of its event log."""

    def __init__(self, context: DeviceContext) -> None:
        self.data_dir, self.events = context.data_dir, context.events
        self.release_after_days = context.dock.release_after_days
        self.device_key = device_public_key(self.data_dir)
        self._hashes: dict[tuple[str, int, int], tuple[int, str]] = {}
        self._head_bytes = b""

    def items(self) -> list[Item]:
        """The signed chain head first, always (the dock checks it against what it saw before
        it takes anything), then what no enrolled dock has receipted: the identity records,
        the sessions, the event files."""
        head = self._head()
        offered = [self._session(folder) for folder in _session_folders(self.data_dir.spool)]
        offered.sort(key=lambda pair: -pair[0])          # stable: oldest first within a priority
        identities = [self._item(f"{DEVICE_ITEMS}/{path.name}", path, None)
                      for path in sorted(self.data_dir.identity.glob(IDENTITY_GLOB))]
        evidence = [item for _, items in offered for item in items]
        events = [self._item(f"{EVENTS}/{path.name}", path, None) for path in self._finished_event_files()]
        docks = read_keys(self.data_dir.docks)
        return head + [item for item in identities + evidence + events
                       if receipt_dock(self.data_dir, item.id, item.sha256.hex(), self.device_key, docks) is None]

    def _head(self) -> list[Item]:
        """The chain head as it is now: kept in memory, as a recording may move it meanwhile."""
        try:
            self._head_bytes = self.data_dir.chain.read_bytes()
        except FileNotFoundError:
            return []
        return [Item(HEAD_ITEM, len(self._head_bytes), hashlib.sha256(self._head_bytes).digest())]

    def _finished_event_files(self) -> list[Path]:
        """The event files that will not change again. Ending the newest one writes to the
        card: if that fails (full, read-only), the evidence still goes, and so do the
        event files but the newest."""
        try:
            return self.events.rotate()
        except OSError as exc:
            log.warning("cannot end the newest event file (%s): it stays for a later docking", exc)
            return log_files(self.data_dir.events)[:-1]

    def _session(self, folder: Path) -> tuple[int, list[Item]]:
        """(priority, items) of one session, in chain order, up to what is sealed."""
        if not (folder / SESSION_OPEN).exists():
            return 0, []
        files: list[tuple[Path, dict[str, Any] | None]] = [(folder / SESSION_OPEN, None)]
        marked = False
        for manifest in sorted(folder.glob("seg-*.mp4" + MANIFEST_SUFFIX)):
            video = manifest.with_name(manifest.name[:-len(MANIFEST_SUFFIX)])
            try:
                body = read_record(manifest).body
            except EvidenceError:
                body = {}           # offered all the same: the dock refuses it and says why
            marked |= "marked" in body.get("flags", [])
            files += [(manifest, None), (video.with_name(video.name + INDEX_SUFFIX), None), (video, body or None)]
        files.append((folder / SESSION_CLOSE, None))
        priority = MARKED if marked else 0
        return priority, [self._item(f"{folder.name}/{path.name}", path, sealed, priority)
                          for path, sealed in files if path.exists()]

    def _item(self, item_id: str, path: Path, sealed: dict[str, Any] | None, priority: int = 0) -> Item:
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        if key not in self._hashes:
            self._hashes[key] = receipts.extent(path, sealed)
        size, sha256 = self._hashes[key]
        return Item(item_id, size, bytes.fromhex(sha256), priority)

    def open(self, item: Item) -> BinaryIO:
        if item.id == HEAD_ITEM:
            return io.BytesIO(self._head_bytes)
        folder = self.data_dir.root if item.id.startswith(f"{EVENTS}/") else self.data_dir.spool
        if item.id.startswith(f"{DEVICE_ITEMS}/"):
            folder, item_id = self.data_dir.identity, item.id.partition("/")[2]
        else:
            item_id = item.id
        try:
            return open(folder / item_id, "rb")
        except FileNotFoundError as exc:
            raise KeyError(item.id) from exc

    def received(self, item: Item, signature: bytes) -> None:
        """Store the receipt durably, then free the video if it has come due."""
        docks = [key for key in read_keys(self.data_dir.docks)
                 if receipts.signed_by(key, signature, receipts.receipt_data(self.device_key, item.id, item.sha256))]
        if not docks:
            log.warning("receipt for %s not signed by an enrolled dock: ignored", item.id)
            return
        receipts.store(self.data_dir, item.id, item.sha256, docks[0], signature)
        if _release(self.data_dir, item.id, self.device_key, self.release_after_days, None):
            self.events.append("released", {"item": item.id, "sha256": item.sha256.hex()})


def serving_warnings(events: EventLog) -> EventHandler:
    """A handler that takes every warning logged on the calling (serving) thread, by any module,
    into ``events``: a refusal of the device end as ``dock_refused``, the rest as ``offload_warning``."""
    handler = EventHandler(events, lambda record: "dock_refused" if record.name == "sync.device" else "offload_warning")
    serving = threading.get_ident()
    handler.addFilter(lambda record: record.thread == serving)
    return handler


def clock_setter(context: DeviceContext) -> Callable[[int], int]:
    """SET_CLOCK on the device: record the offset; set the clock only if ``[dock]`` allows."""
    policy = context.dock

    def set_clock(dock_ns: int) -> int:
        device_ns = time.time_ns()
        applied = False
        if policy.set_system_clock:
            time.clock_settime_ns(time.CLOCK_REALTIME, dock_ns)
            applied = True
        context.events.append("clock_set", {"dock_ns": dock_ns, "device_ns": device_ns,
                                            "offset_ns": device_ns - dock_ns, "applied": applied})
        if applied or abs(device_ns - dock_ns) <= policy.max_drift_ns:
            context.data_dir.clock_set.touch()     # the self-test takes its age as "the dock vouched for the clock"
        return device_ns
    return set_clock


def serve(context: DeviceContext, port_url: str, *, stop: threading.Event | None = None, sessions: int | None = None,
          config: LinkConfig = LinkConfig()) -> DeviceStats:
    """Offer the spool to enrolled docks on ``port_url`` (at ``dock.baudrate`` on a UART) until
    ``stop`` (or ``sessions`` sessions), holding the data directory's writer lock (receipts are
    stored and videos freed)."""
    with writing(context.data_dir):
        return _serve(context, port_url, stop, sessions, config)


def _serve(context: DeviceContext, port_url: str, stop: threading.Event | None, sessions: int | None,
           config: LinkConfig) -> DeviceStats:
    for item_id in release_due(context.data_dir, context.dock.release_after_days):
        context.events.append("released", {"item": item_id})
    source = SpoolSource(context)
    handler = serving_warnings(context.events)
    logging.getLogger().addHandler(handler)     # every module's: the link's, ours, the evidence's
    try:
        port = open_port(port_url, context.dock.baudrate)
        try:
            return Device(port, source, device_authenticator(context.data_dir), config=config,
                          set_clock=clock_setter(context)).serve(stop, sessions)
        finally:
            port.close()
    finally:
        logging.getLogger().removeHandler(handler)
