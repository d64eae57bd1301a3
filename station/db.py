"""The station's database: SQLite in the archive folder by default, PostgreSQL where stations share one.

One schema and one set of queries for both, written with SQLAlchemy Core. Each area of the
station (the catalogue, users and access, the audit trail …) owns a numbered list of
migrations; ``migrate`` applies those not yet applied, in order, each in its own
transaction, and records them in ``schema_migrations``. Each is checked and applied under the
database's one exclusive lock (SQLite's write lock taken at ``BEGIN IMMEDIATE``, a PostgreSQL
advisory lock held to the end of the transaction), so any number of pulls, services and pages
may open a new archive at once: the first applies it, the others wait and find it done. A
SQLite file is copied aside before its first pending migration runs
(``catalogue.sqlite.before-AREA-N``), so a failed upgrade can be undone by hand.
"""
from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from bodycam_errors import BodycamError
from evidence.paths import ArchiveDir

CATALOGUE_FILE = "catalogue.sqlite"
MASK = "***"
# A password as SQLAlchemy's make_url reads it: "name://user:PASSWORD@…" (the password runs to
# the first @), and a "password=" in the query.
_USERINFO_PASSWORD = re.compile(r"^([\w+]+://[^:/]*:)[^@]*@")
_QUERY_PASSWORD = re.compile(r"((?:^|&)password=)[^&]*", re.IGNORECASE)
SQLITE_BUSY_SECONDS = 60.0         # how long a writer waits for another's lock (many bays write at once)
MIGRATION_LOCK = 0x626F6463616D    # PostgreSQL advisory lock key of the migrations ("bodcam")


REMEDY = "run 'bodycam-station rebuild' to move it aside and rebuild it from the archive"


class DatabaseError(BodycamError, OSError):
    """The station's database cannot be opened or upgraded."""


def shown(url: str | sa.URL) -> str:
    """``url`` (a database's or the store's) as a message or ``config`` may show it: exactly as
    written, but a password in it (``user:password@``, ``?password=``) replaced by ``***``.
    (SQLAlchemy's ``render_as_string(hide_password=True)`` would also re-encode and sort the
    query, ``host=/run/postgresql`` shown as ``host=%2Frun%2Fpostgresql``.)"""
    text = url.render_as_string(hide_password=False) if isinstance(url, sa.URL) else url
    head, mark, query = _USERINFO_PASSWORD.sub(rf"\g<1>{MASK}@", text, count=1).partition("?")
    return head + mark + _QUERY_PASSWORD.sub(rf"\g<1>{MASK}", query)


@dataclass(frozen=True)
class Migration:
    version: int
    what: str
    apply: Callable[[Connection], None]


