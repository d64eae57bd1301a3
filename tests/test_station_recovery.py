"""A damaged or lost station database, arguments that are not UTF-8, a PostgreSQL that is down:
each said in one sentence with its remedy, and a lost database rebuilt from the archive's journal."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_station_access import pulled  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]


def station(archive: Path, *args: str | bytes, url: str | None = None, user: str | None = None,
            password: str = "long enough password") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BODYCAM_")}
    env.update({"PYTHONPATH": str(ROOT), "BODYCAM_PASSWORD": password, "BODYCAM_NEW_PASSWORD": password})
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
    shutil.copytree(pulled, copy)
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
