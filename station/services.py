"""The one place that opens the station: its database, every area's migrations, the dock's signer.

The command line, the review page and ``pull`` open the station here, once per process or
request, and each actor works through a ``Desk``: the station's services built to record that
actor (and, on the web page, the client's address) on every audit entry. No other module
connects to the database, runs migrations or loads the dock's key.
"""
from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.engine import Engine

from evidence.keys import FileSigner, read_keys
from evidence.paths import ArchiveDir
from evidence.records import SESSION_OPEN
from evidence.verify import Elsewhere
from station import db
from station.catalogue import catalogue
from station.catalogue.catalogue import Catalogue, Hook
from station.catalogue.footage import CatalogueFootage
from station.catalogue.rebuild import SESSION_FOLDERS, Rebuilt, rebuild
from station.catalogue.verdicts import Verdicts
from station.config import StationConfig
from station.custody import access, audit, exports, journal
from station.custody.access import Access, AccessError, Throttle, User
from station.custody.audit import DONE, AuditTrail
from station.custody.exports import Exports
from station.dock.service import DockService
from station.intake import enroll, witness
from station.intake.pull import PullWatch, pull_into
from station.intake.witness import Witness
from station.store import anchor, bucket, cache, pusher, restore as store_restore, store
from station.store.bucket import StoreError, StoreSettings
from station.store.reader import StoreReader
from station.store.store import CentralStore, PushReport
from station.supervision import inspections
from station.supervision.inspections import Inspections
from sync.dock import PullReport
from sync.link import LinkConfig, PortHub
from sync.rates import DEFAULT_BAUDRATE

# Every area's migrations, in the order they run on a new database.
MIGRATIONS: list[tuple[str, list[db.Migration]]] = [
    (audit.AREA, audit.MIGRATIONS),
    (access.AREA, access.MIGRATIONS),
    (exports.AREA, exports.MIGRATIONS),
    (catalogue.AREA, catalogue.MIGRATIONS),
    (witness.AREA, witness.MIGRATIONS),
    (store.AREA, store.MIGRATIONS),
    (inspections.AREA, inspections.MIGRATIONS),
]


def ensure_schema(engine: Engine) -> None:
    """Make or upgrade the tables of every area."""
    for area, migrations in MIGRATIONS:
        db.migrate(engine, area, migrations)


def has_database(archive: Path, url: str | None = None) -> bool:
    """Whether ``archive`` is a station's: its own SQLite file exists, or a shared database is
    named and the archive has a dock folder."""
    return (archive / db.CATALOGUE_FILE).exists() or bool(url and ArchiveDir(archive).dock.is_dir())


def holds_sessions(archive: Path) -> bool:
    """Whether the archive holds at least one session folder."""
    return next(Path(archive).glob(f"{SESSION_FOLDERS}/{SESSION_OPEN}"), None) is not None


def set_damaged_aside(archive: Path, url: str | None = None, clock: Callable[[], int] = time.time_ns) -> Path | None:
    """Before a rebuild: a damaged or empty SQLite database moved aside (where to, or None)."""
    path = Path(archive) / db.CATALOGUE_FILE
    if url is not None or db.damage(path) is None:
        return None
    return db.set_aside(path, clock())


def open_database(archive: Path, url: str | None = None) -> Engine:
    """The station's database at ``url`` (PostgreSQL for a shared one), else the archive's SQLite
    file, its tables made or upgraded."""
    if url is None:
        db.refuse_empty(Path(archive) / db.CATALOGUE_FILE, lambda: holds_sessions(archive))
    engine = db.connect(db.database_url(archive, url))
    ensure_schema(engine)
    return engine


def dock_signer(archive: Path, *, create: bool = False) -> FileSigner:
    """The dock's key, which signs receipts, the audit trail and write-ups; ``create``: made once
    if the archive has none yet (never replaced)."""
    key = ArchiveDir(archive).key
    if key.exists():
        return FileSigner(key)
    if create:
        return FileSigner.generate(key)
    raise AccessError(f"no dock key at {key}: run 'bodycam-station init --archive {archive}' first.")


