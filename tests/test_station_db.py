"""The station database's migrations: applied once, in order, with a copy of the SQLite file kept aside."""
from __future__ import annotations

import sqlite3
import threading

import pytest
import sqlalchemy as sa

from station.db import DatabaseError, Migration, connect, database_url, migrate


def create(name: str):
    return lambda connection: connection.execute(sa.text(f"CREATE TABLE {name} (id INTEGER PRIMARY KEY)"))


def test_migrations_apply_once_in_order_and_back_up_the_file(tmp_path):
    engine = connect(database_url(tmp_path))
    assert migrate(engine, "things", [Migration(1, "first table", create("first"))]) == [1]
    assert migrate(engine, "things", [Migration(1, "first table", create("first"))]) == []
    later = [Migration(1, "first table", create("first")), Migration(2, "second table", create("second"))]
    assert migrate(engine, "things", later) == [2]
    assert (tmp_path / "catalogue.sqlite.before-things-2").exists()
    with engine.connect() as connection:
        tables = set(sa.inspect(connection).get_table_names())
        applied = connection.execute(sa.text("SELECT area, version FROM schema_migrations ORDER BY version")).all()
    assert {"first", "second"} <= tables and applied == [("things", 1), ("things", 2)]


def test_a_failed_migration_leaves_the_earlier_ones_and_says_so(tmp_path):
    engine = connect(database_url(tmp_path))
    broken = [Migration(1, "ok", create("fine")), Migration(2, "broken", lambda c: c.execute(sa.text("NOT SQL")))]
    with pytest.raises(DatabaseError, match="cannot upgrade the things tables"):
        migrate(engine, "things", broken)
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT version FROM schema_migrations")).scalars().all() == [1]


def test_migrations_must_be_numbered_from_one(tmp_path):
    with pytest.raises(DatabaseError, match="numbered 1, 2, 3"):
        migrate(connect(database_url(tmp_path)), "things", [Migration(2, "gap", create("x"))])


def test_a_new_catalogue_file_another_connection_is_writing_is_opened_once_it_is_done(tmp_path):
    """Switching a new SQLite file to its write-ahead log while another connection writes gets
    "database is locked" at once from SQLite, whatever its busy timeout: a second bay's first pull
    hit it. The station waits for the writer instead."""
    path = tmp_path / "catalogue.sqlite"
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("CREATE TABLE t (x)")
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO t VALUES (1)")
    threading.Timer(0.5, writer.execute, ["COMMIT"]).start()
    engine = connect(f"sqlite:///{path}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("SELECT count(*) FROM t").scalar() == 1    # the writer's row, committed
    engine.dispose()
    writer.close()
