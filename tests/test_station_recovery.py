"""A damaged or lost station database, arguments that are not UTF-8, a PostgreSQL that is down:
each said in one sentence with its remedy, and a lost database rebuilt from the archive's journal."""
from __future__ import annotations

import json

import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import copy_archive
from tests.postgres import postgres_server, postgres_url  # noqa: F401
from tests.test_station_access import pulled  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
PASSWORD, CHANGED = "long enough password", "another long password"


def station(archive: Path, *args: str | bytes, url: str | None = None, user: str | None = None,
            password: str = PASSWORD, new_password: str = PASSWORD) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BODYCAM_")}
    env.update({"PYTHONPATH": str(ROOT), "BODYCAM_PASSWORD": password, "BODYCAM_NEW_PASSWORD": new_password})
    command = [sys.executable, "-m", "station", *args, "--archive", str(archive),
               *(["--catalogue", url] if url else []), *(["--user", user] if user else [])]
    return subprocess.run(command, capture_output=True, env=env, stdin=subprocess.DEVNULL, check=False)


def one_sentence(done: subprocess.CompletedProcess) -> str:
    """The command failed with one line on stderr, no traceback; that line."""
    error = done.stderr.decode("utf-8", "replace")
    assert done.returncode == 1 and error.count("\n") == 1 and "Traceback" not in error, error
    return error


@pytest.fixture
def archive(pulled, tmp_path) -> Path:  # noqa: F811
    copy = tmp_path / "archive"
    copy_archive(pulled, copy)
    return copy


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_postgresql_that_is_not_running_is_one_sentence_naming_its_url_without_the_password(archive):
    url = f"postgresql+psycopg://custodian:s3cret@127.0.0.1:{closed_port()}/bodycam"
    error = one_sentence(station(archive, "search", url=url))
    assert f"postgresql+psycopg://custodian:***@127.0.0.1:{url.rsplit(':', 1)[1].split('/')[0]}/bodycam" in error
    assert "s3cret" not in error and "Background on this error" not in error and "upgrade" not in error


@pytest.mark.parametrize("args", [
    (b"search", b"--officer", b"\xff"),
    (b"writeup", b"some-session", b"--reason", b"other", b"--text", b"caf\xe9", b"--by", b"012345"),
    (b"case", b"open", b"A-1", b"--name", b"\xfe\xff", b"--party", b"x", b"--by", b"012345"),
])
def test_an_argument_that_is_not_utf8_is_refused_in_one_sentence(archive, args):
    error = one_sentence(station(archive, *args))
    assert "UTF-8" in error and "Unicode" not in error