def dock_init(archive: Path, device_keys: Iterable[str] = ()) -> FileSigner:
    """Create the dock's key once and enrol the given device public keys on it."""
    signer = dock_signer(archive, create=True)
    enroll.enrol(archive, signer, device_keys)
    return signer


class Stamp:
    """A clock remembering its last reading: the time the catalogue stored with a change, which
    the change's audit entry carries (``detail.stored_ns``) so a replay of the journal stores it again."""

    def __init__(self, clock: Callable[[], int]) -> None:
        self.clock, self.last = clock, None

    def __call__(self) -> int:
        self.last = self.clock()
        return self.last


def audit_hook(trail: AuditTrail, user: User | None, stamp: Stamp) -> Hook:
    """The catalogue's hook: each hold, case link, purge, write-up … is one audit entry."""
    def record(action: str, actor: str, details: dict[str, Any]) -> None:
        stored = {} if stamp.last is None else {"stored_ns": stamp.last}
        stamp.last = None
        trail.record(actor, action.replace(" ", "-"), role=user.role if user else None,
                     footage=[details["session"]] if details.get("session") else [],
                     reason=details.get("why") or details.get("reason"), detail={**details, **stored})
    return record


@dataclass(frozen=True)
class Desk:
    """The station's services for one actor, every change audited as this user, from this place."""

    user: User | None
    signer: FileSigner
    trail: AuditTrail
    access: Access
    catalogue: Catalogue
    footage: CatalogueFootage
    exports: Exports
    witness: Witness

    def record(self, action: str, *, session: str | None = None, footage: Sequence[str] = (),
               reason: str | None = None, outcome: str = DONE, **detail: Any) -> None:
        """One audit entry for what this desk's user did (or was refused)."""
        self.trail.record(self.user.name if self.user else None, action, role=self.user.role if self.user else None,
                          footage=[session] if session else list(footage), reason=reason, outcome=outcome,
                          detail=detail)


@dataclass(frozen=True)
class Station:
    """An opened station: its archive, its database, the dock's signer, the clock and how
    failed sign-ins are throttled."""

    archive: Path
    engine: Engine
    signer: FileSigner
    clock: Callable[[], int] = time.time_ns
    throttle: Throttle = Throttle()
    store: StoreSettings | None = None        # the central store the footage is also read from

    @property
    def journal(self) -> journal.Journal:
        """The archive's copy of the audit trail (this station's entries)."""
        return journal.Journal(journal.path(self.archive, self.signer.key_id), self.engine, self.signer.public_key)

    def trail(self, source: str | None = None) -> AuditTrail:
        """The audit trail, each entry also appended to the archive's journal."""
        return AuditTrail(self.engine, self.signer, source=source, journal=self.journal)

    @functools.cached_property
    def stored(self) -> StoreReader | None:
        """The central store's objects, read where the archive no longer holds them."""
        return StoreReader(self.engine, self.store) if self.store is not None else None

    def desk(self, user: User | None, source: str | None = None) -> Desk:
        """The services for ``user`` (None: before anyone signed in), each audit entry naming
        ``source`` (by default the operating-system user and host)."""
        trail, stamp = self.trail(source), Stamp(self.clock)
        catalogue = Catalogue(self.engine, hook=audit_hook(trail, user, stamp), clock=stamp)
        gate = Access(self.engine, trail, clock=self.clock, throttle=self.throttle)
        footage = CatalogueFootage(catalogue, self.archive, self.stored)
        return Desk(user, self.signer, trail, gate, catalogue, footage, Exports(gate, footage),
                    Witness(self.engine, trail))


def open_station(archive: Path, url: str | None = None, *, clock: Callable[[], int] = time.time_ns,
                 throttle: Throttle = Throttle(), store: StoreSettings | None = None) -> Station:
    """The station of ``archive`` (which must have its dock key) on the database at ``url``; the
    journal given what a crash kept from it, a database behind the journal refused."""
    signer = dock_signer(archive)
    station = Station(Path(archive), open_database(archive, url), signer, clock, throttle, store)
    station.journal.reconcile()
    return station


