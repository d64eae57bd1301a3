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
killed before it recorded it) is read back and, holding the sealed bytes, locked and adopted
instead of sent again (one claiming the seal with other bytes is left unlocked and the file sent
again). Large files go in
parts (``station.store.upload``). Each push also follows the catalogue's legal holds with S3
legal holds on every version; :meth:`CentralStore.delete` is the purge's part in the bucket.
"""
from __future__ import annotations

import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Self

import sqlalchemy as sa

from evidence import EvidenceError
from evidence.paths import ArchiveDir
from evidence.records import SESSION_CLOSE, SESSION_OPEN
from station.catalogue.catalogue import DAY_NS, Catalogue, station_id
from station.catalogue.footage import read_session
from station.catalogue.retention import periods, years_later_ns
from station.db import Migration
from station.store import bucket, upload
from station.store.bucket import NotAsSealed, StoreError, StoreSettings

AREA = "store"
OVERDUE_NS = DAY_NS          # S1: footage docked is on the agency's server within a further 24 h
FILES_AT_ONCE = 8           # files being sent, locked or read back at once by a push
PERMANENT_LOCK_YEARS = 100   # S3 has no lock without end: a case file kept permanently is locked this long

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
    sa.Column("legal_hold", sa.Boolean, nullable=False, server_default=sa.false()),   # on every version
    sa.Index("stored_objects_session", "session"),
)
stored_sessions = sa.Table(
    "stored_sessions", metadata,
    sa.Column("session", sa.String(128), primary_key=True),
    sa.Column("files", sa.Integer, nullable=False),
    sa.Column("retain_until_ns", sa.BigInteger, nullable=False),
    sa.Column("stored_ns", sa.BigInteger, nullable=False),
)

def _legal_holds(connection: sa.Connection) -> None:
    """Databases whose stored objects were made before version 2 lack the legal hold's column."""
    if "legal_hold" not in {column["name"] for column in sa.inspect(connection).get_columns("stored_objects")}:
        connection.execute(sa.text("ALTER TABLE stored_objects ADD COLUMN legal_hold BOOLEAN NOT NULL DEFAULT FALSE"))


MIGRATIONS = [Migration(1, "the central store's objects and stored sessions", lambda c: metadata.create_all(c)),
              Migration(2, "the S3 legal hold on each stored object", _legal_holds)]


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
    held: list[str] = field(default_factory=list)          # S3 legal hold set on every version
    released: list[str] = field(default_factory=list)      # S3 legal hold cleared (no hold in force)
    sessions: list[str] = field(default_factory=list)      # sessions stored whole by this push
    skipped: dict[str, str] = field(default_factory=dict)  # session: why it was not pushed
    bytes: int = 0