metadata = sa.MetaData()
schema_migrations = sa.Table(
    "schema_migrations", metadata,
    sa.Column("area", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("what", sa.Text, nullable=False),
    sa.Column("applied_ns", sa.BigInteger, nullable=False),
)


def database_url(archive: Path, url: str | None = None) -> str:
    """``url`` if given (``postgresql+psycopg://…`` for a shared catalogue), else the archive's SQLite file."""
    return url or f"sqlite:///{ArchiveDir(archive).root / CATALOGUE_FILE}"


def is_empty(path: Path) -> bool:
    """Whether the SQLite file at ``path`` exists with 0 bytes (and no write-ahead log holding pages)."""
    wal = path.with_name(path.name + "-wal")
    return path.exists() and path.stat().st_size == 0 and not (wal.exists() and wal.stat().st_size)


def damage(path: Path) -> str | None:
    """Why the SQLite file at ``path`` cannot serve as the station's database (empty, or not
    sound by SQLite's own quick check), or None: sound, or not there at all."""
    if not path.exists():
        return None
    if is_empty(path):
        return "it is empty (0 bytes)"
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
            verdict = connection.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        return str(exc)
    return None if verdict == "ok" else verdict


def set_aside(path: Path, now_ns: int) -> Path:
    """Move a damaged SQLite file (and its write-ahead log) aside as ``NAME.damaged-TIME``; returns where."""
    aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(now_ns // 10**9))}")
    for suffix in ("-wal", "-shm", ""):
        if (part := path.with_name(path.name + suffix)).exists():
            part.rename(aside.with_name(aside.name + suffix))
    return aside


def refuse_empty(path: Path, holds_sessions: Callable[[], bool]) -> None:
    """An empty database file beside an archive of sessions is not a new station: its cases,
    holds and ledger would vanish without a word."""
    if is_empty(path) and holds_sessions():
        raise DatabaseError(f"the catalogue file {path} is empty (0 bytes) though the archive holds sessions: "
                            f"{REMEDY}.")


def connect(url: str) -> Engine:
    """An engine for ``url``; SQLite gets foreign keys and a write-ahead log, as PostgreSQL has by nature."""
    try:
        sqlite = url.startswith("sqlite")
        engine = sa.create_engine(url, future=True, connect_args={"timeout": SQLITE_BUSY_SECONDS} if sqlite else {})
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise DatabaseError(f"cannot use the database {shown(url)}: {exc}") from exc
    sa.event.listen(engine, "handle_error", _in_one_sentence)
    if engine.dialect.name == "sqlite":
        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record) -> None:   # noqa: ANN001 (DB-API objects)
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys = ON")
            _write_ahead_log(cursor)
            cursor.execute("PRAGMA synchronous = FULL")
            cursor.close()
    return engine


def _write_ahead_log(cursor: sqlite3.Cursor) -> None:
    """Switch the file to its write-ahead log. On a new file another connection may be writing
    (a second bay's first pull): SQLite then answers "locked" at once, without waiting as its
    busy timeout says (the switch would otherwise deadlock), so wait here instead."""
    deadline = time.monotonic() + SQLITE_BUSY_SECONDS
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _in_one_sentence(context: sa.engine.ExceptionContext) -> BaseException | None:
    """A database that cannot be reached or a SQLite file that is not one (damaged): one
    sentence naming it and the remedy, in place of the driver's words and SQLAlchemy's."""
    engine, error = context.engine, context.original_exception
    if engine is None:
        return None
    if engine.dialect.name == "sqlite" and isinstance(error, sqlite3.DatabaseError) and \
            not isinstance(error, sqlite3.OperationalError | sqlite3.IntegrityError):
        return DatabaseError(f"the catalogue file {engine.url.database} is damaged ({error}): {REMEDY}.")
    if context.is_disconnect or context.connection is None:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return DatabaseError(f"cannot reach the database {shown(engine.url)}: {first_line}.")
    return None


def migrate(engine: Engine, area: str, migrations: list[Migration]) -> list[int]:
    """Apply the migrations of ``area`` not applied yet; returns the versions applied now (by
    this call: those another process applied meanwhile are not among them)."""
    versions = [m.version for m in migrations]
    if versions != list(range(1, len(migrations) + 1)):
        raise DatabaseError(f"the migrations of {area} must be numbered 1, 2, 3 …, got {versions}")
    try:
        if not _pending(engine, area, migrations):
            return []
        applied: list[int] = []
        for migration in migrations:
            with _locked(engine) as connection:
                schema_migrations.create(connection, checkfirst=True)
                if migration.version in _applied(connection, area):
                    continue
                if not applied:
                    _back_up(engine, area, migration.version)
                migration.apply(connection)
                connection.execute(schema_migrations.insert().values(
                    area=area, version=migration.version, what=migration.what, applied_ns=time.time_ns()))
            applied.append(migration.version)
    except sa.exc.SQLAlchemyError as exc:
        raise DatabaseError(f"cannot upgrade the {area} tables of {shown(engine.url)}: {exc}") from exc
    return applied


def _applied(connection: Connection, area: str) -> set[int]:
    return set(connection.scalars(sa.select(schema_migrations.c.version).where(schema_migrations.c.area == area)))


def _pending(engine: Engine, area: str, migrations: list[Migration]) -> bool:
    """Whether any migration looks pending, read without the lock: an up-to-date database (every
    open but the first) never waits for a writer."""
    with engine.connect() as connection:
        if not sa.inspect(connection).has_table(schema_migrations.name):
            return True
        return bool({m.version for m in migrations} - _applied(connection, area))


@contextmanager
def _locked(engine: Engine) -> Iterator[Connection]:
    """One transaction holding the database's exclusive migration lock from its first statement."""
    with engine.connect() as connection:
        if engine.dialect.name != "sqlite":
            with connection.begin():
                if engine.dialect.name == "postgresql":
                    connection.execute(sa.select(sa.func.pg_advisory_xact_lock(MIGRATION_LOCK)))
                yield connection
            return
        # pysqlite would begin a deferred transaction, and only before the first write: begin by hand.
        connection.execution_options(isolation_level="AUTOCOMMIT")
        connection.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield connection
        except BaseException:
            connection.exec_driver_sql("ROLLBACK")
            raise
        connection.exec_driver_sql("COMMIT")


def _back_up(engine: Engine, area: str, version: int) -> None:
    if engine.dialect.name != "sqlite" or not engine.url.database:
        return
    path = Path(engine.url.database)
    if not (path.exists() and path.stat().st_size):
        return
    raw = engine.raw_connection()      # SQLite's own backup: consistent, write-ahead log included
    try:
        with closing(sqlite3.connect(path.with_name(f"{path.name}.before-{area}-{version}"))) as copy:
            raw.driver_connection.backup(copy)
    finally:
        raw.close()
