"""What access and export need to know of the archived footage, behind one small interface.

The signed records in the archive are the authority for everything the record form says of a
session (officer, device, times, segments and their hashes). Where a session's folder is,
which sessions belong to a case, and where it was recorded come from the catalogue
(:class:`CatalogueFootage`).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

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


class CatalogueFootage:
    """The footage of this station's archive, as the catalogue knows it: purged sessions and
    those another station sharing the catalogue holds are not here."""

    def __init__(self, catalogue: Catalogue, archive: Path) -> None:
        self.catalogue, self.archive, self.station = catalogue, Path(archive), station_id(archive)

    def folder(self, session: str) -> Path | None:
        found = self.catalogue.session(session)
        if found is None or found["station"] != self.station or found["purged_ns"] is not None:
            return None
        return self.archive / found["folder"]

    def sessions_of_case(self, case: str) -> list[str]:
        return [found["session"] for found in self.catalogue.search(case=case, station=self.station)]

    def place(self, session: str) -> str | None:
        found = self.catalogue.session(session) or {}
        first, last = found.get("place_first"), found.get("place_last")
        return " – ".join(dict.fromkeys(p for p in (first, last) if p)) or None


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
