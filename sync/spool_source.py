"""The device's spool as what the dock link offers: sealed evidence only, and release after receipt.

Items are ``<session>/<file>``: per session folder (sessions holding a ``marked`` segment
first, then oldest first) the open record, then per sealed segment its manifest, index and
video, then the close record. What is not sealed yet is not offered. Then the event log,
as ``events/events-NNNNNN.jsonl`` in order: each listing first ends the log's newest file
(:meth:`EventLog.rotate`), so every file offered is complete and never changes; events
written after that go in a later docking. A dock's receipt is stored in
``<data_dir>/receipts/<item>.receipt`` before anything is freed, and only a segment's video
is ever freed: when the receipt names exactly the hash its manifest sealed, the file on
disk still has that hash, and ``release_after_days`` have passed. Manifests, indexes and
session records stay, so the chain still verifies on the device; event files stay too
(they are small, and the device's own record of what happened).
"""
from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any, BinaryIO, Callable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from capture.evidence import (MANIFEST_SUFFIX, SESSION_CLOSE, SESSION_OPEN, EvidenceError, key_id, load_public_key,
                              read_record)
from capture.index import INDEX_SUFFIX
from capture.spool import sha256_file, sync_directory
from firmware.eventlog import FOLDER as EVENTS, EventLog, log_files
from sync.auth import receipt_data
from sync.enroll import enrolled_docks_dir, read_keys
from sync.messages import Item

log = logging.getLogger(__name__)
RECEIPTS = "receipts"
RECEIPT_SUFFIX = ".receipt"
DAY_NS = 86_400 * 10**9
MARKED = 1                      # OFFER priority of a session holding a marked segment


def receipt_path(data_dir: Path, item_id: str) -> Path:
    return Path(data_dir) / RECEIPTS / (item_id + RECEIPT_SUFFIX)


def receipt_dock(data_dir: Path, item_id: str, sha256_hex: str, device_key: bytes,
                 docks: set[bytes] | None = None) -> str | None:
    """The key id of the enrolled dock (of ``docks``, default: those enrolled) whose stored
    receipt holds ``item_id`` with exactly this hash, or None. The receipt file is checked
    again each time: a file anyone could write proves nothing."""
    try:
        receipt = json.loads(receipt_path(data_dir, item_id).read_text())
        dock_key, signature = bytes.fromhex(receipt["dock_key"]), bytes.fromhex(receipt["signature"])
        if receipt["item"] != item_id or receipt["sha256"] != sha256_hex:
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if dock_key not in (read_keys(enrolled_docks_dir(data_dir)) if docks is None else docks):
        return None
    if not _signed(dock_key, signature, receipt_data(device_key, item_id, bytes.fromhex(sha256_hex))):
        return None
    return key_id(dock_key)


def device_public_key(data_dir: Path) -> bytes:
    return load_public_key((Path(data_dir) / "device" / "device.pub").read_text())


def release_due(data_dir: Path, release_after_days: float, now_ns: int | None = None) -> list[str]:
    """Free every receipted video whose retention has run out (at service start); returns their ids."""
    folder = Path(data_dir) / RECEIPTS
    device_key = device_public_key(data_dir)
    return [item_id for path in sorted(folder.glob(f"*/*.mp4{RECEIPT_SUFFIX}"))
            if _release(Path(data_dir), item_id := path.relative_to(folder).as_posix()[:-len(RECEIPT_SUFFIX)],
                        device_key, release_after_days, now_ns)]


def _release(data_dir: Path, item_id: str, device_key: bytes, release_after_days: float,
             now_ns: int | None) -> bool:
    video = data_dir / "spool" / item_id
    if not item_id.endswith(".mp4") or not video.exists():
        return False
    try:
        sealed = read_record(video.with_name(video.name + MANIFEST_SUFFIX)).body["file"]
        received_ns = json.loads(receipt_path(data_dir, item_id).read_text())["time_ns"]
    except (EvidenceError, OSError, ValueError, KeyError, TypeError):
        return False
    if (now_ns or time.time_ns()) - received_ns < release_after_days * DAY_NS:
        return False
    if sealed.get("name") != video.name or receipt_dock(data_dir, item_id, sealed["sha256"], device_key) is None:
        return False
    if video.stat().st_size != sealed["size"] or sha256_file(video).hexdigest() != sealed["sha256"]:
        return False            # changed since it was sealed: the dock holds other bytes than these
    video.unlink()
    sync_directory(video.parent)
    log.info("released %s: receipted by the dock", item_id)
    return True


def _session_folders(spool: Path) -> list[Path]:
    """The spool's session folders, oldest first (their names begin with the start time)."""
    return sorted(p for p in spool.iterdir() if p.is_dir()) if spool.is_dir() else []


