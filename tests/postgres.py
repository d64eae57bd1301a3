"""A real PostgreSQL server for the station's tests, started in a temporary folder.

``postgres_server`` (once per test session) runs Debian's ``initdb`` and ``pg_ctl`` as the
``postgres`` user the package creates (they refuse to run as root), listening only on a Unix
socket in that folder; ``postgres_url`` gives each test a database of its own on it. Use in a
test module with ``from tests.postgres import postgres_server, postgres_url  # noqa: F401``.
Skipped, with the reason, where the server cannot start.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Iterator

import pytest
import sqlalchemy as sa

USER = "postgres"


def _binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


def _as_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    runuser = shutil.which("runuser")
    return [runuser, "-u", USER, "--", *command] if runuser else ["su", USER, "-c", " ".join(command)]


class Server:
    def __init__(self, folder: Path) -> None:
        self.folder, self.data, self.socket = folder, folder / "data", folder / "socket"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{USER}@/{database}?host={self.socket}"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Server]:
    bin_dir = _binaries()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (scripts/system-deps.sh installs Debian's postgresql)")
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam(USER)
        except KeyError:
            pytest.skip(f"running as root and there is no {USER!r} user to run PostgreSQL as")
    server = Server(Path(tempfile.mkdtemp(prefix="bodycam-postgres-")))
    server.socket.mkdir()
    if os.geteuid() == 0:
        for path in (server.folder, server.socket):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    run = lambda *command: subprocess.run(_as_user([str(bin_dir / command[0]), *command[1:]]),  # noqa: E731
                                          capture_output=True, text=True, timeout=120)
    made = run("initdb", "-D", str(server.data), "-U", USER, "-A", "trust", "--no-sync", "-E", "UTF8")
    if made.returncode:
        shutil.rmtree(server.folder, ignore_errors=True)
        pytest.skip(f"initdb failed: {made.stderr.strip()[-300:]}")
    options = f"-c listen_addresses='' -k {server.socket} -c fsync=off"
    started = run("pg_ctl", "-D", str(server.data), "-l", str(server.folder / "log"), "-o", options, "-w", "start")
    if started.returncode:
        log = (server.folder / "log").read_text(errors="replace") if (server.folder / "log").exists() else ""
        shutil.rmtree(server.folder, ignore_errors=True)
        pytest.skip(f"PostgreSQL did not start: {(started.stderr + log).strip()[-300:]}")
    try:
        yield server
    finally:
        run("pg_ctl", "-D", str(server.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(server.folder, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: Server) -> Iterator[str]:
    """The URL of a new, empty database on the test server, dropped after the test."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_server.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield postgres_server.url(name)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
