"""Keys of the dock link: the dock's own key, and who trusts whom.

A dock keeps its Ed25519 key in ``<archive>/dock/dock.key`` (0600; public half in
``dock.pub``) and the devices it takes footage from in ``<archive>/devices/*.pub``. A device
keeps its key where provisioning put it (``<data_dir>/device/device.key``) and the docks an
administrator enrolled in ``<data_dir>/device/docks/*.pub``. Public keys are PEM files named
by key id.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from capture.evidence import EvidenceError, FileSigner, key_id, load_public_key, public_pem
from capture.spool import sync_directory
from sync.auth import Ed25519Authenticator


def dock_key_path(archive: Path) -> Path:
    return Path(archive) / "dock" / "dock.key"


def enrolled_docks_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "device" / "docks"


def enrolled_devices_dir(archive: Path) -> Path:
    return Path(archive) / "devices"


def read_keys(folder: Path) -> set[bytes]:
    """The raw public keys of the ``*.pub`` files in ``folder`` (none if it does not exist)."""
    return {load_public_key(path.read_text()) for path in sorted(Path(folder).glob("*.pub"))}


def add_key(folder: Path, text: str) -> str:
    """Enrol a public key (PEM, hex or base64 text) into ``folder``; returns its key id."""
    public_key = load_public_key(text)
    name = key_id(public_key)
    folder.mkdir(parents=True, exist_ok=True)
    temporary = folder / f".{name}.tmp"
    temporary.write_text(public_pem(public_key))
    with open(temporary, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(temporary, folder / f"{name}.pub")
    sync_directory(folder)
    return name


def dock_init(archive: Path, device_keys: Iterable[str] = ()) -> FileSigner:
    """Create the dock's key once (never replaced) and enrol the given device public keys."""
    path = dock_key_path(archive)
    signer = FileSigner(path) if path.exists() else FileSigner.generate(path)
    pub = path.with_name("dock.pub")
    if not pub.exists():
        pub.write_text(public_pem(signer.public_key))
    for text in device_keys:
        add_key(enrolled_devices_dir(archive), text)
    return signer


def device_authenticator(data_dir: Path) -> Ed25519Authenticator:
    """The device's end: its own key, trusting only the enrolled docks."""
    return Ed25519Authenticator(FileSigner(Path(data_dir) / "device" / "device.key"),
                                read_keys(enrolled_docks_dir(data_dir)))


def dock_authenticator(archive: Path) -> Ed25519Authenticator:
    """The dock's end: its own key, trusting only the enrolled devices."""
    path = dock_key_path(archive)
    if not path.exists():
        raise EvidenceError(f"no dock key at {path}: run 'bodycam dock-init --archive {archive}' first")
    return Ed25519Authenticator(FileSigner(path), read_keys(enrolled_devices_dir(archive)))
