"""Ed25519 keys: the device's and the dock's signing keys, public keys as text, enrolled key folders.

Private keys are PEM (PKCS#8) files readable only by their owner; public keys are PEM
(SubjectPublicKeyInfo) files named by key id. A key id is the first 16 hex digits of the
SHA-256 of the raw 32-byte public key.
"""
from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from evidence import EvidenceError
from evidence.files import atomic_write, write_secret_once


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
        try:
            write_secret_once(path, pem)
        except FileExistsError as exc:
            raise EvidenceError(f"a device key already exists at {path}; it is never replaced") from exc
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


def read_keys(folder: Path) -> set[bytes]:
    """The raw public keys of the ``*.pub`` files in ``folder`` (none if it does not exist)."""
    return {load_public_key(path.read_text()) for path in sorted(Path(folder).glob("*.pub"))}


def add_key(folder: Path, text: str) -> str:
    """Enrol a public key (PEM, hex or base64 text) into ``folder``; returns its key id."""
    public_key = load_public_key(text)
    name = key_id(public_key)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / f"{name}.pub", public_pem(public_key).encode())
    return name


def key_text(value: str) -> str:
    """A public key given on a command line: a file holding it (PEM), or its text."""
    path = Path(value)
    if not path.is_file():
        return value
    try:
        return path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise EvidenceError(f"{value} is not a public key file (PEM text): {exc}") from exc
