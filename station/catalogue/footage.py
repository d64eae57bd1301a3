"""What access and export need to know of the archived footage, behind one small interface.

The signed records in the archive are the authority for everything the record form says of a
session (officer, device, times, segments and their hashes). Where a session's folder is,
which sessions belong to a case, and where it was recorded come from the catalogue
(:class:`CatalogueFootage`).

With a central store the local archive is a cache (docs/central-store.md, "The local copy as a
cache"): a stored session's videos may be freed, and a session another station docked has only
its small signed records here, fetched into ``<archive>/.store-cache/``. Every reader of
footage bytes opens them through :meth:`CatalogueFootage.open`, the one place that serves a
file from the archive when it is there and from the store (ranged GETs of the version the
catalogue names) when it is not; verifying checks a freed video in the store
(:meth:`CatalogueFootage.elsewhere`).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from evidence.records import MANIFEST_SUFFIX, SESSION_CLOSE, SESSION_OPEN, SignedRecord, read_record
from station.catalogue.catalogue import Catalogue, station_id


class Footage(Protocol):
    """Where footage is and what the station knows beside its signed records."""

    def folder(self, session: str) -> Path | None:
        """The archived session's folder, or None if the archive has no such session."""

    def sessions_of_case(self, case: str) -> list[str]:
        """The sessions linked to a case, oldest first."""

    def place(self, session: str) -> str | None:
        """Where the session was recorded, as text for the record form, if known."""

    def open(self, path: Path) -> BinaryIO:
        """A file of the archive, read where it is (the archive, else the central store)."""

    def elsewhere(self, folder: Path, name: str, sealed: dict[str, Any], digest: str | None) -> tuple[bool, str] | None:
        """A video absent from ``folder`` checked where it is kept (``evidence.verify.Elsewhere``)."""


CACHE = ".store-cache"          # <archive>/.store-cache/<session folder>: records of sessions stored elsewhere


class StoredFiles(Protocol):
    """The central store as footage sees it: files by their key, their path in an archive."""

    def has(self, key: str) -> bool:
        """Whether the catalogue records ``key`` as stored (and read back)."""

    def open(self, key: str) -> BinaryIO:
        """The stored version of ``key``, seekable, read in byte ranges."""

    def size(self, key: str) -> int:
        """The stored version's size in bytes."""

    def check(self, key: str, sha256: str, size: int) -> tuple[bool, str]:
        """Read the stored version whole: whether it holds ``sha256`` and ``size``, and a
        sentence naming the version checked."""

    def fetch(self, key: str, to: Path) -> None:
        """Copy the stored version into the file ``to``, its SHA-256 checked on the way."""

    def keys(self, session: str) -> list[str]:
        """The keys stored with ``session``."""


class CatalogueFootage:
    """The footage of this station's archive, as the catalogue knows it: purged sessions are not
    here, nor, without a central store, those another station sharing the catalogue holds."""

    def __init__(self, catalogue: Catalogue, archive: Path, stored: StoredFiles | None = None) -> None:
        self.catalogue, self.archive, self.station = catalogue, Path(archive), station_id(archive)
        self.stored = stored

    def folder(self, session: str) -> Path | None:
        found = self.catalogue.session(session)
        if found is None or found["purged_ns"] is not None:
            return None
        if found["station"] == self.station:
            return self.archive / found["folder"]
        return self._cached(found) if self.stored is not None else None

    def _cached(self, found: dict[str, Any]) -> Path | None:
        """A session another station docked: its signed records (not its videos) fetched from
        the store into the cache once; None if the store holds none of it."""
        folder = self.archive / CACHE / found["folder"]
        keys = [key for key in self.stored.keys(found["session"]) if key.startswith(found["folder"] + "/")]
        if not keys:
            return None
        for key in keys:
            target = self.archive / CACHE / key
            if not _video(key) and not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                self.stored.fetch(key, target)
        return folder

    def key(self, path: Path) -> str:
        """The store's key of a file of the archive or of its cache."""
        relative = Path(path).resolve().relative_to(self.archive.resolve())
        return (relative.relative_to(CACHE) if relative.parts[0] == CACHE else relative).as_posix()

    def local(self, path: Path) -> bool:
        """Whether the file is in the archive itself (not freed, not stored elsewhere)."""
        return Path(path).is_file()

    def readable(self, path: Path) -> bool:
        """Whether the file can be read: in the archive, or stored in the central store."""
        return self.local(path) or (self.stored is not None and self.stored.has(self.key(path)))

    def open(self, path: Path) -> BinaryIO:
        """The file at ``path`` of the archive: the local copy if it is there, else the version
        the catalogue names in the central store, read in byte ranges."""
        if self.local(path) or self.stored is None or not self.stored.has(self.key(path)):
            return open(path, "rb")
        return self.stored.open(self.key(path))

    def size(self, path: Path) -> int:
        if self.local(path) or self.stored is None:
            return Path(path).stat().st_size
        return self.stored.size(self.key(path))

    def elsewhere(self, folder: Path, name: str, sealed: dict[str, Any], digest: str | None) -> tuple[bool, str] | None:
        """For the verifier: a video not in ``folder`` checked in the store whole, against its
        seal (which version was read is in the sentence); None if the store does not hold it.
        ``digest``: the SHA-256 of the bytes a caller just read through :meth:`open` (the
        version the catalogue names), which is not read again."""
        key = self.key(Path(folder) / name)
        if self.stored is None or not self.stored.has(key):
            return None
        return self.stored.check(key, sealed["sha256"], sealed["size"], digest)

    def sessions_of_case(self, case: str) -> list[str]:
        """Those this archive holds; with a central store, those of every station sharing the catalogue."""
        station = self.station if self.stored is None else None
        return [found["session"] for found in self.catalogue.search(case=case, station=station)]

    def place(self, session: str) -> str | None:
        found = self.catalogue.session(session) or {}
        first, last = found.get("place_first"), found.get("place_last")
        return " – ".join(dict.fromkeys(p for p in (first, last) if p)) or None


def _video(key: str) -> bool:
    return key.rpartition("/")[2].startswith("seg-") and key.endswith(".mp4")


@dataclass(frozen=True)
class Segment:
    video: Path
    manifest: SignedRecord

    @property
    def first_wall(self) -> int:
        return self.manifest.body["frames"]["first"]["wall"]

    @property
    def last_wall(self) -> int:
        return self.manifest.body["frames"]["last"]["wall"]


@dataclass(frozen=True)
class Session:
    """A session's signed records as archived (their signatures checked on reading)."""

    folder: Path
    opened: SignedRecord
    closed: SignedRecord | None
    segments: list[Segment]

    @property
    def id(self) -> str:
        return self.opened.body["session"]


def read_session(folder: Path) -> Session:
    """The signed records of an archived session; raises EvidenceError if one does not verify."""
    closed = folder / SESSION_CLOSE
    segments = [Segment(path.with_name(path.name[:-len(MANIFEST_SUFFIX)]), read_record(path))
                for path in sorted(folder.glob("seg-*.mp4" + MANIFEST_SUFFIX))]
    return Session(folder, read_record(folder / SESSION_OPEN), read_record(closed) if closed.exists() else None,
                   segments)


def in_range(session: Session, start_ns: int | None, end_ns: int | None) -> list[Segment]:
    """The whole segments that hold any frame between ``start_ns`` and ``end_ns`` (never cut: S4)."""
    if start_ns is None and end_ns is None:
        return list(session.segments)
    return [s for s in session.segments if s.manifest.body["frames"]["first"] is not None
            and (start_ns is None or s.last_wall >= start_ns) and (end_ns is None or s.first_wall <= end_ns)]
