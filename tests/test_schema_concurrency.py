"""Many processes opening a new archive's catalogue at once, and two devices' first pulls at
once: every one succeeds and each migration is recorded once, on SQLite and on a real
PostgreSQL server."""
from __future__ import annotations

import multiprocessing
import shutil
import threading
import traceback
from contextlib import ExitStack
from pathlib import Path

import pytest
import sqlalchemy as sa

from evidence.keys import add_key
from evidence.paths import DataDir
from station.db import connect, database_url
from station.services import MIGRATIONS, dock_init, open_catalogue, pull
from sync.ptywire import PtyWire
from tests.conftest import record
from tests.postgres import postgres_server, postgres_url  # noqa: F401
from tests.test_dock_archive import device_serving

PROCESSES = 8


def _open(archive: str, url: str | None, start: multiprocessing.synchronize.Barrier,
          failures: multiprocessing.Queue) -> None:
    from station.services import open_database  # imported in the child: spawned, nothing inherited
    start.wait(timeout=60)
    try:
        open_database(Path(archive), url).dispose()
    except BaseException as exc:    # noqa: BLE001 (reported to the parent, which fails the test)
        failures.put(_sentence(exc))


def _sentence(exc: BaseException) -> str:
    """The error's first line: what went wrong, without the SQL that followed it."""
    return traceback.format_exception_only(exc)[0].splitlines()[0]


def open_at_once(archive: Path, url: str | None) -> list[str]:
    """``open_database`` in PROCESSES processes released together; the errors of those that failed."""
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


@pytest.fixture(scope="module")
def two_devices(tmp_path_factory) -> list[Path]:
    """Two devices of their own (serial, key), each with one short sealed session."""
    folders = []
    for serial in ("BC00101", "BC00102"):
        folder = tmp_path_factory.mktemp(serial)
        record(folder, 1, device={"serial": serial})
        folders.append(folder)
    return folders


@pytest.mark.parametrize("shared", [False, True], ids=["sqlite", "postgresql"])
def test_two_devices_first_pulled_at_once_into_a_new_archive_are_both_catalogued(two_devices, tmp_path, request,
                                                                                  shared):
    url = request.getfixturevalue("postgres_url") if shared else None
    devices = [shutil.copytree(folder, tmp_path / folder.name) for folder in two_devices]
    archive = tmp_path / "archive"
    dock_init(archive, [(device / "device" / "device.pub").read_text() for device in devices])
    for device in devices:
        add_key(DataDir(device).docks, (archive / "dock" / "dock.pub").read_text())
    start, reports, failures = threading.Barrier(len(devices)), {}, []

    def first_pull(device: Path, port: str) -> None:
        start.wait(timeout=30)
        try:
            reports[device.name] = pull(archive, port, url=url)
        except BaseException as exc:   # noqa: BLE001 (the test fails on it below)
            failures.append(_sentence(exc))

    with ExitStack() as stack:
        wires = [stack.enter_context(PtyWire()) for _ in devices]
        for device, wire in zip(devices, wires):
            stack.enter_context(device_serving(device, wire))
        pulls = [threading.Thread(target=first_pull, args=(d, w.b)) for d, w in zip(devices, wires)]
        for thread in pulls:
            thread.start()
        for thread in pulls:
            thread.join(timeout=120)
    assert failures == []
    assert sorted(reports) == sorted(d.name for d in devices)
    assert all(report.items and not report.failed for report in reports.values())
    catalogue = open_catalogue(archive, url)
    assert {e["device"] for e in catalogue.search()} == {"BC00101", "BC00102"}
    catalogue.engine.dispose()
    applied_once(url or database_url(archive))
