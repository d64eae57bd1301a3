"""Receipts: a dock's signed word that it holds an item of a device, with exactly this hash.

One rule decides what a receipt covers, for the device's offer, its release and the dock's
archive alike (:func:`extent`): a segment's video is offered, archived and receipted as
exactly the bytes its manifest sealed (``file.size`` and ``file.sha256``), so bytes a power
cut left after the sealed end of a recovered segment are never offered as evidence; every
other item is its whole file. The device keeps each receipt in
``<data_dir>/receipts/<item id>.receipt`` (docs/evidence-format.md, "Receipts").
"""
from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from evidence.files import atomic_write, sha256_file
from evidence.keys import key_id, read_keys
from evidence.paths import DataDir

RECEIPT_DOMAIN = b"bodycam-dock/1 receipt\n"
RECEIPT_MEMBERS = {"item", "sha256", "dock_key", "signature", "time_ns"}
HEX = re.compile(r"[0-9a-f]*")


def receipt_data(device_key: bytes, item_id: str, sha256: bytes) -> bytes:
    """What the dock signs: "I hold item ``item_id`` of the device with this raw public key,
    with this SHA-256". It names no session, so the device can keep it as lasting proof of
    the hand-over."""
    return RECEIPT_DOMAIN + device_key + sha256 + item_id.encode("utf-8")


def extent(path: Path, manifest: dict[str, Any] | None) -> tuple[int, str]:
    """(size, SHA-256 hex) of what is offered, archived and receipted for the file at ``path``.

    ``manifest`` is the body of the manifest that seals the file when it is a segment's video,
    else None. A video of the size sealed is offered with the sealed hash (the dock hashes the
    bytes it receives, so a changed file is refused there, never receipted). A *recovered*
    video longer than sealed is offered as exactly its sealed prefix: the tail a power cut
    left is not evidence. Anything else is its whole file, so a video changed in size after
    sealing reaches the dock as it is, and is refused there."""
    size = path.stat().st_size
    sealed = manifest.get("file") if manifest else None
    if isinstance(sealed, dict) and isinstance(sealed.get("size"), int) and isinstance(sealed.get("sha256"), str):
        recovered = "recovered" in manifest.get("flags", [])
        if size == sealed["size"] or (recovered and size > sealed["size"]):
            return sealed["size"], sealed["sha256"]
    return size, sha256_file(path).hexdigest()


def holds(path: Path, sealed: dict[str, Any]) -> bool:
    """Whether the file at ``path`` still begins with exactly the bytes ``sealed`` names."""
    return path.stat().st_size >= sealed["size"] and \
        sha256_file(path, sealed["size"]).hexdigest() == sealed["sha256"]


def signed_by(public_key: bytes, signature: bytes, data: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, data)
        return True
    except (InvalidSignature, ValueError):
        return False


def store(folders: DataDir, item_id: str, sha256: bytes, dock_key: bytes, signature: bytes) -> None:
    """Keep a receipt on the device, durably, before anything it covers is freed."""
    path = folders.receipt(item_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    receipt = {"item": item_id, "sha256": sha256.hex(), "dock_key": dock_key.hex(),
               "signature": signature.hex(), "time_ns": time.time_ns()}
    atomic_write(path, json.dumps(receipt).encode())


def received_ns(folders: DataDir, item_id: str) -> int | None:
    """When the receipt of ``item_id`` was stored, or None."""
    try:
        value = json.loads(folders.receipt(item_id).read_text())["time_ns"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return value if isinstance(value, int) else None


def _well_formed(receipt: Any) -> bool:
    """Rule R1 of docs/evidence-format.md: exactly the five members, hex in lowercase, time an integer."""
    return isinstance(receipt, dict) and set(receipt) == RECEIPT_MEMBERS and type(receipt["time_ns"]) is int \
        and isinstance(receipt["item"], str) \
        and all(isinstance(receipt[name], str) and len(receipt[name]) == digits and HEX.fullmatch(receipt[name])
                for name, digits in (("sha256", 64), ("dock_key", 64), ("signature", 128)))


def receipt_dock(folders: DataDir, item_id: str, sha256_hex: str, device_key: bytes,
                 docks: set[bytes] | None = None) -> str | None:
    """The key id of the enrolled dock (of ``docks``, default: those enrolled on the device)
    whose stored receipt holds ``item_id`` with exactly this hash, or None. The receipt file
    is checked again each time: a file anyone could write proves nothing."""
    try:
        receipt = json.loads(folders.receipt(item_id).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not _well_formed(receipt) or receipt["item"] != item_id or receipt["sha256"] != sha256_hex:
        return None
    dock_key, signature = bytes.fromhex(receipt["dock_key"]), bytes.fromhex(receipt["signature"])
    if dock_key not in (read_keys(folders.docks) if docks is None else docks):
        return None
    if not signed_by(dock_key, signature, receipt_data(device_key, item_id, bytes.fromhex(sha256_hex))):
        return None
    return key_id(dock_key)
