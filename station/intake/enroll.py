"""The dock's keys: its own signing key and the devices enrolled on it.

A dock keeps its Ed25519 key in ``<archive>/dock/dock.key`` (0600; public half in
``dock.pub``) and the devices it takes footage from in ``<archive>/devices/*.pub``, PEM files
named by key id. The key itself is loaded or made by ``station.services``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from evidence.files import atomic_write
from evidence.keys import Signer, add_key, public_pem, read_keys
from evidence.paths import ArchiveDir
from sync.auth import Ed25519Authenticator


def enrol(archive: Path, signer: Signer, device_keys: Iterable[str] = ()) -> None:
    """Publish the dock's public key (once) and enrol the given device public keys."""
    folder = ArchiveDir(archive)
    if not folder.public_key.exists():
        atomic_write(folder.public_key, public_pem(signer.public_key).encode())
    for text in device_keys:
        add_key(folder.devices, text)


def dock_authenticator(archive: Path, signer: Signer) -> Ed25519Authenticator:
    """The dock's end: its own key, trusting only the enrolled devices."""
    return Ed25519Authenticator(signer, read_keys(ArchiveDir(archive).devices))
