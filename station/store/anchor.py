"""The audit trail anchored in the central store, where no station can rewrite it
(docs/audit-format.md, "Anchored in the central store").

At each push (and whenever the dock service anchors), the entries of this station's journal
after the last anchored one go up as one locked object,
``audit/<station id>/journal-<first seq>-<last seq>.jsonl`` (lines exactly as in the journal),
followed by a signed checkpoint ``audit/<station id>/checkpoint-<last seq>.json`` naming the
last entry's ``seq`` and hash and the batch's key, version and SHA-256, and the device keys
enrolled on the station then (its trust decision, which a rebuild from the store gives back
under the station's own signature). Both are COMPLIANCE-locked for the long-term period.
Comparing the station's trail with them (:func:`compare`) catches entries removed from the end
of its trail, an older database restored, or an entry changed; a lost journal is rebuilt from
the batches (:func:`restore_journal`).
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from evidence.keys import FileSigner, key_id
from evidence.records import canonical
from station.custody import journal
from station.custody.audit import Entry
from station.store import bucket
from station.store.bucket import StoreError, StoreSettings

DOMAIN = b"bodycam-anchor/1\n"
FORMAT = "bodycam-anchor/1"
SEQ_DIGITS = 12


@dataclass(frozen=True)
class Checkpoint:
    body: dict[str, Any]
    key: str

    @property
    def last_seq(self) -> int:
        return self.body["last_seq"]


def prefix(station: str) -> str:
    return f"audit/{station}/"


def anchor(s3: Any, settings: StoreSettings, journal_file: Path, signer: FileSigner, now_ns: int,
           archived: Callable[[int], dict[str, int]], devices: set[bytes]) -> Checkpoint | None:
    """Store the journal's entries after the last checkpoint as one locked batch, then a signed
    checkpoint; None when there was nothing new. Each object is read back before the next. The
    checkpoint also names when each session stored since the last one was archived
    (``archived(since_ns)``: folder to ns) and the enrolled ``devices``' public keys, which a
    rebuild from the store gives back. One anchoring at a time per journal: the dock service and
    the review page of one station may both anchor it."""
    with _alone(journal_file):
        return _anchor(s3, settings, journal_file, signer, now_ns, archived, devices)


@contextlib.contextmanager
def _alone(journal_file: Path) -> Iterator[None]:
    """An exclusive lock on the journal's anchoring, across processes (two at once would write
    overlapping batches and forked checkpoints)."""
    journal_file.parent.mkdir(parents=True, exist_ok=True)
    with open(journal_file.with_suffix(".anchoring"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _anchor(s3: Any, settings: StoreSettings, journal_file: Path, signer: FileSigner, now_ns: int,
            archived: Callable[[int], dict[str, int]], devices: set[bytes]) -> Checkpoint | None:
    station = key_id(signer.public_key)
    last = latest(s3, settings, signer.public_key)
    after = last.last_seq if last else 0
    fresh = [entry for entry in journal.read(journal_file) if entry.seq > after]
    if not fresh:
        return None
    until = _until(now_ns, settings.long_term_years)
    batch = f"{prefix(station)}journal-{fresh[0].seq:0{SEQ_DIGITS}d}-{fresh[-1].seq:0{SEQ_DIGITS}d}.jsonl"
    data = b"".join(journal.line(entry) for entry in fresh)
    version = _put(s3, settings, batch, data, until)
    body = {"format": FORMAT, "station": station, "first_seq": fresh[0].seq, "last_seq": fresh[-1].seq,
            "last_hash": fresh[-1].hash, "batch": batch, "batch_version": version,
            "batch_sha256": hashlib.sha256(data).hexdigest(), "previous": last.key if last else None,
            "time_ns": now_ns, "archived": archived(last.body["time_ns"] if last else 0),
            "devices": sorted(device.hex() for device in devices)}
    signed = {"checkpoint": body, "public_key": signer.public_key.hex(),
              "signature": signer.sign(DOMAIN + canonical(body)).hex()}
    key = f"{prefix(station)}checkpoint-{fresh[-1].seq:0{SEQ_DIGITS}d}.json"
    _put(s3, settings, key, json.dumps(signed, sort_keys=True).encode(), until)
    return Checkpoint(body, key)


def _until(now_ns: int, years: int) -> datetime:
    moment = datetime.fromtimestamp(now_ns // 10**9, timezone.utc)
    return moment + timedelta(days=365 * years + years // 4)


def _put(s3: Any, settings: StoreSettings, key: str, data: bytes, until: datetime) -> str:
    """``data`` as a locked object, read back: its version id."""
    with tempfile.NamedTemporaryFile() as file:
        file.write(data)
        file.flush()
        sha, md5, _ = bucket.digests(Path(file.name))
        try:
            version = bucket.put_locked(s3, settings.bucket, key, Path(file.name), sha, md5, until)
            stored = bucket.read_back(s3, settings.bucket, key, version)
        except bucket.store_errors() as exc:
            raise bucket.failure(settings, exc) from exc
    if stored.sha256 != sha or stored.mode != bucket.COMPLIANCE:
        raise StoreError(f"{key} read back from the store differs from what was sent: the anchor is not counted")
    return version


def _get(s3: Any, settings: StoreSettings, key: str) -> bytes:
    """The oldest version of ``key``: the one the station stored (a later PUT only adds one)."""
    try:
        found = [v for v in s3.list_object_versions(Bucket=settings.bucket, Prefix=key).get("Versions", [])
                 if v["Key"] == key]
        oldest = min(found, key=lambda v: v["LastModified"])
        return s3.get_object(Bucket=settings.bucket, Key=key, VersionId=oldest["VersionId"])["Body"].read()
    except bucket.store_errors() as exc:
        raise bucket.failure(settings, exc) from exc


def _keys(s3: Any, settings: StoreSettings, start: str) -> list[str]:
    try:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=settings.bucket, Prefix=start)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))
    except bucket.store_errors() as exc:
        raise bucket.failure(settings, exc) from exc


def latest(s3: Any, settings: StoreSettings, public_key: bytes) -> Checkpoint | None:
    """The station's last checkpoint in the store, its signature checked; None if none."""
    found = _keys(s3, settings, f"{prefix(key_id(public_key))}checkpoint-")
    if not found:
        return None
    signed = json.loads(_get(s3, settings, found[-1]))
    body = signed["checkpoint"]
    try:
        if bytes.fromhex(signed["public_key"]) != public_key:
            raise InvalidSignature
        Ed25519PublicKey.from_public_bytes(public_key).verify(bytes.fromhex(signed["signature"]),
                                                              DOMAIN + canonical(body))
    except (InvalidSignature, ValueError) as exc:
        raise StoreError(f"checkpoint {found[-1]} in the store is not signed by this station's key") from exc
    return Checkpoint(body, found[-1])


