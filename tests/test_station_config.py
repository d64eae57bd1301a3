"""The station's configuration file: read by every command, flags and the environment over it,
each bad key refused in one sentence, and ``config`` printing it with passwords masked."""
from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from evidence.paths import ArchiveDir
from station.cli import main
from station.commands import options
from station.commands.dock import dock_ports
from station.config import load
from station.services import pull
from sync.ptywire import PtyWire
from tests.conftest import record
from tests.test_dock_archive import device_serving, enrolled_copy


@pytest.fixture(autouse=True)
def no_configuration_from_outside(monkeypatch):
    monkeypatch.delenv("BODYCAM_STATION_CONFIG", raising=False)
    monkeypatch.delenv("BODYCAM_CATALOGUE", raising=False)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_init_takes_its_archive_from_the_file_named_by_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("BODYCAM_STATION_CONFIG", str(write(tmp_path / "station.toml",
                                                           f'archive = "{tmp_path / "from-file"}"\n')))
    assert main(["init"]) == 0
    assert ArchiveDir(tmp_path / "from-file").key.exists()


def test_config_flag_beats_the_environment_and_archive_flag_beats_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("BODYCAM_STATION_CONFIG", str(write(tmp_path / "env.toml", f'archive = "{tmp_path / "env"}"\n')))
    named = write(tmp_path / "named.toml", f'archive = "{tmp_path / "named"}"\n')
    assert main(["init", "--config", str(named)]) == 0
    assert main(["--config", str(named), "init", "--archive", str(tmp_path / "flag")]) == 0
    assert ArchiveDir(tmp_path / "named").key.exists() and ArchiveDir(tmp_path / "flag").key.exists()
    assert not (tmp_path / "env").exists()


def test_without_a_file_the_archive_is_still_required(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["init"])
    assert "--archive" in capsys.readouterr().err


