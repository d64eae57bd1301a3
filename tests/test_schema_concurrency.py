"""Many processes opening a new archive's catalogue at once: every one succeeds and each migration
is recorded once, on SQLite and on a real PostgreSQL server."""
from __future__ import annotations

import multiprocessing
import traceback
from pathlib import Path

import pytest
import sqlalchemy as sa

from station.db import connect, database_url
from station.services import MIGRATIONS
from tests.postgres import postgres_server, postgres_url  # noqa: F401

PROCESSES = 8


def _open(archive: str, url: str | None, start: multiprocessing.synchronize.Barrier,
          failures: multiprocessing.Queue) -> None:
    from station.services import open_database   # imported in the child: spawned, nothing inherited
    start.wait(timeout=60)
    try:
        open_database(Path(archive), url).dispose()
    except BaseException:    # noqa: BLE001 (reported to the parent, which fails the test)
        failures.put(traceback.format_exc())


def open_at_once(archive: Path, url: str | None) -> list[str]:
    """``open_database`` in PROCESSES processes released together; the tracebacks of those that failed."""
    spawn = multiprocessing.get_context("spawn")
    start, failures = spawn.Barrier(PROCESSES), spawn.Queue()
    workers = [spawn.Process(target=_open, args=(str(archive), url, start, failures)) for _ in range(PROCESSES)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [worker.exitcode for worker in workers] == [0] * PROCESSES
    found = []
    while not failures.empty():
        found.append(failures.get())
    return found


def applied_once(url: str) -> None:
    engine = connect(url)
    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT area, version FROM schema_migrations")).all()
    engine.dispose()
    expected = [(area, m.version) for area, migrations in MIGRATIONS for m in migrations]
    assert sorted(rows) == sorted(expected)


def test_eight_processes_open_a_new_sqlite_archive_at_once(tmp_path):
    assert open_at_once(tmp_path, None) == []
    applied_once(database_url(tmp_path))


def test_eight_processes_open_a_new_postgresql_catalogue_at_once(tmp_path, postgres_url):  # noqa: F811
    (tmp_path / "dock").mkdir()
    assert open_at_once(tmp_path, postgres_url) == []
    applied_once(postgres_url)