def restore(archive: Path, url: str | None = None, clock: Callable[[], int] = time.time_ns) -> Rebuilt | None:
    """A database lost, damaged (and set aside) or replaced: rebuilt from the archive, then the
    journal replayed into it (users, cases, holds, ledger, retention, the trail itself) and the
    result checked; None if the database is not behind the journal (nothing to restore). Done as
    the station itself (no user can sign in before it), an audit entry of its own."""
    signer = dock_signer(archive)
    station = Station(Path(archive), open_database(archive, url), signer, clock)
    file = station.journal.file
    journalled, stored = journal.last_seq(file), audit.last_seq(station.engine)
    if stored >= journalled:
        return None
    if stored:
        raise audit.AuditError(f"the database holds the audit trail up to entry {stored}, its journal "
                               f"{file} up to {journalled}: an older copy; move it aside, then rebuild.")
    done = rebuild(Catalogue(station.engine, clock=clock), archive)
    last = journal.replay(station.engine, file, {signer.public_key}, inspections.REPLAY)
    problems = audit.verify(station.engine, {signer.public_key})
    if problems or last != journalled:
        raise audit.AuditError(f"the trail restored from {file} does not verify: "
                               f"{problems[0] if problems else f'it ends at entry {last}, not {journalled}'}")
    station.trail().record(audit.STATION, "rebuild", detail={
        "sessions": done.sessions, "files": done.files, "problems": len(done.problems), "restored_to": last})
    return done


def recheck(archive: Path, url: str | None = None, store: StoreSettings | None = None) -> int:
    """Verify again every session the catalogue holds in ``archive`` (every byte, a freed video's
    in the central store) and store the verdicts the review page shows: the scheduled check.
    How many sessions were checked."""
    footage = _footage(archive, url, store)
    stored = Verdicts(footage.catalogue.engine)
    found = footage.catalogue.search(station=catalogue.station_id(archive))
    for session in found:
        stored.check(Path(archive) / session["folder"], footage)
    return len(found)


def _footage(archive: Path, url: str | None, store: StoreSettings | None) -> CatalogueFootage:
    engine = open_database(archive, url)
    return CatalogueFootage(Catalogue(engine), archive, StoreReader(engine, store) if store else None)


def stored_elsewhere(paths: Iterable[Path], url: str | None, store: StoreSettings | None) -> Elsewhere | None:
    """Where ``verify`` finds a video freed from a station's archive among ``paths``: the
    version its catalogue names in the central store; None without a store."""
    if store is None:
        return None
    views = [_footage(path, url, store) for path in paths if has_database(path, url)]

    def elsewhere(folder: Path, name: str, sealed: dict[str, Any], digest: str | None) -> tuple[bool, str] | None:
        for view in views:
            if view.archive.resolve() in Path(folder).resolve().parents:
                return view.elsewhere(folder, name, sealed, digest)
        return None
    return elsewhere


def open_catalogue(archive: Path, url: str | None = None, **options: Any) -> Catalogue:
    """The catalogue alone, on the station's database; ``options`` go to :class:`Catalogue`."""
    return Catalogue(open_database(archive, url), **options)


def pull(archive: Path, port_url: str, *, url: str | None = None, catalogue: Catalogue | None = None,
         progress: Callable[[int, int], None] | None = None, config: LinkConfig = LinkConfig(),
         patience: float = 30.0, baudrate: int = DEFAULT_BAUDRATE) -> PullReport:
    """Take everything an enrolled device offers on ``port_url`` into ``archive``, opening the
    station's database once: filed in its catalogue (or in ``catalogue``, one from
    :func:`open_catalogue`, on its database), the device's chain checked by the witness, each
    refusal signed into the audit trail."""
    station = open_station(archive, url) if catalogue is None else \
        Station(Path(archive), catalogue.engine, dock_signer(archive))
    return _pull_on(station, port_url, catalogue=catalogue, progress=progress, config=config, patience=patience,
                    baudrate=baudrate)


