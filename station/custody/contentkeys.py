"""Encrypted sessions on the station: their content keys, unwrapped with the agency's private key.

The agency's X25519 private key is a PEM file (PKCS #8) that only the station's service may
read: one readable by its group or by others is refused. Each open record names the agency
key its content key was wrapped for (``agency_key``), so after a rotation the station is
given the key each session names (docs/encryption.md).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from evidence import EvidenceError
from evidence.encryption import unwrap
from evidence.records import SESSION_OPEN, read_record


def load_agency_key(path: Path) -> X25519PrivateKey:
    """The agency's private key from ``path``; refused, in one sentence, when others may read it."""
    path = Path(path)
    if path.stat().st_mode & 0o077:
        raise EvidenceError(f"{path} may be read by others than its owner: chmod 600 it (the agency key "
                            f"unwraps every encrypted session)")
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, X25519PrivateKey):
        raise EvidenceError(f"{path} is not an X25519 private key (PEM, PKCS #8)")
    return key


def encryption_of(folder: Path) -> dict[str, Any] | None:
    """The open record's ``encryption`` member: None for a session recorded in clear (or whose
    open record is missing or not a record: verification says so)."""
    try:
        return read_record(Path(folder) / SESSION_OPEN).body.get("encryption")
    except (OSError, EvidenceError):
        return None


def content_keys(folder: Path, agency: X25519PrivateKey | None) -> dict[bytes, bytes]:
    """The session's content keys by key id (none for a clear session)."""
    member = encryption_of(folder)
    if member is None:
        return {}
    if agency is None:
        raise EvidenceError(f"session {Path(folder).name} is encrypted and this station has no agency key")
    return {bytes.fromhex(member["kid"]): unwrap(member, Path(folder).name, agency)}
