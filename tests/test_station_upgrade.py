"""A station made before the export tables had their own migration area opens and works today.

``tests/data/old-station`` was made by the station's code at commit a3ae857 (one session pulled
from a device, four users, a case with the session linked, a hold, an export request): its
database as a ``sqlite3`` dump, the dock's key and the enrolled device's public key."""
from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
import sqlalchemy as sa

from evidence.keys import add_key, load_public_key
from evidence.paths import ArchiveDir, DataDir
from station.cli import main as station_main
from station.custody import audit
from station.db import CATALOGUE_FILE, schema_migrations
from station.services import dock_init, open_station, pull
from station.web.app import create_app
from sync.ptywire import PtyWire
from tests.conftest import record
from tests.test_dock_archive import device_serving
from tests.web import Client, serving

OLD = Path(__file__).parent / "data" / "old-station"
SESSION = "20261206T193451Z-BC00001-e6a0d8"
PASSWORD = "long enough password"


@pytest.fixture
def archive(tmp_path) -> Path:
    archive = tmp_path / "archive"
    for folder in ("dock", "devices"):
        shutil.copytree(OLD / folder, archive / folder)
    (archive / "dock" / "dock.key").chmod(0o600)
    with closing(sqlite3.connect(archive / CATALOGUE_FILE)) as database:
        database.executescript((OLD / "catalogue.sql").read_text(encoding="utf-8"))
    return archive


def test_it_opens_migrates_and_keeps_its_users_case_hold_export_and_trail(archive):
    station = open_station(archive)
    with station.engine.connect() as connection:
        applied = {(row.area, row.version): row.what for row in connection.execute(sa.select(schema_migrations))}
    assert {("access", 1), ("access", 2), ("exports", 1)} <= set(applied)
    assert applied[("access", 2)] == "export requests and the copy ledger"          # as the old code recorded it
    assert "already" in applied[("exports", 1)]
    assert (archive / f"{CATALOGUE_FILE}.before-exports-1").exists()
    desk = station.desk(None)
    supervisor = desk.access.authenticate("sup", PASSWORD, "test")
    assert [(row.id, row.target, row.state) for row in desk.exports.ledger(supervisor)] == [(1, SESSION, "requested")]
    assert [entry["session"] for entry in desk.catalogue.search(case="2026-0042")] == [SESSION]
    assert [hold["reason"] for hold in desk.catalogue.holds(SESSION)] == ["pending court date"]
    dock_key = load_public_key(ArchiveDir(archive).public_key.read_text())
    assert audit.verify(station.engine, {dock_key}) == []


def test_search_and_audit_verify_work_on_it(archive, monkeypatch, capsys):
    monkeypatch.setenv("BODYCAM_PASSWORD", PASSWORD)
    where = ["--archive", str(archive), "--user", "sup"]
    assert station_main(["search", "--case", "2026-0042", *where]) == 0
    assert SESSION in capsys.readouterr().out
    assert station_main(["audit", "verify", *where]) == 0
    assert "entries before this check, intact" in capsys.readouterr().out


def test_the_review_page_lists_its_session(archive):
    with serving(create_app(open_station(archive))) as base:
        client = Client(base)
        assert client.sign_in("rev", PASSWORD).status == 303
        assert SESSION in client.get("/").text


def test_a_new_device_pulls_into_it(archive, tmp_path):
    device = tmp_path / "device"
    record(device, 1)
    dock_init(archive, [DataDir(device).public_key.read_text()])
    add_key(DataDir(device).docks, ArchiveDir(archive).public_key.read_text())
    with PtyWire() as wire, device_serving(device, wire):
        report = pull(archive, wire.b)
    assert not report.failed and report.items
    sessions = {entry["session"] for entry in open_station(archive).desk(None).catalogue.search()}
    assert SESSION in sessions and len(sessions) == 2