def test_each_bad_key_is_one_sentence_naming_the_file_and_the_key(tmp_path, capsys):
    bad = write(tmp_path / "station.toml", 'archive = "/srv/bodycam"\narchve = "/typo"\n[web]\nport = 70000\n')
    assert main(["--config", str(bad), "config"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2
    assert f"{bad}: unknown key 'archve'" in lines[0] and lines[0].endswith(".")
    assert f"{bad}: 'web.port' must be a whole number from 1 to 65535, got 70000." in lines[1]


def test_config_prints_every_key_explained_with_the_catalogue_password_masked(tmp_path, capsys, monkeypatch):
    path = write(tmp_path / "station.toml", 'archive = "/srv/bodycam"\ntime_zone = "+08:00"\n'
                 'catalogue = "postgresql+psycopg://station:s3cret-pw@db.example/bodycam"\n'
                 '[dock]\nports = ["/dev/serial/by-id/usb-bodycam-*"]\nbaud = 921600\n'
                 '[web]\nhost = "0.0.0.0"\nallowed_hosts = ["station.example"]\n')
    assert main(["config", "--config", str(path)]) == 0
    shown = capsys.readouterr().out
    assert "s3cret-pw" not in shown
    assert 'catalogue = "postgresql+psycopg://station:***@db.example/bodycam"' in shown
    for line in ('archive = "/srv/bodycam"', 'ports = ["/dev/serial/by-id/usb-bodycam-*"]', "baud = 921600",
                 'host = "0.0.0.0"', "port = 8080", 'allowed_hosts = ["station.example"]', 'time_zone = "+08:00"'):
        assert line in shown.splitlines()
        assert shown.splitlines()[shown.splitlines().index(line) - 1].startswith("# ")   # explained above it
    monkeypatch.setenv("BODYCAM_CATALOGUE", "postgresql+psycopg://other:pw2@elsewhere/db?password=pw3")
    assert main(["config", "--config", str(path)]) == 0
    shown = capsys.readouterr().out
    assert "elsewhere" in shown and "pw2" not in shown and "pw3" not in shown


@pytest.mark.parametrize("url, printed", [
    ("sqlite:////srv/bodycam/catalogue.sqlite", "sqlite:////srv/bodycam/catalogue.sqlite"),
    ("postgresql+psycopg:///bodycam?host=/run/postgresql", "postgresql+psycopg:///bodycam?host=/run/postgresql"),
    ("postgresql+psycopg://station:s3c%40ret/x@db.example:5432/bodycam?sslmode=require&password=pw3",
     "postgresql+psycopg://station:***@db.example:5432/bodycam?sslmode=require&password=***")])
def test_config_prints_the_catalogue_url_as_written_but_its_password(tmp_path, capsys, url, printed):
    """The URL printed is the one written (a copy of it opens the same catalogue), only the
    password masked, wherever SQLAlchemy would find one."""
    path = write(tmp_path / "station.toml", f'archive = "/srv/bodycam"\ncatalogue = "{url}"\n')
    assert main(["config", "--config", str(path)]) == 0
    shown = capsys.readouterr().out
    assert f'catalogue = "{printed}"' in shown.splitlines()
    assert "s3c" not in shown and "pw3" not in shown
    written, masked = make_url(url), make_url(printed)
    assert masked.password in (None, "***") and (masked.password is None) == (written.password is None)
    parts = ("drivername", "username", "host", "port", "database")
    assert [getattr(masked, part) for part in parts] == [getattr(written, part) for part in parts]
    assert {key: value for key, value in masked.query.items() if key != "password"} == \
        {key: value for key, value in written.query.items() if key != "password"}


def test_the_web_and_dock_options_take_their_defaults_from_the_file_and_flags_override(tmp_path):
    config = load(write(tmp_path / "station.toml", 'archive = "/srv/bodycam"\ntime_zone = "-03:30"\n[dock]\n'
                        'ports = ["/dev/ttyACM*"]\nbaud = 921600\n[web]\nhost = "0.0.0.0"\nport = 8443\n'
                        'allowed_hosts = ["station.example"]\n'))
    shared = options.shared(config)
    web = shared.web.parse_args([])
    assert (web.archive, web.host, web.port, web.allowed_hosts, web.zone.utcoffset(None)) == \
        (Path("/srv/bodycam"), "0.0.0.0", 8443, ["station.example"], -timedelta(hours=3, minutes=30))
    assert shared.web.parse_args(["--port", "9000", "--archive", "/elsewhere"]).port == 9000
    assert dock_ports(shared.dock.parse_args([])) == (["/dev/ttyACM*"], 921600)
    assert dock_ports(shared.dock.parse_args(["--port", "/dev/bay-*"])) == (["/dev/bay-*"], 921600)
    assert shared.dock.parse_args(["--baud", "115200"]).baud == 115200


def test_the_lockout_and_the_web_s_hosts_and_proxies_come_from_the_file_and_flags_add_to_them(tmp_path):
    config = load(write(tmp_path / "station.toml", 'archive = "/srv/bodycam"\n[web]\nallowed_hosts = ["a.example"]\n'
                        'trusted_proxies = ["10.1.1.1"]\n[access]\nmax_failures = 3\nlockout_minutes = 60\n'))
    shared = options.shared(config)
    throttle = shared.actor.parse_args([]).throttle
    assert (throttle.max_failures, throttle.lockout_s) == (3, 3600)
    web = shared.web.parse_args(["--allowed-host", "b.example"])
    assert (web.allowed_hosts, web.trusted_proxies) == (["a.example", "b.example"], ["10.1.1.1"])
    assert options.shared(config).web.parse_args([]).allowed_hosts == ["a.example"]   # the file's list is not changed


def test_verify_checks_the_configured_archive_and_takes_config_like_every_command(tmp_path, capsys):
    recorded = tmp_path / "recorded"
    record(recorded, 1)
    device, archive = enrolled_copy(recorded, tmp_path)
    with PtyWire() as wire, device_serving(device, wire):
        assert not pull(archive, wire.b).failed
    path = write(tmp_path / "station.toml", f'archive = "{archive}"\n')
    assert main(["verify", "--config", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["sessions"]
    assert all(Path(session["folder"]).is_relative_to(archive) for session in report["sessions"])
    with pytest.raises(SystemExit):                 # no file, no archive: the paths must be given
        main(["verify"])
    assert "paths" in capsys.readouterr().err


def test_the_agency_key_is_one_path_or_a_list_of_them_and_the_commands_get_every_one(tmp_path, capsys):
    one = load(write(tmp_path / "one.toml", '[encryption]\nagency_key = "/etc/bodycam/agency.key"\n'))
    kept = load(write(tmp_path / "kept.toml", '[encryption]\nagency_key = ["/etc/bodycam/agency-2026.key", '
                                              '"/etc/bodycam/agency-2025.key"]\n'))
    assert one.agency_keys == (Path("/etc/bodycam/agency.key"),)
    assert kept.agency_keys == (Path("/etc/bodycam/agency-2026.key"), Path("/etc/bodycam/agency-2025.key"))
    assert load(write(tmp_path / "none.toml", "")).agency_keys == ()
    args = options.shared(kept).station.parse_args(["--archive", str(tmp_path)])
    assert args.agency_keys == kept.agency_keys
    bad = write(tmp_path / "bad.toml", '[encryption]\nagency_key = ["/etc/bodycam/agency.key", 7]\n')
    assert main(["--config", str(bad), "config"]) == 2
    assert capsys.readouterr().err.strip() == (f"bodycam-station: station configuration {bad}: 'encryption.agency_key' "
                                               "must be a file path in quotes, or a list of them, got "
                                               "['/etc/bodycam/agency.key', 7].")