def dock_service(archive: Path, ports: Sequence[str], *, url: str | None = None, baudrate: int = DEFAULT_BAUDRATE,
                 config: LinkConfig = LinkConfig(), patience: float = 30.0, store: StoreSettings | None = None,
                 **pushing: float) -> DockService:
    """The dock service of ``archive`` watching ``ports`` (globs): the station opened once, every
    bay's pull on its one engine, each exactly as :func:`pull`; with a central ``store``, a push
    after each pull, in the background (``pushing``: the :class:`~station.store.pusher.StoreJob`'s timing)."""
    station = open_station(archive, url)

    def pull_bay(port_url: str, watch: PullWatch, stop: threading.Event, hub: PortHub) -> PullReport:
        return _pull_on(station, port_url, config=config, patience=patience, baudrate=baudrate, watch=watch,
                        stop=stop, hub=hub)
    if store is None:
        return DockService(station.archive, ports, pull_bay)
    job = pusher.pusher(_station_push(station, store), **pushing)
    return DockService(station.archive, ports, pull_bay, after_pull=job.wake, background=[job.run])


class Recorder(Protocol):
    """How an audit entry is recorded for an actor: :meth:`Desk.record`'s shape."""

    def __call__(self, action: str, *, footage: Sequence[str] = (), outcome: str = DONE, **detail: Any) -> None: ...


@dataclass(frozen=True)
class Pushed:
    """One push to the central store and what followed it."""

    report: PushReport
    freed: cache.Freed | None                   # the local videos freed after it ([store] keep_local_days)
    checkpoint: anchor.Checkpoint | None        # the audit trail anchored by it (None: nothing new to anchor)


def push_to_store(catalogue: Catalogue, archive: Path, signer: FileSigner, settings: StoreSettings,
                  record: Recorder, *, stop: threading.Event | None = None, idle_entry: bool = False,
                  clock: Callable[[], int] = time.time_ns) -> Pushed:
    """Store what is pending in the central store, free the local videos stored ``keep_local_days``
    ago, and anchor the audit trail there, each step that did something (or was refused) an
    entry recorded by ``record``: the one push of the command line and of the dock service. A
    push that found nothing to do is recorded only with ``idle_entry`` (a person's command is,
    the service's push every quarter of an hour is not)."""
    try:
        report = CentralStore(catalogue, archive, settings).push(stop)
    except StoreError as exc:
        record("store-push", outcome=audit.REFUSED, bucket=settings.bucket, why=str(exc))
        raise
    if idle_entry or report.sessions or report.uploaded or report.adopted or report.extended or report.held \
            or report.released:
        record("store-push", footage=report.sessions, bucket=settings.bucket, uploaded=len(report.uploaded),
               adopted=len(report.adopted), extended=len(report.extended), held=report.held,
               released=report.released, bytes=report.bytes)
    freed = None
    if settings.keep_local_days is not None:
        freed = free_local(catalogue, archive, settings.keep_local_days, record, clock())
    return Pushed(report, freed, anchor_trail(archive, catalogue.engine, signer, settings, clock))


def free_local(catalogue: Catalogue, archive: Path, days: int, record: Recorder, now_ns: int) -> cache.Freed:
    """Free the local videos of the sessions stored and read back ``days`` ago; an entry when any was."""
    freed = cache.free(catalogue, archive, days, now_ns)
    if freed.files:
        record("store-free", footage=freed.sessions, files=freed.files, bytes=freed.bytes, days=days)
    return freed


def _as_station(station: Station) -> Recorder:
    """Entries recorded as the station itself (what it does unattended)."""
    def record(action: str, *, footage: Sequence[str] = (), outcome: str = DONE, **detail: Any) -> None:
        station.trail().record(audit.STATION, action, footage=footage, outcome=outcome, detail=detail)
    return record


def _station_push(station: Station, settings: StoreSettings) -> Callable[[threading.Event], PushReport]:
    """The dock service's push, done as the station."""
    catalogue = Catalogue(station.engine, clock=station.clock)

    def push(stop: threading.Event) -> PushReport:
        return push_to_store(catalogue, station.archive, station.signer, settings, _as_station(station),
                             stop=stop, clock=station.clock).report
    return push


def station_anchorer(station: Station, every: float = pusher.ANCHOR_EVERY) -> pusher.StoreJob | None:
    """The anchoring of the station's audit trail every ``every`` seconds, for a station that may
    push nothing (its review page); None without a central store."""
    settings = station.store
    if settings is None:
        return None
    return pusher.anchorer(lambda: anchor_trail(station.archive, station.engine, station.signer, settings,
                                                station.clock), every)


