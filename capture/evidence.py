"""The evidence format: signed records that seal segments and sessions into one chain.

This module is the single place that defines the bytes that are signed and hashed; the
device uses it to seal and the dock and ``bodycam verify`` use it to check. The format is
described for third parties in ``docs/evidence-format.md``.

A record is a JSON object. Its *canonical bytes* are the UTF-8 JSON with keys sorted, no
insignificant white space and non-ASCII characters kept as they are; every value is a
string, an integer, a boolean, null, a list or an object (never a float). The device
signs ``DOMAIN + canonical bytes`` with Ed25519, and a record's *hash* is the SHA-256 of
its canonical bytes. Each record names the hash of the record before it (``prev``) and
carries a sequence number that never repeats, so removing, inserting or reordering any
record breaks the chain visibly.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from capture import CaptureError

FORMAT = "bodycam-evidence/1"
DOMAIN = b"bodycam-evidence/1\n"
GENESIS = "0" * 64
MANIFEST_SUFFIX = ".manifest"
SESSION_OPEN = "session-open.json"
SESSION_CLOSE = "session-close.json"


class EvidenceError(CaptureError, ValueError):
    """A record cannot be read, or its signature does not hold."""


def canonical(body: dict[str, Any]) -> bytes:
    """The exact bytes that are signed and hashed."""
    _reject_floats(body)
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _reject_floats(value: Any) -> None:
    if isinstance(value, float):
        raise EvidenceError("evidence records hold no floating-point numbers (their text is not canonical)")
    if isinstance(value, dict):
        for item in value.values():
            _reject_floats(item)
    elif isinstance(value, list):
        for item in value:
            _reject_floats(item)


def record_hash(body: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(body)).hexdigest()


def key_id(public_key: bytes) -> str:
    """A short, stable name of a public key: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(public_key).hexdigest()[:16]


class Signer(Protocol):
    """What sealing needs of a device key; a secure element can stand in for the key file."""

    public_key: bytes
    key_id: str

    def sign(self, data: bytes) -> bytes: ...


class FileSigner:
    """An Ed25519 private key in a PEM file readable only by its owner (mode 0600)."""

    def __init__(self, path: Path) -> None:
        try:
            mode = path.stat().st_mode & 0o777
            pem = path.read_bytes()
        except FileNotFoundError as exc:
            raise EvidenceError(f"no device key at {path}: run 'bodycam provision' first") from exc
        except OSError as exc:
            raise EvidenceError(f"cannot read the device key {path}: {exc.strerror}") from exc
        if mode & 0o077:
            raise EvidenceError(f"the device key {path} is readable by others (mode {mode:o}); refusing to use it")
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except ValueError as exc:
            raise EvidenceError(f"cannot load the device key {path}: {exc}") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise EvidenceError(f"the device key {path} is not an Ed25519 key")
        self._key = key
        self.public_key = raw_public(key.public_key())
        self.key_id = key_id(self.public_key)

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)

    @staticmethod
    def generate(path: Path) -> "FileSigner":
        """Create a new key file (never overwriting one) and return its signer."""
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError as exc:
            raise EvidenceError(f"a device key already exists at {path}; it is never replaced") from exc
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
            fh.flush()
            os.fsync(fh.fileno())
        return FileSigner(path)


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def load_public_key(text: str) -> bytes:
    """A public key given as a PEM file's text or its base64 body, 64 hex digits, or base64 of the raw 32 bytes."""
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
            if isinstance(key, Ed25519PublicKey):
                return raw_public(key)
        elif len(text) == 64:
            return bytes.fromhex(text)
        else:
            raw = base64.b64decode(text, validate=True)
            if len(raw) == 32:
                return raw
            key = serialization.load_der_public_key(raw)  # the body of a PEM file
            if isinstance(key, Ed25519PublicKey):
                return raw_public(key)
    except ValueError:
        pass
    raise EvidenceError("a public key must be an Ed25519 key: PEM, 64 hex digits or base64 of 32 bytes")


def public_pem(public_key: bytes) -> str:
    key = Ed25519PublicKey.from_public_bytes(public_key)
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@dataclass(frozen=True)
class SignedRecord:
    """A record as stored: its body, the signature and the key that made it."""

    body: dict[str, Any]
    signature: bytes
    public_key: bytes

    @property
    def hash(self) -> str:
        return record_hash(self.body)

    def to_bytes(self) -> bytes:
        stored = {"record": self.body, "public_key": self.public_key.hex(), "signature": self.signature.hex()}
        return json.dumps(stored, ensure_ascii=False, sort_keys=True, indent=1).encode("utf-8") + b"\n"


def sign(body: dict[str, Any], signer: Signer) -> SignedRecord:
    return SignedRecord(body, signer.sign(DOMAIN + canonical(body)), signer.public_key)


def parse(data: bytes) -> SignedRecord:
    """Read a stored record and check its signature against the key it names.

    Raises ``EvidenceError`` if the text is not a record or the signature does not hold;
    whether the key is *trusted* is for the caller to decide.
    """
    try:
        stored = json.loads(data.decode("utf-8"))
        body, public_key = stored["record"], bytes.fromhex(stored["public_key"])
        signature = bytes.fromhex(stored["signature"])
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise EvidenceError(f"not a signed record: {exc}") from exc
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise EvidenceError(f"not a {FORMAT} record")
    if body.get("key_id") != key_id(public_key):
        raise EvidenceError("the record's key_id does not name the key that signed it")
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, DOMAIN + canonical(body))
    except (InvalidSignature, ValueError) as exc:
        raise EvidenceError("the signature does not match the record") from exc
    return SignedRecord(body, signature, public_key)


def read_record(path: Path) -> SignedRecord:
    try:
        return parse(path.read_bytes())
    except OSError as exc:
        raise EvidenceError(f"cannot read {path}: {exc.strerror}") from exc