DAMAGE = {
    "garbage header": lambda data: b"this is no database at all" + data[26:],
    "overwritten": lambda data: os.urandom(len(data)),
    "truncated": lambda data: data[:len(data) // 3],
}


@pytest.mark.parametrize("how", sorted(DAMAGE))
def test_a_damaged_catalogue_is_named_with_its_remedy_and_rebuild_moves_it_aside(archive, how):
    assert station(archive, "case", "open", "A-1", "--name", "n", "--party", "p", "--by", "012345").returncode == 0
    before = station(archive, "search").stdout
    database = archive / "catalogue.sqlite"
    for extra in archive.glob("catalogue.sqlite-*"):     # the write-ahead log, checkpointed at close
        extra.unlink()
    damaged = DAMAGE[how](database.read_bytes())
    database.write_bytes(damaged)
    for command in (("search",), ("case", "show", "A-1"), ("audit", "verify")):
        error = one_sentence(station(archive, *command))
        assert str(database) in error and "bodycam-station rebuild" in error and "damaged" in error
    rebuilt = station(archive, "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    aside = [path for path in archive.glob("catalogue.sqlite.damaged-*") if not path.name.endswith(("-wal", "-shm"))]
    assert len(aside) == 1 and aside[0].read_bytes() == damaged
    assert station(archive, "search").stdout == before


def test_an_empty_catalogue_beside_an_archive_of_sessions_is_not_taken_as_new(archive):
    assert station(archive, "search").returncode == 0
    database = archive / "catalogue.sqlite"
    for extra in archive.glob("catalogue.sqlite-*"):
        extra.unlink()
    database.write_bytes(b"")
    error = one_sentence(station(archive, "search"))
    assert str(database) in error and "bodycam-station rebuild" in error
    assert database.stat().st_size == 0


def answers(archive: Path, sessions: list[str]) -> dict:
    """Everything a supervisor and a custodian can ask of the station's catalogue."""
    asked = {"search": station(archive, "search", user="sup"), "case": station(archive, "case", "show", "C-1", user="sup"),
             "ledger": station(archive, "ledger", user="cus"), "retention": station(archive, "retention", user="sup"),
             **{f"show {s}": station(archive, "show", s, user="sup") for s in sessions}}
    for name, done in asked.items():
        assert done.returncode == 0, (name, done.stderr)
    return {name: done.stdout for name, done in asked.items()}


def test_a_lost_database_is_rebuilt_from_the_archive_and_its_journal_and_loses_nothing(archive):
    sessions = sorted(p.name for p in archive.glob("[0-9]*/*/*/*/*/*/*"))
    assert station(archive, "user", "add", "admin", "--role", "administrator").returncode == 0
    for name, role in (("sup", "supervisor"), ("cus", "custodian")):
        assert station(archive, "user", "add", name, "--role", role, user="admin").returncode == 0
    assert station(archive, "user", "passwd", "admin", user="admin", new_password=CHANGED).returncode == 0
    changes = [("case", "open", "C-1", "--name", "盗窃案", "--party", "某甲"), ("case", "link", "C-1", sessions[0]),
               ("hold", "--session", sessions[1], "--reason", "法院保全"), ("hold", "--case", "C-1", "--reason", "诉讼"),
               ("release", "1"), ("confidential", "mark", sessions[1],
                                                                            "--reason", "涉密")]
    for change in changes:
        done = station(archive, *change, user="sup")
        assert done.returncode == 0, (change, done.stderr)
    assert station(archive, "retention", "--set", "marked", "400", user="admin", password=CHANGED).returncode == 0
    for change in (("assign", "D-1", "012345"), ("return", "D-1"), ("assign", "D-1", "054321")):
        assert station(archive, *change, user="cus").returncode == 0
    before = answers(archive, sessions)
    journal = next((archive / "audit").glob("journal-*.jsonl"))
    last = station(archive, "audit", "show", "--json", user="admin", password=CHANGED)
    for database in archive.glob("catalogue.sqlite*"):
        database.unlink()

    refused = one_sentence(station(archive, "search", user="sup"))
    assert journal.name in refused and "bodycam-station rebuild" in refused
    rebuilt = station(archive, "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert answers(archive, sessions) == before
    assert station(archive, "user", "list", user="admin").returncode == 1          # the old password is gone
    assert station(archive, "user", "list", user="admin", password=CHANGED).returncode == 0
    verified = station(archive, "audit", "verify", user="admin", password=CHANGED)
    assert verified.returncode == 0 and b"intact" in verified.stdout, verified.stdout
    shown = station(archive, "audit", "show", "--json", user="admin", password=CHANGED).stdout
    restored = [line for line in shown.decode().splitlines()]
    assert restored[:len(last.stdout.splitlines())] == last.stdout.decode().splitlines()
    rebuild_entry = [line for line in restored if '"action": "rebuild"' in line]
    assert len(rebuild_entry) == 1 and '"actor": "station"' in rebuild_entry[0]


def test_an_entry_a_crash_kept_from_the_journal_is_appended_when_the_station_opens_again(archive):
    from station.custody import journal
    from station.services import open_station

    opened = open_station(archive)
    for number in range(3):
        opened.desk(None).record("search", detail={"n": number})
    whole = opened.journal.file.read_bytes()
    lines = whole.splitlines(keepends=True)
    opened.journal.file.write_bytes(b"".join(lines[:-1]) + lines[-1][:40])     # died while writing its last line
    open_station(archive).desk(None).record("search", detail={"n": 3})
    assert [entry.seq for entry in journal.read(opened.journal.file)] == [1, 2, 3, 4]
    opened.journal.file.write_bytes(b"".join(lines[:-1]))                       # died between commit and journal
    open_station(archive)
    assert opened.journal.file.read_bytes().startswith(whole)
    assert [entry.seq for entry in journal.read(opened.journal.file)] == [1, 2, 3, 4]


def copy_ledger(url: str) -> list[dict]:
    """Every row of the copy ledger, as the station's database at ``url`` holds it."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.text("SELECT * FROM export_requests ORDER BY id"))
            return [dict(row._mapping) for row in rows]
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, archive) -> tuple[str | None, Callable[[], None]]:
    """The station's database (None: the archive's SQLite file) and how to lose it."""
    if request.param == "sqlite":
        return None, lambda: [path.unlink() for path in archive.glob("catalogue.sqlite*")]
    url, server = request.getfixturevalue("postgres_url"), request.getfixturevalue("postgres_server")
    name = sa.engine.make_url(url).database
    catalogued = station(archive, "rebuild", url=url)                 # the archive's sessions, in the new database
    assert catalogued.returncode == 0, catalogued.stderr

    def drop_and_create() -> None:
        admin = sa.create_engine(server.url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
    return url, drop_and_create


def test_a_lost_database_keeps_its_copy_ledger_requests_decisions_copies_and_handovers(archive, database, tmp_path):
    url, lose = database
    sessions = sorted(p.name for p in archive.glob("[0-9]*/*/*/*/*/*/*"))
    assert station(archive, "user", "add", "admin", "--role", "administrator", url=url).returncode == 0
    for name, role in (("sup", "supervisor"), ("sup2", "supervisor"), ("cus", "custodian")):
        assert station(archive, "user", "add", name, "--role", role, url=url, user="admin").returncode == 0
    steps = [("sup", "request", "--session", sessions[0], "--reason", "起诉", "--recipient", "cus", "--for", "法院",
              "--place", "朝阳路"),
             ("sup2", "approve", "1", "--note", "同意"),
             ("cus", "make", "1", "--out", str(tmp_path / "copies")),
             ("cus", "handover", "1", "--taken-by", "王某（法院）"),
             ("sup", "request", "--session", sessions[1], "--reason", "复核", "--recipient", "cus",
              "--for", "检察院"),
             ("sup2", "refuse", "2", "--note", "不必要"),
             ("sup", "request", "--session", sessions[1], "--reason", "再次复核", "--recipient", "cus",
              "--for", "检察院")]
    for user, *step in steps:
        done = station(archive, "export", *step, url=url, user=user)
        assert done.returncode == 0, (step, done.stderr)
    ledger_url = url or f"sqlite:///{archive / 'catalogue.sqlite'}"
    before = copy_ledger(ledger_url)
    assert [row["state"] for row in before] == ["made", "refused", "requested"]
    lose()

    rebuilt = station(archive, "rebuild", url=url)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert copy_ledger(ledger_url) == before
    listed = station(archive, "export", "ledger", "--json", url=url, user="cus")
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.decode().splitlines()]
    assert [(row["id"], row["state"], row["taken_by"]) for row in rows][0] == (1, "made", "王某（法院）")
    approved = station(archive, "export", "approve", "3", url=url, user="sup2")     # the workflow goes on where it was
    assert approved.returncode == 0 and b"export 3 approved" in approved.stdout, approved.stderr
    again = station(archive, "export", "request", "--session", sessions[0], "--reason", "补充", "--recipient", "cus",
                    "--for", "法院", url=url, user="sup")
    assert again.returncode == 0 and again.stdout.startswith(b"export 4 requested"), again.stderr
