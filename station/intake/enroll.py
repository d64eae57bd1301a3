"""The dock's keys: its own signing key and the devices enrolled on it.

A dock keeps its Ed25519 key in ``<archive>/dock/dock.key`` (0600; public half in
``dock.pub``) and the devices it takes footage from in ``<archive>/devices/*.pub``, PEM files
named by key id.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from evidence import EvidenceError
from evidence.files import atomic_write
from evidence.keys import FileSigner, add_key, public_pem, read_keys
from evidence.paths import ArchiveDir
from sync.auth import Ed25519Authenticator


def dock_init(archive: Path, device_keys: Iterable[str] = ()) -> FileSigner:
    """Create the dock's key once (never replaced) and enrol the given device public keys."""
    folder = ArchiveDir(archive)
    signer = FileSigner(folder.key) if folder.key.exists() else FileSigner.generate(folder.key)
    if not folder.public_key.exists():
        atomic_write(folder.public_key, public_pem(signer.public_key).encode())
    for text in device_keys:
        add_key(folder.devices, text)
    return signer


def dock_authenticator(archive: Path) -> Ed25519Authenticator:
    """The dock's end: its own key, trusting only the enrolled devices."""
    folder = ArchiveDir(archive)
    if not folder.key.exists():
        raise EvidenceError(f"no dock key at {folder.key}: run 'bodycam-station init --archive {archive}' first")
    return Ed25519Authenticator(FileSigner(folder.key), read_keys(folder.devices))
