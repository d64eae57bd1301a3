"""The station's database: SQLite in the archive folder by default, PostgreSQL where stations share one.

One schema and one set of queries for both, written with SQLAlchemy Core. Each area of the
station (the catalogue, users and access, the audit trail …) owns a numbered list of
migrations; ``migrate`` applies those not yet applied, in order, each in its own
transaction, and records them in ``schema_migrations``. A SQLite file is copied aside before
its first pending migration runs (``catalogue.sqlite.before-AREA-N``), so a failed upgrade
can be undone by hand.
"""
from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from bodycam_errors import BodycamError
from evidence.paths import ArchiveDir

CATALOGUE_FILE = "catalogue.sqlite"


class DatabaseError(BodycamError, OSError):
    """The station's database cannot be opened or upgraded."""


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


def connect(url: str) -> Engine:
    """An engine for ``url``; SQLite gets foreign keys and a write-ahead log, as PostgreSQL has by nature."""
    try:
        engine = sa.create_engine(url, future=True)
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise DatabaseError(f"cannot use the database {url!r}: {exc}") from exc
    if engine.dialect.name == "sqlite":
        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record) -> None:   # noqa: ANN001 (DB-API objects)
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = FULL")
            cursor.close()
    return engine


def migrate(engine: Engine, area: str, migrations: list[Migration]) -> list[int]:
    """Apply the migrations of ``area`` not applied yet; returns the versions applied now."""
    versions = [m.version for m in migrations]
    if versions != list(range(1, len(migrations) + 1)):
        raise DatabaseError(f"the migrations of {area} must be numbered 1, 2, 3 …, got {versions}")
    try:
        metadata.create_all(engine, tables=[schema_migrations])
        with engine.connect() as connection:
            done = set(connection.scalars(sa.select(schema_migrations.c.version)
                                          .where(schema_migrations.c.area == area)))
        pending = [m for m in migrations if m.version not in done]
        if pending:
            _back_up(engine, area, pending[0].version)
        for migration in pending:
            with engine.begin() as connection:
                migration.apply(connection)
                connection.execute(schema_migrations.insert().values(
                    area=area, version=migration.version, what=migration.what, applied_ns=time.time_ns()))
    except sa.exc.SQLAlchemyError as exc:
        raise DatabaseError(f"cannot upgrade the {area} tables of {engine.url!r}: {exc}") from exc
    return [m.version for m in pending]


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
