"""The central store: each verified, catalogued session pushed to a locked bucket, and what the
catalogue knows of it (docs/central-store.md).

Every file of a session goes up under the archive's own path as its key
(``YYYY/MM/DD/unit/device/officer/session/seg-000001.mp4`` …, the device's identity records under
``chain/<key>/``, its event logs under ``events/<key>/``, write-ups under ``writeups/<session>/``),
with COMPLIANCE retention until the date its retention class gives (:func:`retain_until`). A
file counts as stored only once read back with the seal's SHA-256; then the catalogue records
its key, version, retain-until and when (table ``stored_objects``), and a session whose every
file is stored is recorded in ``stored_sessions``. A push is resumable and idempotent: what is
recorded is not sent again, and an object already in the bucket with the seal's SHA-256 (a push
killed before it recorded it) is read back and adopted instead of sent again.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import sqlalchemy as sa

from evidence import EvidenceError
from evidence.paths import ArchiveDir
from evidence.records import SESSION_CLOSE, SESSION_OPEN
from station.catalogue.catalogue import DAY_NS, Catalogue, station_id
from station.catalogue.footage import read_session
from station.catalogue.retention import periods
from station.db import Migration
from station.store import bucket
from station.store.bucket import StoreError, StoreSettings

AREA = "store"
OVERDUE_NS = DAY_NS          # S1: footage docked is on the agency's server within a further 24 h

metadata = sa.MetaData()
stored_objects = sa.Table(
    "stored_objects", metadata,
    sa.Column("key", sa.String(512), primary_key=True),        # the archive's relative path
    sa.Column("session", sa.String(128), nullable=False),      # the session it was first pushed with
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("version_id", sa.String(1024), nullable=False),
    sa.Column("retain_until_ns", sa.BigInteger, nullable=False),
    sa.Column("stored_ns", sa.BigInteger, nullable=False),
    sa.Index("stored_objects_session", "session"),
)
stored_sessions = sa.Table(
    "stored_sessions", metadata,
    sa.Column("session", sa.String(128), primary_key=True),
    sa.Column("files", sa.Integer, nullable=False),
    sa.Column("retain_until_ns", sa.BigInteger, nullable=False),
    sa.Column("stored_ns", sa.BigInteger, nullable=False),
)

MIGRATIONS = [Migration(1, "the central store's objects and stored sessions", lambda c: metadata.create_all(c))]


@dataclass(frozen=True)
class File:
    """One file of a session to store: its key, where it is, and the SHA-256 it must read back as."""

    key: str
    path: Path
    sha256: str


@dataclass
class PushReport:
    uploaded: list[str] = field(default_factory=list)      # keys sent now
    adopted: list[str] = field(default_factory=list)       # in the bucket already, read back and recorded
    extended: list[str] = field(default_factory=list)      # lock moved later to follow the catalogue
    sessions: list[str] = field(default_factory=list)      # sessions stored whole by this push
    skipped: dict[str, str] = field(default_factory=dict)  # session: why it was not pushed
    bytes: int = 0


def retain_until(catalogue: Catalogue, session: dict[str, Any], long_term_years: int,
                 days: dict[str, int | None] | None = None) -> datetime:
    """Until when the store must keep ``session``: ordinary footage its ordinary period after it
    was archived (or ended, if later, as the catalogue counts); marked (R7) footage and footage
    linked to a case the long-term period (a case's own retention period is not built yet)."""
    days = periods(catalogue) if days is None else days
    start_ns = max(session["ended_ns"] or session["started_ns"], session["archived_ns"])
    start = datetime.fromtimestamp(start_ns // 10**9, timezone.utc)
    until = start + timedelta(days=days["ordinary"])
    if session["marked"] or catalogue.cases(session["session"]):
        until = max(until, _years_later(start, long_term_years))
    return until


def _years_later(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:                      # 29 February, in a year that has none
        return moment.replace(year=moment.year + years, day=28)


def session_files(archive: Path, session: dict[str, Any]) -> list[File]:
    """The files of ``session`` to store, each with the SHA-256 its seal gives: a video's and an
    index's from their signed manifest; a signed record's (open, close, manifest, identity,
    write-up) and an event log's from its bytes as archived, its signature checked first."""
    root = ArchiveDir(archive)
    folder = root.root / session["folder"]
    sealed = read_session(folder)            # raises EvidenceError if a record does not verify
    expected: dict[Path, str] = {}
    for segment in sealed.segments:
        body = segment.manifest.body
        expected[segment.video] = body["file"]["sha256"]
        expected[folder / body["index"]["name"]] = body["index"]["sha256"]
    paths = [folder / SESSION_OPEN, *([folder / SESSION_CLOSE] if sealed.closed else [])]
    paths += sorted(p for p in folder.glob("seg-*") if p.is_file())
    paths += sorted(root.chain(session["key_id"]).glob("identity-*.json"))
    paths += sorted((root.events / session["key_id"]).glob("events-*.jsonl"))
    paths += sorted((root.writeups / session["session"]).glob("*.json"))
    files = []
    for path in paths:
        sha = expected.get(path) or bucket.digests(path)[0]
        files.append(File(path.relative_to(root.root).as_posix(), path, sha))
    return files


class CentralStore:
    """This station's archive and catalogue, and the bucket they are pushed to."""

    def __init__(self, catalogue: Catalogue, archive: Path, settings: StoreSettings,
                 s3: Any = None, clock: Callable[[], int] | None = None) -> None:
        self.catalogue, self.archive, self.settings = catalogue, Path(archive), settings
        self.s3 = s3 if s3 is not None else bucket.client(settings)
        self.clock = clock or catalogue.clock
        self.station = station_id(archive)

    def _talk(self, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except bucket.store_errors() as exc:
            raise bucket.failure(self.settings, exc) from exc

    def init(self) -> str:
        """Make the bucket locked, or check it is; one sentence saying which."""
        return self._talk(lambda: bucket.ensure_bucket(self.s3, self.settings))

    # -- push ------------------------------------------------------------------------------------

    def push(self) -> PushReport:
        """Store every verified, catalogued session of this station not stored whole yet, and
        follow the catalogue's retention for those that are (a lock is only ever moved later)."""
        report, days = PushReport(), periods(self.catalogue)
        for session in self._candidates():
            if session["verification"] != "verified":
                report.skipped[session["session"]] = "not verified whole yet (no close record, or a file missing)"
                continue
            try:
                files = session_files(self.archive, session)
            except (EvidenceError, OSError) as exc:
                report.skipped[session["session"]] = f"its files do not check: {exc}"
                continue
            until = retain_until(self.catalogue, session, self.settings.long_term_years, days)
            for item in files:
                self._store(session["session"], item, until, report)
            self._stored_whole(session["session"], len(files), until, report)
        return report

    def _candidates(self) -> list[dict[str, Any]]:
        return self.catalogue.search(station=self.station)

    def _store(self, session: str, item: File, until: datetime, report: PushReport) -> None:
        recorded = self._recorded(item.key)
        if recorded is not None:
            if recorded["sha256"] != item.sha256:
                raise StoreError(f"{item.key} in the archive no longer matches what was stored "
                                 f"(version {recorded['version_id']}): nothing of it is sent again")
            if recorded["retain_until_ns"] < _ns(until):
                self._talk(lambda: bucket.extend(self.s3, self.settings.bucket, item.key,
                                                 recorded["version_id"], until))
                self._record(session, self._read_back(item, recorded["version_id"]), update=True)
                report.extended.append(item.key)
            return
        version = self._version_in_bucket(item)
        if version is None:
            sha, md5, size = bucket.digests(item.path)
            if sha != item.sha256:
                raise StoreError(f"{item.key} does not match its seal (SHA-256 {sha}, sealed {item.sha256}): "
                                 f"it is not sent; run 'bodycam-station verify'")
            version = self._talk(lambda: bucket.put_locked(self.s3, self.settings.bucket, item.key, item.path,
                                                           item.sha256, md5, until))
            report.uploaded.append(item.key)
            report.bytes += size
        else:
            report.adopted.append(item.key)
        stored = self._read_back(item, version)
        if stored.retain_until < until:
            self._talk(lambda: bucket.extend(self.s3, self.settings.bucket, item.key, version, until))
            stored = self._read_back(item, version)
        self._record(session, stored)

    def _version_in_bucket(self, item: File) -> str | None:
        """A version of the key already holding the sealed bytes (a push killed before it
        recorded it); None if there is none."""
        for version in self._talk(lambda: bucket.versions(self.s3, self.settings.bucket, item.key)):
            if version["sha256"] == item.sha256:
                return version["VersionId"]
        return None

    def _read_back(self, item: File, version_id: str) -> bucket.Stored:
        stored = self._talk(lambda: bucket.read_back(self.s3, self.settings.bucket, item.key, version_id))
        if stored.sha256 != item.sha256:
            raise StoreError(f"{item.key} read back from the store as SHA-256 {stored.sha256}, not the sealed "
                             f"{item.sha256}: not counted as stored")
        if stored.mode != bucket.COMPLIANCE:
            raise StoreError(f"{item.key} is stored under {stored.mode} retention, not COMPLIANCE")
        return stored

    def _recorded(self, key: str) -> dict[str, Any] | None:
        with self.catalogue.engine.connect() as connection:
            row = connection.execute(sa.select(stored_objects).where(stored_objects.c.key == key)).first()
        return dict(row._mapping) if row else None

    def _record(self, session: str, stored: bucket.Stored, *, update: bool = False) -> None:
        values = {"sha256": stored.sha256, "size": stored.size, "version_id": stored.version_id,
                  "retain_until_ns": _ns(stored.retain_until), "stored_ns": self.clock()}
        with self.catalogue.engine.begin() as connection:
            if update:
                connection.execute(stored_objects.update().where(stored_objects.c.key == stored.key)
                                   .values(retain_until_ns=values["retain_until_ns"]))
            else:
                connection.execute(stored_objects.insert().values(key=stored.key, session=session, **values))

    def _stored_whole(self, session: str, files: int, until: datetime, report: PushReport) -> None:
        with self.catalogue.engine.begin() as connection:
            known = connection.execute(sa.select(stored_sessions).where(stored_sessions.c.session == session)).first()
            if known is None:
                connection.execute(stored_sessions.insert().values(
                    session=session, files=files, retain_until_ns=_ns(until), stored_ns=self.clock()))
                report.sessions.append(session)
            elif known.files != files or known.retain_until_ns < _ns(until):
                connection.execute(stored_sessions.update().where(stored_sessions.c.session == session)
                                   .values(files=files, retain_until_ns=max(known.retain_until_ns, _ns(until))))

    # -- what is stored ----------------------------------------------------------------------------

    def objects(self, session: str) -> list[dict[str, Any]]:
        """What the catalogue records of ``session``'s objects (key, version, retain-until, stored)."""
        with self.catalogue.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(
                sa.select(stored_objects).where(stored_objects.c.session == session).order_by(stored_objects.c.key))]


def status(catalogue: Catalogue, archive: Path, now_ns: int) -> dict[str, list[dict[str, Any]]]:
    """This station's sessions as ``stored``, ``pending`` (not stored whole yet) and, among the
    pending, ``overdue``: archived (docked) more than 24 hours before ``now_ns`` (S1)."""
    with catalogue.engine.connect() as connection:
        stored = {row.session: dict(row._mapping) for row in connection.execute(sa.select(stored_sessions))}
    found: dict[str, list[dict[str, Any]]] = {"stored": [], "pending": [], "overdue": []}
    for session in catalogue.search(station=station_id(archive)):
        if session["session"] in stored:
            found["stored"].append({**session, **stored[session["session"]]})
            continue
        found["pending"].append(session)
        if session["archived_ns"] <= now_ns - OVERDUE_NS:
            found["overdue"].append(session)
    return found


def _ns(moment: datetime) -> int:
    return int(moment.timestamp()) * 10**9


def stored_since(engine: sa.Engine, since_ns: int) -> list[str]:
    """The sessions stored whole at or after ``since_ns``."""
    with engine.connect() as connection:
        return list(connection.scalars(sa.select(stored_sessions.c.session)
                                       .where(stored_sessions.c.stored_ns >= since_ns)))
