"""What the dock link signs, and the interface to the keys that sign it.

The link only needs an :class:`Authenticator`: our public key, a way to sign, and a way to
decide whether a peer's key is enrolled and its signature holds. Where the keys live and
how a dock is enrolled on a device is not the link's business (see ``evidence.keys``);
what a receipt signs is the evidence format's (``evidence.receipts``). The exact signed
bytes are in docs/dock-protocol.md, "Authentication".
"""
from __future__ import annotations

import hashlib
from typing import Iterable, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sync.messages import Role

AUTH_DOMAIN = b"bodycam-dock/1 auth\n"


class Authenticator(Protocol):
    """One end's keys. ``evidence.keys.FileSigner`` already has ``public_key`` and ``sign``."""

    public_key: bytes                      # raw Ed25519 public key, 32 bytes, sent in HELLO

    def sign(self, data: bytes) -> bytes: ...   # a 64-byte Ed25519 signature

    def verify(self, public_key: bytes, data: bytes, signature: bytes) -> bool:
        """True only if ``public_key`` is enrolled here and ``signature`` over ``data`` is valid."""
        ...


class Signer(Protocol):
    public_key: bytes

    def sign(self, data: bytes) -> bytes: ...


class Ed25519Authenticator:
    """Our signer plus the set of peer public keys we accept (the enrolled docks or devices)."""

    def __init__(self, signer: Signer, trusted: Iterable[bytes]) -> None:
        self._signer = signer
        self.public_key = signer.public_key
        self.trusted = frozenset(bytes(key) for key in trusted)

    def sign(self, data: bytes) -> bytes:
        return self._signer.sign(data)

    def verify(self, public_key: bytes, data: bytes, signature: bytes) -> bool:
        if public_key not in self.trusted:
            return False
        try:
            Ed25519PublicKey.from_public_bytes(public_key).verify(signature, data)
        except (InvalidSignature, ValueError):
            return False
        return True


def transcript(dock_hello: bytes, device_hello: bytes) -> bytes:
    """SHA-256 of both HELLO payloads as sent: binds a session to both nonces and both keys."""
    return hashlib.sha256(dock_hello + device_hello).digest()


def auth_data(signer: Role, session: bytes) -> bytes:
    """What each end signs in AUTH; the role byte stops one end's signature serving the other."""
    return AUTH_DOMAIN + bytes([signer]) + session