def _pull_on(station: Station, port_url: str, *, catalogue: Catalogue | None = None, **options: Any) -> PullReport:
    return pull_into(station.archive, port_url, catalogue=catalogue or Catalogue(station.engine),
                     witness=Witness(station.engine, station.trail()),
                     signer=station.signer, **options)


def store_settings(config: StationConfig) -> StoreSettings | None:
    """The central store the configuration names in ``[store]``; None: no central store."""
    if not config["store.endpoint"] and not config["store.bucket"]:
        return None
    if not (config["store.endpoint"] and config["store.bucket"]):
        raise StoreError(f"station configuration {config.source}: [store] needs both 'endpoint' and 'bucket'.")
    return StoreSettings(config["store.endpoint"], config["store.bucket"], config["store.region"],
                         config["store.long_term_years"], config["store.keep_local_days"],
                         multipart_bytes=config["store.multipart_mb"] * 1024**2,
                         part_bytes=config["store.part_mb"] * 1024**2)


def anchor_trail(archive: Path, engine: Engine, signer: FileSigner, settings: StoreSettings,
                 clock: Callable[[], int] = time.time_ns) -> anchor.Checkpoint | None:
    """This station's journal entries not yet anchored, stored in the bucket with a signed checkpoint."""
    def archived(since_ns: int) -> dict[str, int]:
        own = {s["session"]: s for s in Catalogue(engine).search(station=signer.key_id)}
        return {own[name]["folder"]: own[name]["archived_ns"] for name in store.stored_since(engine, since_ns)
                if name in own}
    return anchor.anchor(bucket.client(settings), settings, journal.path(archive, signer.key_id), signer, clock(),
                         archived, read_keys(ArchiveDir(archive).devices))


def against_store(archive: Path, engine: Engine, signer: FileSigner, settings: StoreSettings) -> list[str]:
    """The station's trail, in its database and its journal, against what it anchored in the store."""
    s3 = bucket.client(settings)
    checkpoint = anchor.latest(s3, settings, signer.public_key)
    if checkpoint is None:
        return [f"the store holds no checkpoint of station {signer.key_id}'s trail: nothing to compare with"]
    stored = anchor.anchored(s3, settings, signer.public_key)
    ours = {e.seq: e for e in audit.entries(engine) if e.public_key == signer.public_key}
    kept = {e.seq: e for e in journal.read(journal.path(archive, signer.key_id))}
    return anchor.compare(stored, checkpoint, ours, "the database") + \
        anchor.compare(stored, checkpoint, kept, "the journal")


def rebuild_from_store(archive: Path, settings: StoreSettings, url: str | None = None) -> tuple[int, Rebuilt | None]:
    """The archive and catalogue made again from the bucket alone: every object the station
    stored (its first version, its SHA-256 checked) fetched back under its key, the audit
    journal from the anchored batches, each session's archiving time from the checkpoints; then
    :func:`restore` (the archive catalogued, the journal replayed). Needs the station's own key
    (``dock/``), its identity; the devices enrolled on it come back from its last signed
    checkpoint. Returns (files fetched, rebuilt)."""
    signer = dock_signer(archive)
    s3 = bucket.client(settings)
    enroll.enrol(archive, signer, [device.hex() for device in anchor.enrolled(s3, settings, signer.public_key)])
    file = journal.path(archive, signer.key_id)
    if not file.exists():
        anchor.restore_journal(s3, settings, signer.public_key, file)
    fetched = store_restore.fetch_all(s3, settings, Path(archive), anchor.archived_times(s3, settings,
                                                                                          signer.public_key))
    return fetched, restore(archive, url)


def open_store(desk: Desk, archive: Path, settings: StoreSettings) -> CentralStore:
    """The central store for ``archive``'s sessions, through ``desk``'s catalogue."""
    return CentralStore(desk.catalogue, archive, settings)


def open_inspections(desk: Desk, archive: Path) -> Inspections:
    """The sample inspections of ``archive``'s sessions, done at ``desk`` (its findings signed by the dock)."""
    return Inspections(desk.catalogue, desk.access, desk.trail, desk.signer, archive)
