"""Session content keys: drawn at each session's open, wrapped for the agency with HPKE.

An encrypted session's open record carries the member ``encryption`` (docs/evidence-format.md,
"Encrypted sessions"): the scheme, the key id its segments name, the agency key it was
wrapped for, and the content key wrapped with HPKE (RFC 9180, base mode,
DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM: ``enc || ciphertext``), with an
``info`` binding it to its session and key id. The device holds only the agency's public
key; the station unwraps with the private one. ``cryptography``'s HPKE does the work.
"""
from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite

from evidence import EvidenceError
from evidence.files import atomic_write

SCHEME = "cenc"
KEY_SIZE = 16
SUITE = Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.AES_128_GCM)
AGENCY_KEY_FILE = "agency.pub"


@dataclass
class ContentKey:
    """A session's AES-128 content key (mutable, so that it can be wiped) and its key id."""

    key: bytearray
    kid: bytes

    @classmethod
    def draw(cls) -> ContentKey:
        return cls(bytearray(os.urandom(KEY_SIZE)), os.urandom(KEY_SIZE))

    def wipe(self) -> None:
        self.key[:] = bytes(len(self.key))


def agency_key_id(public_key: bytes) -> str:
    """The first 16 hex digits of SHA-256 of the agency's 32 raw X25519 public-key bytes."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def wrap_info(session: str, kid: bytes) -> bytes:
    """HPKE's ``info``: what the wrapped key is for, so it cannot be moved to another session."""
    return f"bodycam-evidence/1 content key\n{session}\n{kid.hex()}".encode()


def wrap(content: ContentKey, agency_public: bytes, session: str) -> dict[str, Any]:
    """The open record's ``encryption`` member for ``content``, wrapped for ``agency_public``."""
    wrapped = SUITE.encrypt(bytes(content.key), X25519PublicKey.from_public_bytes(agency_public),
                            info=wrap_info(session, content.kid))
    return {"scheme": SCHEME, "kid": content.kid.hex(), "agency_key": agency_key_id(agency_public),
            "wrapped_key": wrapped.hex()}


def unwrap(member: dict[str, Any], session: str, agency_private: X25519PrivateKey) -> bytes:
    """The content key of an open record's ``encryption`` member; raises EvidenceError when it is
    not wrapped for this private key (or was altered)."""
    public = agency_private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    if member.get("agency_key") != agency_key_id(public):
        raise EvidenceError(f"session {session} is wrapped for agency key {member.get('agency_key')}, "
                            f"not {agency_key_id(public)}")
    try:
        key = SUITE.decrypt(bytes.fromhex(member["wrapped_key"]), agency_private,
                            info=wrap_info(session, bytes.fromhex(member["kid"])))
    except (InvalidTag, ValueError) as exc:
        raise EvidenceError(f"the content key of session {session} does not unwrap: {exc!r}") from exc
    if len(key) != KEY_SIZE:
        raise EvidenceError(f"the content key of session {session} is {len(key)} bytes, not {KEY_SIZE}")
    return key


def load_agency_public(text: str) -> bytes:
    """An agency public key: PEM (X25519 SubjectPublicKeyInfo), 64 hex digits or base64 of 32 bytes."""
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
            if isinstance(key, X25519PublicKey):
                return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        elif len(text) == 64:
            return bytes.fromhex(text)
        elif len(raw := base64.b64decode(text, validate=True)) == 32:
            return raw
    except ValueError:
        pass
    raise EvidenceError("an agency key must be an X25519 public key: PEM, 64 hex digits or base64 of 32 bytes")


def agency_public_pem(public_key: bytes) -> str:
    key = X25519PublicKey.from_public_bytes(public_key)
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def enrol_agency_key(device_folder: Path, text: str) -> str:
    """Make ``text`` the agency key new sessions are wrapped for (replacing any before); its id."""
    public_key = load_agency_public(text)
    device_folder.mkdir(parents=True, exist_ok=True)
    atomic_write(device_folder / AGENCY_KEY_FILE, agency_public_pem(public_key).encode())
    return agency_key_id(public_key)


def read_agency_key(device_folder: Path) -> bytes | None:
    """The enrolled agency public key, or None when none is enrolled."""
    path = device_folder / AGENCY_KEY_FILE
    return load_agency_public(path.read_text()) if path.exists() else None