def retain_until(catalogue: Catalogue, session: dict[str, Any], long_term_years: int,
                 days: dict[str, int | None] | None = None) -> datetime:
    """Until when the store must keep ``session``: ordinary footage its ordinary period after it
    was archived (or ended, if later, as the catalogue counts); marked (R7) footage the long-term
    period, or the catalogue's marked period if that is longer (a marked period without end
    keeps the long-term lock: the catalogue itself then never lets the footage go); footage
    linked to a case as long as the case's file (:func:`case_lock_ns`)."""
    days = periods(catalogue) if days is None else days
    start_ns = max(session["ended_ns"] or session["started_ns"], session["archived_ns"])
    until_ns = start_ns + days["ordinary"] * DAY_NS
    if session["marked"]:
        until_ns = max(until_ns, years_later_ns(start_ns, long_term_years),
                       start_ns + (days["marked"] or 0) * DAY_NS)
    for case in catalogue.cases(session["session"]):
        until_ns = max(until_ns, case_lock_ns(case, catalogue.clock()))
    return datetime.fromtimestamp(until_ns // 10**9, timezone.utc)


def case_lock_ns(case: dict[str, Any], now_ns: int) -> int:
    """Until when the store locks a case's footage: the case's years after it closed; while it
    is open, after the start of this month (so an open case's locks move on once a month, never
    running out before it closes); a permanent case's for ``PERMANENT_LOCK_YEARS``."""
    years = PERMANENT_LOCK_YEARS if case["retention_years"] is None else case["retention_years"]
    if case["closed_ns"] is not None:
        return years_later_ns(case["closed_ns"], years)
    today = datetime.fromtimestamp(now_ns // 10**9, timezone.utc)
    month = int(today.replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp()) * 10**9
    return years_later_ns(max(case["opened_ns"], month), years)


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
        """Make the bucket locked, or check it is, with the lifecycle rule aborting forgotten
        multipart uploads; one sentence saying so."""
        said = self._talk(lambda: bucket.ensure_bucket(self.s3, self.settings))
        aborted = self._talk(lambda: upload.abort_forgotten_uploads(self.s3, self.settings.bucket,
                                                                    self.settings.abort_uploads_days))
        return f"{said}; {aborted}"

    # -- push ------------------------------------------------------------------------------------

    def push(self, stop: threading.Event | None = None) -> PushReport:
        """Store every verified, catalogued session of this station not stored whole yet, and
        follow the catalogue's retention and legal holds for those that are (a lock is only ever
        moved later). ``FILES_AT_ONCE`` files go at once (:class:`_Shipment`). ``stop`` set:
        return once the files being sent are stored (the next push resumes)."""
        report, days = PushReport(), periods(self.catalogue)
        held: dict[str, bool] = {}          # key: whether a legal hold in force covers a session it serves
        with _Shipment(self, report) as shipment:
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
                on_hold = bool(self.catalogue.holds(session["session"]))
                for item in files:
                    if (stop is not None and stop.is_set()) or shipment.failed():
                        return report
                    shipment.add(session["session"], item, until)
                    held[item.key] = held.get(item.key, False) or on_hold
                shipment.whole(session["session"], len(files), until)
        self._follow_holds(held, report)
        return report

    def _follow_holds(self, held: dict[str, bool], report: PushReport) -> None:
        """The S3 legal hold on every version of each key whose catalogue hold changed."""
        for key, on in held.items():
            recorded = self._recorded(key)
            if recorded is None or recorded["legal_hold"] == on:
                continue
            self._talk(lambda key=key, on=on: bucket.legal_hold(self.s3, self.settings.bucket, key, on))
            with self.catalogue.engine.begin() as connection:
                connection.execute(stored_objects.update().where(stored_objects.c.key == key).values(legal_hold=on))
            (report.held if on else report.released).append(key)

    def _candidates(self) -> list[dict[str, Any]]:
        return self.catalogue.search(station=self.station)

    def _put_away(self, item: File, until: datetime, recorded: dict[str, Any] | None,
                  sender: upload.Sender) -> tuple[str, bucket.Stored, int]:
        """In a worker of the push: ``item`` sent (or found already in the bucket), locked and
        read back; how (``uploaded``, ``adopted`` or ``extended``), as read back, and bytes sent."""
        if recorded is not None:
            return "extended", self._read_back(item, recorded["version_id"], until), 0
        adopted = self._adopted(item, until)
        if adopted is not None:
            return "adopted", adopted, 0
        version, size = self._talk(lambda: sender.send(item.key, item.path, item.sha256, until))
        return "uploaded", self._read_back(item, version, until), size

    def _adopted(self, item: File, until: datetime) -> bucket.Stored | None:
        """A version of the key already holding the sealed bytes (a push killed before it
        recorded it), read back first and locked only then; None if there is none. A version
        whose metadata names the seal but whose bytes differ is left as it is, unlocked by us,
        and the file is sent again beside it."""
        for version in self._talk(lambda: bucket.versions(self.s3, self.settings.bucket, item.key)):
            if version["sha256"] != item.sha256:
                continue
            sha256, size = self._talk(lambda v=version["VersionId"]: bucket.hashed(self.s3, self.settings.bucket,
                                                                                  item.key, v))
            if sha256 == item.sha256:
                return self._locked(item, version["VersionId"], size, until)
        return None

    def _locked(self, item: File, version_id: str, size: int, until: datetime) -> bucket.Stored:
        """A version read back as sealed, locked until ``until`` at least; its lock read back."""
        self._talk(lambda: bucket.lock_at_least(self.s3, self.settings.bucket, item.key, version_id, until))
        locked = self._talk(lambda: bucket.retention(self.s3, self.settings.bucket, item.key, version_id))
        return _compliant(bucket.Stored(item.key, version_id, item.sha256, size, *locked))

    def _read_back(self, item: File, version_id: str, until: datetime) -> bucket.Stored:
        """The version locked until ``until`` at least, then read back and checked against the seal."""
        self._talk(lambda: bucket.lock_at_least(self.s3, self.settings.bucket, item.key, version_id, until))
        stored = self._talk(lambda: bucket.read_back(self.s3, self.settings.bucket, item.key, version_id))
        if stored.sha256 != item.sha256:
            raise NotAsSealed(f"{item.key} read back from the store as SHA-256 {stored.sha256}, not the sealed "
                             f"{item.sha256}: not counted as stored")
        return _compliant(stored)

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

    # -- purge ---------------------------------------------------------------------------------------

    def delete(self, session: dict[str, Any]) -> int:
        """Delete every version of ``session``'s own objects (its folder's files and its
        write-ups; a device's identity records and event logs serve its other sessions too and
        stay), and forget them; how many versions. The store refuses a version still locked or
        under a legal hold: that refusal is raised, in one sentence, and is the truth."""
        own = (f"{session['folder']}/", f"writeups/{session['session']}/")
        keys = [row["key"] for row in self.objects(session["session"]) if row["key"].startswith(own)]
        deleted = 0
        for key in keys:
            try:
                deleted += bucket.delete_versions(self.s3, self.settings.bucket, key)
            except bucket.store_errors() as exc:
                if getattr(exc, "response", {}).get("Error", {}).get("Code") != "AccessDenied":
                    raise bucket.failure(self.settings, exc) from exc
                raise StoreError(f"the central store refuses to delete {key}: its lock or legal hold is in force "
                                 f"there, so session {session['session']} is not purged") from exc
            with self.catalogue.engine.begin() as connection:
                connection.execute(stored_objects.delete().where(stored_objects.c.key == key))
        with self.catalogue.engine.begin() as connection:
            connection.execute(stored_sessions.delete().where(stored_sessions.c.session == session["session"]))
        return deleted

    # -- what is stored ----------------------------------------------------------------------------

    def objects(self, session: str) -> list[dict[str, Any]]:
        """What the catalogue records of ``session``'s objects (key, version, retain-until, stored)."""
        with self.catalogue.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(
                sa.select(stored_objects).where(stored_objects.c.session == session).order_by(stored_objects.c.key))]


class _Shipment:
    """The files of one push on their way, ``FILES_AT_ONCE`` at a time: each is sent (or found
    sent already), locked and read back in a worker, so one file's read-back overlaps the next
    ones' uploads; the catalogue is written here, in the pushing thread, only for a file read
    back with its seal's SHA-256, and a session is stored whole once its last file is. A file
    whose bytes are not its sealed ones is left out and the others go on; after any other
    failure (the store refuses, or cannot be reached) nothing more is started. The files under
    way are finished and recorded, then the first failure is raised."""

    def __init__(self, store: CentralStore, report: PushReport) -> None:
        self.store, self.report = store, report
        self.sender = upload.Sender(store.s3, store.settings)
        self.pool = ThreadPoolExecutor(FILES_AT_ONCE, thread_name_prefix="store-file")
        self.under_way: dict[Future[tuple[str, bucket.Stored, int]], tuple[str, File]] = {}
        self.left: dict[str, int] = {}                             # session: its files not stored yet
        self.listed: dict[str, tuple[int, datetime]] = {}          # session: all its files added
        self.error: OSError | None = None          # the first failure, raised at the end
        self.halted = False                        # a failure after which nothing more is started

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        try:
            while self.under_way:
                self._land()
        finally:
            self.pool.shutdown()
            self.sender.close()
        if kind is None and self.error is not None:
            raise self.error

    def failed(self) -> bool:
        return self.halted

    def _fail(self, exc: OSError) -> None:
        self.error = self.error or exc
        self.halted = self.halted or not isinstance(exc, NotAsSealed)

    def add(self, session: str, item: File, until: datetime) -> None:
        """Store ``item`` of ``session`` unless the catalogue has it locked as late already (a
        device's identity records and event logs serve several sessions: one of them under way
        is waited for, so that a key is never sent twice)."""
        while any(going.key == item.key for _, going in self.under_way.values()):
            self._land()
        recorded = self.store._recorded(item.key)
        self.left[session] = self.left.get(session, 0) + 1
        if recorded is not None:
            if recorded["sha256"] != item.sha256:
                self._fail(NotAsSealed(f"{item.key} in the archive no longer matches what was stored "
                                       f"(version {recorded['version_id']}): nothing of it is sent again"))
                return
            if recorded["retain_until_ns"] >= _ns(until):
                self.left[session] -= 1
                return
        while len(self.under_way) >= FILES_AT_ONCE:
            self._land()
        future = self.pool.submit(self.store._put_away, item, until, recorded, self.sender)
        self.under_way[future] = (session, item)

    def whole(self, session: str, files: int, until: datetime) -> None:
        """Every file of ``session`` is added: it is stored whole once they all are."""
        self.listed[session] = (files, until)
        self._whole_if_done(session)

    def _land(self) -> None:
        """Record the files under way that are done, once one is."""
        done, _ = wait(self.under_way, return_when=FIRST_COMPLETED)
        for future in done:
            session, item = self.under_way.pop(future)
            try:
                how, stored, size = future.result()
            except OSError as exc:          # raised once the files under way are finished
                self._fail(exc)
                continue
            self.store._record(session, stored, update=how == "extended")
            getattr(self.report, how).append(item.key)
            self.report.bytes += size
            self.left[session] -= 1
            self._whole_if_done(session)

    def _whole_if_done(self, session: str) -> None:
        if session in self.listed and self.left[session] == 0:
            files, until = self.listed.pop(session)
            self.store._stored_whole(session, files, until, self.report)


def _compliant(stored: bucket.Stored) -> bucket.Stored:
    if stored.mode != bucket.COMPLIANCE:
        raise StoreError(f"{stored.key} is stored under {stored.mode} retention, not COMPLIANCE")
    return stored


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
