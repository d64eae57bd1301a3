"""Reading what the central store holds: the version of each key the catalogue names, in byte
ranges (ranged GETs) or whole, its SHA-256 checked here. The footage reads a freed video, or a
session another station stored, through this (``station.catalogue.footage.StoredFiles``); the
browser never talks to the store.
"""
from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Any, BinaryIO

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from station.store import bucket
from station.store.bucket import StoreError, StoreSettings
from station.store.store import stored_objects

READ_AHEAD = 1024 * 1024        # bytes asked for at least per ranged GET


class StoreReader:
    """The objects the catalogue of ``engine`` records as stored, read from the bucket."""

    def __init__(self, engine: Engine, settings: StoreSettings, s3: Any = None) -> None:
        self.engine, self.settings = engine, settings
        self._s3 = s3

    @property
    def s3(self) -> Any:
        if self._s3 is None:                  # made when first used: most pages read no stored file
            self._s3 = bucket.client(self.settings)
        return self._s3

    def _row(self, key: str) -> Any:
        with self.engine.connect() as connection:
            return connection.execute(sa.select(stored_objects).where(stored_objects.c.key == key)).first()

    def version(self, key: str) -> str:
        row = self._row(key)
        if row is None:
            raise StoreError(f"{key} is not in the central store")
        return row.version_id

    def has(self, key: str) -> bool:
        return self._row(key) is not None

    def size(self, key: str) -> int:
        row = self._row(key)
        if row is None:
            raise StoreError(f"{key} is not in the central store")
        return row.size

    def keys(self, session: str) -> list[str]:
        with self.engine.connect() as connection:
            return list(connection.scalars(sa.select(stored_objects.c.key)
                                           .where(stored_objects.c.session == session).order_by(stored_objects.c.key)))

    def open(self, key: str) -> BinaryIO:
        row = self._row(key)
        if row is None:
            raise StoreError(f"{key} is not in the central store")
        return io.BufferedReader(RangedObject(self, key, row.version_id, row.size), READ_AHEAD)

    def check(self, key: str, sha256: str, size: int, digest: str | None = None) -> tuple[bool, str]:
        """Whether the version the catalogue names holds the sealed bytes, and a sentence naming
        it; ``digest``: the SHA-256 of that version already read whole (by :meth:`open`)."""
        version = self.version(key)
        held = (digest, self.size(key)) if digest is not None else self._hashed(key, version)
        if held == (sha256, size):
            return True, f"read from the central store, version {version}: its SHA-256 matches the seal"
        return False, (f"the central store's version {version} holds {held[1]} bytes with SHA-256 "
                       f"{held[0]}, not the sealed {size} bytes")

    def _hashed(self, key: str, version: str) -> tuple[str, int]:
        try:
            stored = bucket.read_back(self.s3, self.settings.bucket, key, version)
        except bucket.store_errors() as exc:
            raise bucket.failure(self.settings, exc) from exc
        return stored.sha256, stored.size

    def fetch(self, key: str, to: Path) -> None:
        row = self._row(key)
        download(self.s3, self.settings, key, row.version_id, to, row.sha256)

    def get_range(self, key: str, version: str, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` (inclusive) of the version."""
        try:
            answer = self.s3.get_object(Bucket=self.settings.bucket, Key=key, VersionId=version,
                                        Range=f"bytes={start}-{end}")
            return answer["Body"].read()
        except bucket.store_errors() as exc:
            raise bucket.failure(self.settings, exc) from exc


class RangedObject(io.RawIOBase):
    """One stored version as a seekable file: each read is a ranged GET."""

    def __init__(self, reader: StoreReader, key: str, version: str, size: int) -> None:
        self.reader, self.key, self.version, self.length, self.position = reader, key, version, size, 0
        self.name = key

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self.position, os.SEEK_END: self.length}[whence]
        self.position = max(0, base + offset)
        return self.position

    def readinto(self, buffer: Any) -> int:
        wanted = min(len(buffer), self.length - self.position)
        if wanted <= 0:
            return 0
        data = self.reader.get_range(self.key, self.version, self.position, self.position + wanted - 1)
        buffer[:len(data)] = data
        self.position += len(data)
        return len(data)


def download(s3: Any, settings: StoreSettings, key: str, version_id: str, to: Path, sha256: str | None) -> None:
    """The version written to the file ``to`` (through a partial copy, fsynced), its SHA-256
    checked against ``sha256`` (None: against the one in its metadata) before it is put in place."""
    partial, sha = to.with_name(to.name + ".part"), hashlib.sha256()
    to.parent.mkdir(parents=True, exist_ok=True)
    try:
        answer = s3.get_object(Bucket=settings.bucket, Key=key, VersionId=version_id)
        with open(partial, "wb") as out:
            for chunk in iter(lambda: answer["Body"].read(bucket.CHUNK), b""):
                sha.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
    except bucket.store_errors() as exc:
        partial.unlink(missing_ok=True)
        raise bucket.failure(settings, exc) from exc
    expected = sha256 or answer.get("Metadata", {}).get(bucket.SHA256_METADATA)
    if sha.hexdigest() != expected:
        partial.unlink()
        raise StoreError(f"{key} version {version_id} read from the store as SHA-256 {sha.hexdigest()}, not "
                         f"the {expected} it was stored with: not used")
    partial.replace(to)
