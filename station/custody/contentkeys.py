"""Encrypted sessions on the station: their content keys, unwrapped with the agency's private keys.

Each agency private key is an X25519 PEM file (PKCS #8) that only the station's service may
read: one readable by its group or by others is refused. Each open record names the agency
key its content key was wrapped for (``agency_key``, the key's id), so after a rotation the
station keeps every key it was given and unwraps each session with the one it names
(docs/encryption.md, "Rotating the agency key"). ``new_agency_key`` makes a pair.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from evidence import EvidenceError
from evidence.encryption import agency_key_id, agency_public_pem, unwrap
from evidence.files import atomic_write, write_secret_once
from evidence.records import SESSION_OPEN, read_record

AgencyKeys = Mapping[str, X25519PrivateKey]     # the agency's private keys this station holds, by key id


def load_agency_key(path: Path) -> X25519PrivateKey:
    """The agency's private key from ``path``; refused, in one sentence, when others may read it."""
    path = Path(path)
    try:
        mode, pem = path.stat().st_mode, path.read_bytes()
    except OSError as exc:
        raise EvidenceError(f"cannot read the agency key {path}: {exc.strerror or exc}") from exc
    if mode & 0o077:
        raise EvidenceError(f"{path} may be read by others than its owner: chmod 600 it (the agency key "
                            f"unwraps every encrypted session)")
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except ValueError:
        key = None
    if not isinstance(key, X25519PrivateKey):
        raise EvidenceError(f"{path} is not an X25519 private key (PEM, PKCS #8)")
    return key


def new_agency_key(path: Path) -> tuple[str, Path]:
    """A new agency key pair: the private key at ``path`` (PEM, PKCS #8, mode 600; an existing
    file is refused, since losing a key loses the footage wrapped for it) and the public key
    beside it, ``.pub`` (for ``bodycam enroll --agency-key``). Its id and the public key's path."""
    path = Path(path)
    if path.suffix == ".pub":
        raise EvidenceError(f"{path} would be the public key's name: give the private key's, e.g. agency.key")
    key = X25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    try:
        write_secret_once(path, pem)
    except FileExistsError as exc:
        raise EvidenceError(f"{path} exists: an agency key is never replaced (the sessions wrapped for it "
                            f"would be lost with it)") from exc
    public = key.public_key().public_bytes_raw()
    public_path = path.with_suffix(".pub")
    atomic_write(public_path, agency_public_pem(public).encode())
    return agency_key_id(public), public_path


def load_agency_keys(paths: Iterable[Path]) -> AgencyKeys:
    """The agency's private keys in ``paths`` (the current one and every one before it), by key id."""
    return by_id(load_agency_key(path) for path in paths)


def by_id(keys: Iterable[X25519PrivateKey]) -> AgencyKeys:
    """Private keys by the id an open record names them by (``evidence.encryption.agency_key_id``)."""
    return {agency_key_id(key.public_key().public_bytes_raw()): key for key in keys}


def encryption_of(folder: Path) -> dict[str, Any] | None:
    """The open record's ``encryption`` member: None for a session recorded in clear (or whose
    open record is missing or not a record: verification says so)."""
    try:
        return read_record(Path(folder) / SESSION_OPEN).body.get("encryption")
    except (OSError, EvidenceError):
        return None


def content_keys(folder: Path, agency: AgencyKeys) -> dict[bytes, bytes]:
    """The session's content keys by key id (none for a clear session), unwrapped with the
    agency key its open record names."""
    member = encryption_of(folder)
    if member is None:
        return {}
    session = Path(folder).name
    if not agency:
        raise EvidenceError(f"session {session} is encrypted and this station has no agency key")
    private = agency.get(member.get("agency_key"))
    if private is None:
        raise EvidenceError(f"session {session} is wrapped for agency key {member.get('agency_key')}, which this "
                            f"station does not hold ([encryption] agency_key names {', '.join(sorted(agency))})")
    return {bytes.fromhex(member["kid"]): unwrap(member, session, private)}
