"""Writing the device's chain: signing and appending its records, and keeping its head.

Every record the device signs (identity records, session open and close records, segment
manifests) is a link of one chain (docs/evidence-format.md, "The chain"): :class:`ChainWriter`
numbers it, names the record before it, signs it, stores it as a new read-only file and
then moves the head. Capture seals with it and provisioning signs identities with it; what
a record's body says is its caller's business.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from evidence import EvidenceError
from evidence.files import atomic_write, write_once
from evidence.keys import Signer
from evidence.paths import DataDir
from evidence.records import (FORMAT, GENESIS, IDENTITY_GLOB, MANIFEST_SUFFIX, SESSION_CLOSE, SESSION_OPEN,
                              SignedRecord, identity_name, read_record, sign)


class ChainState:
    """The head of the device's chain -- the newest record's ``seq`` and hash -- kept in
    ``device/chain.json`` as a signed ``chain-head`` record (docs/evidence-format.md).

    At start the head is checked against the newest record of this key on the device (the
    spool's records and the identity records). A head that is missing, damaged, signed by
    another key, ahead of or behind those records is rebuilt from them, and :attr:`found`
    says what was wrong; so a number is never used twice and no gap is ever forged. (The
    record is written before the head moves, so a power cut may leave it one record behind.)
    """

    def __init__(self, path: Path, signer: Signer, device: str, records: list[Path]) -> None:
        self.path, self.signer, self.device = path, signer, device
        self.seq, self.head = 0, GENESIS
        self.newest: SignedRecord | None = None      # the newest record of this key on the device
        for record_path in records:
            try:
                record = read_record(record_path)
            except EvidenceError:
                continue         # the verifier names it; it is no link of ours to follow
            if record.public_key == signer.public_key and (self.newest is None
                                                           or record.body["seq"] > self.newest.body["seq"]):
                self.newest = record
        self.found = self._check_stored()
        if self.newest is not None:
            self.seq, self.head = self.newest.body["seq"], self.newest.hash
        if self.found:
            self.advance(self.seq, self.head)

    def _check_stored(self) -> str:
        """What is wrong with the stored head ("" if it names the newest record)."""
        newest = (self.newest.body["seq"], self.newest.hash) if self.newest else (0, GENESIS)
        if not self.path.exists():
            return "" if self.newest is None else f"the chain head {self.path} is missing"
        try:
            stored = read_record(self.path)
        except EvidenceError as exc:
            return f"the chain head {self.path} is damaged ({exc})"
        body = stored.body
        if body["type"] != "chain-head" or stored.public_key != self.signer.public_key:
            return f"the chain head {self.path} is not this device's signed head"
        if (body["seq"], body["head"]) == newest:
            return ""
        where = "ahead of" if body["seq"] > newest[0] else "behind" if body["seq"] < newest[0] else "at odds with"
        return (f"the chain head {self.path} (record {body['seq']}) was {where} the newest record on the "
                f"device (record {newest[0]})")

    def advance(self, seq: int, head: str) -> None:
        self.seq, self.head = seq, head
        record = sign({"format": FORMAT, "type": "chain-head", "device": self.device, "key_id": self.signer.key_id,
                       "seq": seq, "head": head, "written_wall": time.time_ns()}, self.signer)
        atomic_write(self.path, record.to_bytes())


def record_paths(folders: DataDir) -> list[Path]:
    """Every chain record on the device: the identity records, then each session's records."""
    found = sorted(folders.identity.glob(IDENTITY_GLOB)) if folders.identity.is_dir() else []
    if folders.spool.is_dir():
        found += [p for folder in folders.spool.iterdir() if folder.is_dir() for p in folder.iterdir()
                  if p.name.endswith(MANIFEST_SUFFIX) or p.name in (SESSION_OPEN, SESSION_CLOSE)]
    return found


def sessions_left_open(folders: DataDir) -> list[Path]:
    """The session folders whose open record has no close record: what a power cut left open."""
    spool = folders.spool
    folders = sorted(p for p in spool.iterdir() if p.is_dir()) if spool.is_dir() else []
    return [folder for folder in folders
            if (folder / SESSION_OPEN).exists() and not (folder / SESSION_CLOSE).exists()]


def who(identity: dict[str, str]) -> dict[str, Any]:
    """The members of a record that say who carries the device, from an identity."""
    return {"officer": {"police_number": identity["police_number"], "name": identity["officer"]},
            "unit": {"number": identity["unit_number"], "name": identity["unit"]},
            "firmware": identity["firmware"]}


class ChainWriter:
    """Appends signed records to the chain of the device ``device`` in ``folders``. One thread at a time."""

    def __init__(self, folders: DataDir, signer: Signer, device: str) -> None:
        self.folders, self.signer, self.device = folders, signer, device
        folders.device.mkdir(parents=True, exist_ok=True)
        self.state = ChainState(folders.chain, signer, device, record_paths(folders))

    def append(self, path: Path, body: dict[str, Any]) -> SignedRecord:
        """Sign ``body`` as the chain's next record, store it as the new file ``path``, then move
        the head. Raises ``OSError`` (``FileExistsError`` if ``path`` exists) when it cannot be stored."""
        seq = self.state.seq + 1
        record = sign({"format": FORMAT, "device": self.device, "key_id": self.signer.key_id,
                       "seq": seq, "prev": self.state.head, **body}, self.signer)
        write_once(path, record.to_bytes())
        self.state.advance(seq, record.hash)
        return record

    def record_identity(self, identity: dict[str, str], reason: str) -> SignedRecord:
        """Sign who carries the device into the chain: at provisioning, and at each re-assignment."""
        number = len(list(self.folders.identity.glob(IDENTITY_GLOB))) + 1
        self.folders.identity.mkdir(parents=True, exist_ok=True)
        return self.append(self.folders.identity / identity_name(number), {
            "type": "identity", **who(identity), "reason": reason, "signed_wall": time.time_ns()})
