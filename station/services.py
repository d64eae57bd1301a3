"""The one place that opens the station: its database, every area's migrations, the dock's signer.

The command line, the review page and ``pull`` open the station here, once per process or
request, and each actor works through a ``Desk``: the station's services built to record that
actor (and, on the web page, the client's address) on every audit entry. No other module
connects to the database, runs migrations or loads the dock's key.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from evidence.keys import FileSigner
from evidence.paths import ArchiveDir
from station import db
from station.catalogue import catalogue
from station.catalogue.catalogue import Catalogue, Hook
from station.catalogue.footage import CatalogueFootage
from station.catalogue.verdicts import Verdicts
from station.custody import access, audit, exports
from station.custody.access import Access, AccessError, Throttle, User
from station.custody.audit import DONE, AuditTrail
from station.custody.exports import Exports
from station.intake import enroll, witness
from station.intake.pull import pull_into
from station.intake.witness import Witness
from sync.dock import PullReport
from sync.link import DEFAULT_BAUDRATE, LinkConfig

# Every area's migrations, in the order they run on a new database.
MIGRATIONS: list[tuple[str, list[db.Migration]]] = [
    (audit.AREA, audit.MIGRATIONS),
    (access.AREA, access.MIGRATIONS),
    (exports.AREA, exports.MIGRATIONS),
    (catalogue.AREA, catalogue.MIGRATIONS),
    (witness.AREA, witness.MIGRATIONS),
]


def ensure_schema(engine: Engine) -> None:
    """Make or upgrade the tables of every area."""
    for area, migrations in MIGRATIONS:
        db.migrate(engine, area, migrations)


def has_database(archive: Path, url: str | None = None) -> bool:
    """Whether ``archive`` is a station's: its own SQLite file exists, or a shared database is
    named and the archive has a dock folder."""
    return (archive / db.CATALOGUE_FILE).exists() or bool(url and ArchiveDir(archive).dock.is_dir())


def open_database(archive: Path, url: str | None = None) -> Engine:
    """The station's database at ``url`` (PostgreSQL for a shared one), else the archive's SQLite
    file, its tables made or upgraded."""
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


def audit_hook(trail: AuditTrail, user: User | None) -> Hook:
    """The catalogue's hook: each hold, case link, purge, write-up … is one audit entry."""
    def record(action: str, actor: str, details: dict[str, Any]) -> None:
        trail.record(actor, action.replace(" ", "-"), role=user.role if user else None,
                     footage=[details["session"]] if details.get("session") else [],
                     reason=details.get("why") or details.get("reason"), detail=details)
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

    def desk(self, user: User | None, source: str | None = None) -> Desk:
        """The services for ``user`` (None: before anyone signed in), each audit entry naming
        ``source`` (by default the operating-system user and host)."""
        trail = AuditTrail(self.engine, self.signer, source=source)
        catalogue = Catalogue(self.engine, hook=audit_hook(trail, user), clock=self.clock)
        gate = Access(self.engine, trail, clock=self.clock, throttle=self.throttle)
        footage = CatalogueFootage(catalogue, self.archive)
        return Desk(user, self.signer, trail, gate, catalogue, footage, Exports(gate, footage),
                    Witness(self.engine, trail))


def open_station(archive: Path, url: str | None = None, *, clock: Callable[[], int] = time.time_ns,
                 throttle: Throttle = Throttle()) -> Station:
    """The station of ``archive`` (which must have its dock key) on the database at ``url``."""
    signer = dock_signer(archive)
    return Station(Path(archive), open_database(archive, url), signer, clock, throttle)


def recheck(archive: Path, url: str | None = None) -> int:
    """Verify again every session the catalogue holds in ``archive`` (every byte) and store the
    verdicts the review page shows: the scheduled check. How many sessions were checked."""
    engine = open_database(archive, url)
    stored = Verdicts(engine)
    found = Catalogue(engine).search(station=catalogue.station_id(archive))
    for session in found:
        stored.check(Path(archive) / session["folder"])
    return len(found)


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
    return pull_into(archive, port_url, catalogue=catalogue or Catalogue(station.engine),
                     witness=Witness(station.engine, AuditTrail(station.engine, station.signer)),
                     signer=station.signer, progress=progress, config=config, patience=patience, baudrate=baudrate)
