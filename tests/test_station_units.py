"""The station's systemd units pass ``systemd-analyze verify`` (Debian's systemd) with no warning,
each under its own system user, the system read-only but for the archive."""
from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parent.parent / "station" / "systemd"
INSTALLED = "/opt/bodycam/bin/"            # where the README installs bodycam-station


@pytest.fixture
def units(tmp_path) -> list[Path]:
    """The units with ExecStart= pointing at this environment's bodycam-station (verify checks
    that the command exists and is executable)."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (scripts/system-deps.sh installs Debian's systemd)")
    copies = []
    for unit in sorted(UNITS.glob("*.service")):
        copies.append(tmp_path / unit.name)
        copies[-1].write_text(unit.read_text().replace(INSTALLED, f"{Path(sys.executable).parent}/"))
    return copies


def settings(unit: Path) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read(unit)
    return parser["Service"]


def test_the_units_verify_without_a_warning(units):
    assert [unit.name for unit in units] == ["bodycam-dock.service", "bodycam-web.service"]
    verified = subprocess.run(["systemd-analyze", "verify", "--man=no", *map(str, units)],
                              capture_output=True, text=True)
    assert verified.returncode == 0 and verified.stderr == "" and verified.stdout == "", verified.stderr


def test_a_unit_with_a_mistake_is_caught(units, tmp_path):
    """The check can fail: a misspelt hardening value is a warning it reports."""
    broken = tmp_path / "broken.service"
    broken.write_text(units[0].read_text().replace("ProtectSystem=strict", "ProtectSystem=stric"))
    verified = subprocess.run(["systemd-analyze", "verify", "--man=no", str(broken)], capture_output=True, text=True)
    assert "protect system value" in verified.stderr


def test_each_service_is_confined_to_the_archive(units):
    for unit in units:
        service = settings(unit)
        assert service["User"] == "bodycam-station" and service["NoNewPrivileges"] == "yes"
        assert service["ProtectSystem"] == "strict" and service["ReadWritePaths"] == "/srv/bodycam"
        assert service["Restart"] == "on-failure"
        assert "--archive /srv/bodycam" in service["ExecStart"]
    assert settings(units[0])["SupplementaryGroups"] == "bodycam-dock"      # the udev rule's group
    rule = (UNITS / "70-bodycam-dock.rules").read_text()
    assert 'GROUP="bodycam-dock"' in rule and "bodycam-bay/" in rule
    assert "--port /dev/bodycam-bay/*" in settings(units[0])["ExecStart"]