def not_offloaded(data_dir: Path) -> tuple[int, int]:
    """(sessions, bytes) on the spool that no stored valid receipt covers: what only the device
    holds. A file is covered when :func:`receipt_dock` holds for the hash it is offered with;
    files not sealed yet count. Only sessions with receipts are read, so an undocked spool
    costs no hashing."""
    data_dir = Path(data_dir)
    spool = data_dir / "spool"
    folders = _session_folders(spool)
    docked = [folder for folder in folders if (data_dir / RECEIPTS / folder.name).is_dir()]
    covered: set[str] = set()
    if docked:
        source = SpoolSource(data_dir)
        docks = read_keys(enrolled_docks_dir(data_dir))
        covered = {item.id for folder in docked for item in source._session(folder)[1]
                   if receipt_dock(data_dir, item.id, item.sha256.hex(), source.device_key, docks) is not None}
    sessions = total = 0
    for folder in folders:
        pending = [f.stat().st_size for f in folder.iterdir() if f.is_file() and f"{folder.name}/{f.name}" not in covered]
        sessions += bool(pending)
        total += sum(pending)
    return sessions, total


class SpoolSource:
    """``sync.store.Source`` over ``<data_dir>/spool``. ``event(kind, data)`` records each
    release (the device's event log)."""

    def __init__(self, data_dir: Path, release_after_days: float = 0,
                 event: Callable[[str, dict[str, Any]], Any] | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.spool = self.data_dir / "spool"
        self.release_after_days = release_after_days
        self.device_key = device_public_key(self.data_dir)
        self.event = event or (lambda kind, data: None)
        self._hashes: dict[tuple[str, int, int], bytes] = {}

    def items(self) -> list[Item]:
        sessions = _session_folders(self.spool)
        offered = [self._session(folder) for folder in sessions]
        offered.sort(key=lambda pair: -pair[0])          # stable: oldest first within a priority
        evidence = [item for _, items in offered for item in items]
        events = [Item(f"{EVENTS}/{path.name}", path.stat().st_size, self._digest(path, None))
                  for path in self._finished_event_files()]
        docks = read_keys(enrolled_docks_dir(self.data_dir))
        return [item for item in evidence + events
                if receipt_dock(self.data_dir, item.id, item.sha256.hex(), self.device_key, docks) is None]

    def _finished_event_files(self) -> list[Path]:
        """The event files that will not change again. Ending the newest one writes to the
        card: if that fails (full, read-only), the evidence still goes, and so do the
        event files but the newest."""
        try:
            return EventLog(self.data_dir).rotate()
        except OSError as exc:
            log.warning("cannot end the newest event file (%s): it stays for a later docking", exc)
            return log_files(self.data_dir / EVENTS)[:-1]

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
            files += [(manifest, None), (video.with_name(video.name + INDEX_SUFFIX), body.get("index")),
                      (video, body.get("file"))]
        files.append((folder / SESSION_CLOSE, None))
        priority = MARKED if marked else 0
        return priority, [Item(f"{folder.name}/{path.name}", path.stat().st_size, self._digest(path, sealed),
                               priority) for path, sealed in files if path.exists()]

    def _digest(self, path: Path, sealed: dict[str, Any] | None) -> bytes:
        size = path.stat().st_size
        if sealed and sealed.get("size") == size:
            # The sealed hash saves reading the whole spool at every dock; if the bytes differ
            # from it the dock's own hash check refuses them, so nothing wrong is receipted.
            return bytes.fromhex(sealed["sha256"])
        key = (str(path), size, path.stat().st_mtime_ns)
        if key not in self._hashes:
            self._hashes[key] = sha256_file(path).digest()
        return self._hashes[key]

    def open(self, item: Item) -> BinaryIO:
        folder = self.data_dir if item.id.startswith(f"{EVENTS}/") else self.spool
        try:
            return open(folder / item.id, "rb")
        except FileNotFoundError as exc:
            raise KeyError(item.id) from exc

    def received(self, item: Item, signature: bytes) -> None:
        """Store the receipt durably, then free the video if it has come due."""
        docks = [key for key in read_keys(enrolled_docks_dir(self.data_dir))
                 if _signed(key, signature, receipt_data(self.device_key, item.id, item.sha256))]
        if not docks:
            log.warning("receipt for %s not signed by an enrolled dock: ignored", item.id)
            return
        path = receipt_path(self.data_dir, item.id)
        path.parent.mkdir(parents=True, exist_ok=True)
        receipt = {"item": item.id, "sha256": item.sha256.hex(), "dock_key": docks[0].hex(),
                   "signature": signature.hex(), "time_ns": time.time_ns()}
        temporary = path.with_name(path.name + ".tmp")
        with open(temporary, "w") as fh:
            json.dump(receipt, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temporary, path)
        sync_directory(path.parent)
        if _release(self.data_dir, item.id, self.device_key, self.release_after_days, None):
            self.event("released", {"item": item.id, "sha256": item.sha256.hex()})


def _signed(public_key: bytes, signature: bytes, data: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, data)
        return True
    except (InvalidSignature, ValueError):
        return False