def anchored(s3: Any, settings: StoreSettings, public_key: bytes) -> list[Entry]:
    """Every entry of the station's trail anchored in the store, in order."""
    entries: list[Entry] = []
    for key in _keys(s3, settings, f"{prefix(key_id(public_key))}journal-"):
        entries += list(_parse(_get(s3, settings, key)))
    return entries


def _parse(data: bytes) -> list[Entry]:
    with tempfile.NamedTemporaryFile() as file:
        file.write(data)
        file.flush()
        return list(journal.read(Path(file.name)))


def compare(stored: list[Entry], checkpoint: Checkpoint | None, trail: dict[int, Entry], what: str) -> list[str]:
    """Problems of the station's ``trail`` (entries by seq, of this station's key) against what
    the store anchored: an anchored entry missing (removed from the end, an older copy restored)
    or changed; the batches themselves against the checkpoint."""
    problems = []
    if checkpoint is not None and (not stored or stored[-1].seq != checkpoint.last_seq
                                   or stored[-1].hash != checkpoint.body["last_hash"]):
        problems.append(f"the store's batches do not end at entry {checkpoint.last_seq} its checkpoint names")
    missing = [entry.seq for entry in stored if entry.seq not in trail]
    if missing:
        problems.append(f"{what} lacks {len(missing)} entr{'y' if len(missing) == 1 else 'ies'} the store anchored "
                        f"(from entry {missing[0]} to {missing[-1]}): removed, or an older copy restored")
    changed = [entry.seq for entry in stored if entry.seq in trail and trail[entry.seq].hash != entry.hash]
    problems += [f"{what}'s entry {seq} differs from the one the store anchored" for seq in changed]
    return problems


def archived_times(s3: Any, settings: StoreSettings, public_key: bytes) -> dict[str, int]:
    """When each session the station stored was archived, by folder, from all its checkpoints."""
    found: dict[str, int] = {}
    for key in _keys(s3, settings, f"{prefix(key_id(public_key))}checkpoint-"):
        found.update(json.loads(_get(s3, settings, key))["checkpoint"].get("archived", {}))
    return found


def enrolled(s3: Any, settings: StoreSettings, public_key: bytes) -> set[bytes]:
    """The device keys enrolled on the station when it last anchored, from its signed checkpoint."""
    last = latest(s3, settings, public_key)
    return {bytes.fromhex(device) for device in last.body.get("devices", [])} if last else set()


def restore_journal(s3: Any, settings: StoreSettings, public_key: bytes, journal_file: Path) -> int:
    """A lost journal written again from the store's batches; how many entries."""
    entries = anchored(s3, settings, public_key)
    journal_file.parent.mkdir(parents=True, exist_ok=True)
    journal_file.write_bytes(b"".join(journal.line(entry) for entry in entries))
    return len(entries)
