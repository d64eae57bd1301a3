"""A case carries its file's retention period (years, or permanent), set when it is opened or
later by a supervisor; the footage linked to it is kept as long as the case file. Cases of an
older station migrate to the long-term period, and a rebuild from the journal restores each
case's period."""
from __future__ import annotations

import json
import shutil
import sqlite3
from contextlib import closing
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from station.catalogue import retention
from station.catalogue.catalogue import cases
from station.db import CATALOGUE_FILE
from station.services import open_catalogue, open_station
from tests.test_station_access import pulled  # noqa: F401 (the fixture)
from tests.test_station_recovery import archive, station  # noqa: F401 (archive: the fixture)
from tests.test_station_upgrade import OLD


@pytest.fixture
def old_archive(tmp_path):
    """The station of tests/data/old-station, made before cases carried a retention period."""
    old = tmp_path / "old"
    for folder in ("dock", "devices"):
        shutil.copytree(OLD / folder, old / folder)
    (old / "dock" / "dock.key").chmod(0o600)
    with closing(sqlite3.connect(old / CATALOGUE_FILE)) as database:
        database.executescript((OLD / "catalogue.sql").read_text(encoding="utf-8"))
    return old


def case_years(archive) -> dict[str, int | None]:  # noqa: F811
    with open_catalogue(archive).engine.connect() as connection:
        return {row.number: row.retention_years for row in connection.execute(sa.select(cases))}


def add_users(archive) -> None:  # noqa: F811
    assert station(archive, "user", "add", "admin", "--role", "administrator").returncode == 0
    for name, role in (("sup", "supervisor"), ("cus", "custodian")):
        assert station(archive, "user", "add", name, "--role", role, user="admin").returncode == 0


def test_a_case_is_opened_with_its_period_a_supervisor_changes_it_and_a_rebuild_restores_it(
        archive):  # noqa: F811
    add_users(archive)
    for number, kept in (("C-10", ("--retention-years", "10")), ("C-P", ("--permanent",)), ("C-D", ())):
        done = station(archive, "case", "open", number, "--name", "盗窃案", "--party", "某甲", *kept, user="cus")
        assert done.returncode == 0, done.stderr
    assert case_years(archive) == {"C-10": 10, "C-P": None, "C-D": 30}
    refused = station(archive, "case", "retention", "C-10", "--permanent", user="cus")
    assert refused.returncode == 1 and b"set a case file's retention period" in refused.stderr
    changed = station(archive, "case", "retention", "C-10", "--retention-years", "50", user="sup")
    assert changed.returncode == 0 and json.loads(changed.stdout)["retention_years"] == 50
    before = case_years(archive)
    for database in archive.glob("catalogue.sqlite*"):
        database.unlink()
    assert station(archive, "rebuild").returncode == 0
    assert case_years(archive) == before == {"C-10": 50, "C-P": None, "C-D": 30}


def test_footage_linked_to_a_case_is_kept_as_long_as_the_case_file(archive):  # noqa: F811
    catalogue = open_catalogue(archive)
    first, second = catalogue.search()
    catalogue.open_case("K-7", "a case", "a party", actor="cus", retention_years=7)
    catalogue.open_case("K-P", "another", "a party", actor="cus", retention_years=None)
    catalogue.link("K-7", first["session"], actor="cus")
    catalogue.link("K-P", second["session"], actor="cus")
    assert retention.assess(catalogue, first).expires_ns is None          # held while the case is open
    catalogue.close_case("K-7", actor="cus")
    catalogue.close_case("K-P", actor="cus")
    closed = datetime.fromtimestamp(catalogue.case("K-7")["closed_ns"] // 10**9, timezone.utc)
    found = retention.assess(catalogue, first)
    assert found.expires_ns // 10**9 == int(closed.replace(year=closed.year + 7).timestamp())
    assert "case K-7 closed, its file kept 7 years" in found.because
    kept = retention.assess(catalogue, second)
    assert kept.expires_ns is None and "case K-P closed, its file kept permanently" in kept.because


def test_the_cases_of_an_older_station_migrate_to_the_long_term_period(old_archive):
    engine = open_station(old_archive).engine
    with engine.connect() as connection:
        assert {row.number: row.retention_years for row in connection.execute(sa.select(cases))} == {"2026-0042": 30}
    assert set(retention.periods(open_catalogue(old_archive))) == {"ordinary", "marked", "grace"}
