"""The station's systemd units pass ``systemd-analyze verify`` (Debian's systemd) with no warning,
each under its own system user, the system read-only but for the archive, everything else from
/etc/bodycam/station.toml; the udev rule parses and names both kinds of bay."""
from __future__ import annotations

import configparser
import fnmatch
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from station import config as station_config

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
    assert settings(units[0])["SupplementaryGroups"] == "bodycam-dock"      # the udev rule's group
    rule = (UNITS / "70-bodycam-dock.rules").read_text()
    assert 'GROUP="bodycam-dock"' in rule and "bodycam-bay/" in rule


def test_the_units_take_everything_from_the_station_configuration(units):
    """No archive, port or address on the command lines: all of it is station.toml's, and the
    shipped example names the archive the units may write and the ports the udev rule makes."""
    for unit in units:
        command = settings(unit)["ExecStart"].split()
        assert command[1:] in (["dock", "--config", "/etc/bodycam/station.toml"],
                               ["web", "--config", "/etc/bodycam/station.toml"]), command
    example = station_config.load(UNITS / "station.toml")
    assert example.archive == Path(settings(units[0])["ReadWritePaths"])
    assert example["dock.ports"] == ["/dev/bodycam-bay/*"]
    assert example["web.host"] == "127.0.0.1"
    assert "bodycam-bay/$env{ID_PATH}" in (UNITS / "70-bodycam-dock.rules").read_text()


def test_the_units_reach_the_network_and_the_store_credentials(units):
    """The dock service pushes to the central store and may use a shared PostgreSQL catalogue:
    confined to Internet and local sockets, not cut off; both units read the store's credentials."""
    for unit in units:
        service = settings(unit)
        assert "PrivateNetwork" not in service
        assert service["RestrictAddressFamilies"].split() == ["AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"]
        assert service["EnvironmentFile"] == "-/etc/bodycam/store.env"


RULE_KEY = re.compile(r'\s*([A-Z_]+)(?:\{([^}]*)\})?\s*(==|!=|\+=|-=|:=|=)\s*"([^"]*)"\s*(?:,|$)')
MATCH_ONLY = {"ACTION", "DEVPATH", "KERNEL", "KERNELS", "SUBSYSTEM", "SUBSYSTEMS", "DRIVER", "DRIVERS",
              "ATTRS", "TAGS", "TEST", "PROGRAM", "RESULT", "CONST"}
ASSIGN_ONLY = {"OWNER", "GROUP", "MODE", "SECLABEL", "RUN", "LABEL", "GOTO", "IMPORT", "OPTIONS"}
EITHER = {"NAME", "SYMLINK", "ENV", "TAG", "ATTR", "SYSCTL"}
NEEDS_ATTRIBUTE = {"ATTR", "ATTRS", "ENV", "IMPORT", "SYSCTL", "CONST", "SECLABEL"}


def udev_rules(text: str) -> list[list[tuple[str, str | None, str, str]]]:
    """The rules of a udev rules file, each a list of (key, attribute, operator, value), every key
    checked as udev(7) has it; a line udev would not take raises ValueError."""
    rules = []
    for line in text.replace("\\\n", "").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        keys, at = [], 0
        while at < len(line):
            found = RULE_KEY.match(line, at)
            if found is None:
                raise ValueError(f"not a udev key at {line[at:]!r}")
            key, attribute, operator, value = found.groups()
            matching = operator in ("==", "!=")
            if key not in MATCH_ONLY | ASSIGN_ONLY | EITHER or (key in MATCH_ONLY and not matching) \
                    or (key in ASSIGN_ONLY and matching) or ((attribute is None) == (key in NEEDS_ATTRIBUTE)
                                                             and key != "RUN"):
                raise ValueError(f"udev does not take {found.group(0).strip()!r}")
            keys.append((key, attribute, operator, value))
            at = found.end()
        rules.append(keys)
    return rules


def matched(rule: list[tuple[str, str | None, str, str]], device: dict) -> bool:
    """Whether ``rule``'s match keys all hold for ``device`` (udev's globs and | alternatives)."""
    for key, attribute, operator, value in rule:
        if operator not in ("==", "!="):
            continue
        have = device[key][attribute] if attribute else device[key]
        hit = have is not None and any(fnmatch.fnmatchcase(have, pattern) for pattern in value.split("|"))
        if hit != (operator == "=="):
            return False
    return True


def tty(kernel: str, attrs: dict | None = None, env: dict | None = None) -> dict:
    return {"SUBSYSTEM": "tty", "KERNEL": kernel, "ATTRS": {"idVendor": None, "idProduct": None, **(attrs or {})},
            "ENV": {"ID_SERIAL_SHORT": None, **(env or {})}}


def test_the_udev_rule_parses_and_names_the_bays_of_both_kinds():
    """CDC-ACM recorders and USB-serial adapters marked as bays get the dock's group and a bay
    name; another adapter or a built-in UART does not (udevadm verify is newer than Debian 12's
    systemd, so the rules are checked here as udev(7) describes them)."""
    rules = udev_rules((UNITS / "70-bodycam-dock.rules").read_text())
    bays = [rule for rule in rules if ("GROUP", None, "=", "bodycam-dock") in rule
            and ("SYMLINK", None, "+=", "bodycam-bay/$env{ID_PATH}") in rule]
    assert len(bays) == len(rules) == 2
    docked = [tty("ttyACM0", {"idVendor": "0525", "idProduct": "a4a7"}),
              tty("ttyUSB3", env={"ID_SERIAL_SHORT": "bodycam-bay-03"})]
    others = [tty("ttyACM1", {"idVendor": "2341", "idProduct": "0043"}),
              tty("ttyUSB0", env={"ID_SERIAL_SHORT": "A50285BI"}), tty("ttyS0")]
    assert all(any(matched(rule, device) for rule in bays) for device in docked)
    assert not any(matched(rule, device) for rule in bays for device in others)


@pytest.mark.parametrize("good, mistake", [('GROUP="bodycam-dock"', 'GROUP=="bodycam-dock"'),
                                             ('KERNEL=="ttyUSB[0-9]*"', 'KERNEL="ttyUSB[0-9]*"'),
                                             ('"bodycam-bay-*"', '"bodycam-bay-*'),
                                             ("IMPORT{builtin}", "IMPORT")])
def test_a_udev_rule_with_a_mistake_is_caught(good, mistake):
    rule = (UNITS / "70-bodycam-dock.rules").read_text()
    with pytest.raises(ValueError):
        udev_rules(rule.replace(good, mistake))
