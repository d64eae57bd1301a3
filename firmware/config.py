"""The device configuration: one TOML file, checked completely before anything starts.

Every key has a type and a rule. A key that is unknown, of the wrong type or impossible
is refused with one sentence naming it (``ConfigError``), so a typo can never silently
fall back to a default in the field.
"""
from __future__ import annotations

import logging
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Callable

from bodycam_errors import BodycamError
from hw import sources
from sync.rates import BAUDRATES

log = logging.getLogger(__name__)
# Keys that moved: (old section, old key) -> (new section, new key). A file with the old one is still read.
MOVED = {("recording", "data_dir"): ("device", "data_dir")}


class ConfigError(BodycamError, ValueError):
    """The configuration file cannot be used; the message names the key and the fix."""


@dataclass(frozen=True)
class Rule:
    """What one key accepts: its Python type, a check and the sentence saying what it must be."""

    kind: type
    check: Callable[[Any], bool]
    must: str


def _length(low: int, high: int) -> Callable[[str], bool]:
    return lambda s: low <= len(s) <= high


def _between(low: float, high: float) -> Callable[[float], bool]:
    return lambda n: low <= n <= high


_UTC_OFFSET = re.compile(r"^(local|[+-](0\d|1[0-4]):[0-5]\d)$")


def _source(kind: str) -> Rule:
    """A key naming a part: checked against the one table of source strings, ``hw.sources``."""
    return Rule(str, lambda s: sources.valid(kind, s), sources.forms(kind))

SCHEMA: dict[str, dict[str, Rule]] = {
    "device": {
        "serial": Rule(str, lambda s: re.fullmatch(r"[0-9A-Za-z]{7}", s) is not None,
                       "exactly 7 letters or digits"),
        "data_dir": Rule(str, _length(1, 4096), "a directory path"),
    },
    "officer": {
        "police_number": Rule(str, lambda s: re.fullmatch(r"[0-9]{6}", s) is not None,
                              "exactly 6 digits 0-9"),
        "name": Rule(str, _length(1, 32), "1 to 32 characters"),
    },
    "unit": {
        "number": Rule(str, lambda s: re.fullmatch(r"[0-9]{12}", s) is not None, "exactly 12 digits 0-9"),
        "name": Rule(str, _length(1, 32), "1 to 32 characters"),
    },
    "video": {
        "width": Rule(int, lambda n: 160 <= n <= 3840 and n % 2 == 0,
                      "an even number from 160 to 3840"),
        "height": Rule(int, lambda n: 120 <= n <= 2160 and n % 2 == 0,
                       "an even number from 120 to 2160"),
        "fps": Rule(int, _between(1, 60), "a whole number of frames per second from 1 to 60"),
        "bitrate_kbps": Rule(int, _between(100, 50_000), "from 100 to 50000 kbit/s"),
        "encoder": Rule(str, lambda s: s in ("auto", "libx264", "h264_v4l2m2m"),
                        "one of auto, libx264, h264_v4l2m2m"),
    },
    "audio": {
        "sample_rate": Rule(int, lambda n: n in (16000, 32000, 44100, 48000),
                            "one of 16000, 32000, 44100, 48000"),
        "channels": Rule(int, lambda n: n in (1, 2), "1 or 2"),
        "bitrate_kbps": Rule(int, _between(16, 320), "from 16 to 320 kbit/s"),
    },
    "recording": {
        "segment_seconds": Rule(int, _between(2, 3600), "a whole number of seconds from 2 to 3600"),
        "pre_event_seconds": Rule(int, _between(0, 120), "a whole number of seconds from 0 to 120"),
        "pre_event_audio": Rule(bool, lambda b: True, "true or false"),
        "capture_nice": Rule(int, _between(-20, 19), "a whole number from -20 to 19"),
    },
    "sources": {
        "camera": _source("camera"),
        "microphone": _source("microphone"),
    },
    "overlay": {
        "enabled": Rule(bool, lambda b: True, "true or false"),
        "position": Rule(str, lambda s: s in ("top-left", "top-right", "bottom-left", "bottom-right"),
                         "one of top-left, top-right, bottom-left, bottom-right"),
        "size": Rule(float, _between(1, 10), "from 1 to 10 (percent of the picture height)"),
        "time_format": Rule(str, lambda s: len(s) <= 64 and "%S" in s and ("%z" in s or "%:z" in s),
                            "a strftime pattern showing the seconds (%S) and the UTC offset (%z or %:z)"),
        "utc_offset": Rule(str, lambda s: _UTC_OFFSET.match(s) is not None, "local, or +HH:MM / -HH:MM"),
        "font": Rule(str, _length(1, 4096), "auto or the path of a font file"),
        "unverified_text": Rule(str, _length(1, 32), "1 to 32 characters"),
    },
    "battery": {
        "main": _source("battery"),
        "backup": _source("battery"),
        "full_minutes": Rule(int, _between(10, 10_000), "a whole number of minutes from 10 to 10000"),
        "low_alarm_minutes": Rule(int, _between(1, 120), "a whole number of minutes from 1 to 120"),
        "critical_percent": Rule(int, _between(1, 50), "a whole number from 1 to 50"),
        "shutdown_percent": Rule(int, _between(1, 50), "a whole number from 1 to 50"),
    },
    "storage": {
        "shift_hours": Rule(int, _between(1, 72), "a whole number of hours from 1 to 72"),
        "low_alarm_minutes": Rule(int, _between(1, 600), "a whole number of minutes from 1 to 600"),
        "reserve_seconds": Rule(int, _between(3, 600), "a whole number of seconds from 3 to 600"),
        "max_probe_ms": Rule(int, _between(1, 10_000), "a whole number of milliseconds from 1 to 10000"),
        "card_mount": Rule(str, lambda s: s == "" or s.startswith("/"), "\"\" or an absolute path"),
    },
    "clock": {
        "rtc": _source("rtc"),
        "max_drift_seconds": Rule(int, _between(1, 3600), "a whole number of seconds from 1 to 3600"),
        "max_hours_since_set": Rule(int, _between(1, 8760), "a whole number of hours from 1 to 8760"),
    },
    "gnss": {
        "port": _source("gnss"),
        "baudrate": Rule(int, lambda n: n in (4800, 9600, 19200, 38400, 57600, 115200),
                         "one of 4800, 9600, 19200, 38400, 57600, 115200"),
    },
    "gpio": {
        "pin_factory": _source("pin_factory"),
        "record": Rule(int, _between(0, 27), "a BCM GPIO number from 0 to 27"),
        **{key: Rule(int, _between(-1, 27), "a BCM GPIO number from 0 to 27, or -1 (not fitted)")
           for key in ("marker", "power", "dock", "led_power", "led_video", "led_audio", "vibration", "buzzer")},
        "hold_seconds": Rule(float, _between(1, 10), "from 1 to 10 seconds (a deliberate hold, not a bump)"),
        "power_hold_seconds": Rule(float, _between(1, 10), "from 1 to 10 seconds"),
    },
    "service": {
        "reminder_minutes": Rule(int, _between(0, 60), "a whole number of minutes from 0 (off) to 60"),
        "interruption_minutes": Rule(int, _between(0, 240), "a whole number of minutes from 0 to 240"),
        "poweroff_command": Rule(str, _length(0, 4096), "\"\" or a command, e.g. \"systemctl poweroff\""),
    },
    "dock": {
        "port": Rule(str, lambda s: s == "" or s.startswith("/") or "://" in s,
                     "\"\" (none) or the serial port to the dock: a device path or a pyserial URL"),
        "release_after_days": Rule(int, _between(0, 3650), "a whole number of days from 0 (at once) to 3650"),
        "set_system_clock": Rule(bool, lambda b: True, "true or false"),
        "baudrate": Rule(int, lambda n: n in BAUDRATES,
                         f"a standard line rate: one of {', '.join(map(str, BAUDRATES))}"),
    },
    "encryption": {
        "required": Rule(bool, lambda b: True, "true or false"),
    },
}

# Keys whose values must agree: (section, key, other key of the section, check, what key must be).
_PAIRS: list[tuple[str, str, str, Callable[[Any, Any], bool], str]] = [
    ("battery", "shutdown_percent", "critical_percent", lambda shutdown, critical: shutdown >= critical,
     "at or above 'battery.critical_percent', so that no recording starts only to be stopped at once"),
]

_TYPE_WORDS = {int: "a whole number", float: "a number", str: "a string in quotes", bool: "true or false"}


@dataclass(frozen=True)
class Config:
    """The checked configuration: ``config["video"]["fps"]`` and friends, plus where it came from."""

    values: dict[str, dict[str, Any]]
    source: str

    def __getitem__(self, section: str) -> dict[str, Any]:
        return self.values[section]

    def with_overrides(self, overrides: dict[str, dict[str, Any]]) -> "Config":
        """A copy with some keys replaced, checked by the same rules as the file."""
        merged = {section: dict(keys) for section, keys in self.values.items()}
        for section, keys in overrides.items():
            merged.setdefault(section, {}).update(keys)
        return Config(_checked(merged, self.source), self.source)


def default_text() -> str:
    """The embedded default configuration, as TOML text."""
    return resources.files("firmware").joinpath("default.toml").read_text(encoding="utf-8")


def load(path: str | Path | None = None) -> Config:
    """Read the embedded default, then the file at ``path`` over it, and check every key."""
    values = _parse(default_text(), "the embedded default")
    source = "the embedded default"
    if path is not None:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"config: cannot read {path}: {exc.strerror or exc}.") from exc
        for section, keys in _moved(_parse(text, source), source).items():
            if not isinstance(keys, dict):
                raise ConfigError(f"config {source}: '{section}' must be a [{section}] table.")
            values.setdefault(section, {}).update(keys)
    return Config(_checked(values, source), source)


def _parse(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config {source}: not valid TOML ({exc}).") from exc


def _moved(values: dict[str, Any], source: str) -> dict[str, Any]:
    """The file's keys with each moved key under its new name; one warning per old key, and
    an error when the old and the new are both given (which one holds would be a guess)."""
    for (section, key), (new_section, new_key) in MOVED.items():
        old = values.get(section)
        if not isinstance(old, dict) or key not in old:
            continue
        new = values.setdefault(new_section, {})
        if not isinstance(new, dict):
            continue        # refused by the check of tables, naming the section
        if new_key in new:
            raise ConfigError(f"config {source}: '{section}.{key}' and '{new_section}.{new_key}' are both set; "
                              f"keep only '{new_section}.{new_key}'.")
        log.warning("config %s: '%s.%s' is now '%s.%s'; it is read this time, please move it.",
                    source, section, key, new_section, new_key)
        new[new_key] = old.pop(key)
    return values


def _checked(values: dict[str, Any], source: str) -> dict[str, dict[str, Any]]:
    for section, keys in values.items():
        if section not in SCHEMA:
            known = ", ".join(SCHEMA)
            raise ConfigError(f"config {source}: unknown section '{section}' (known: {known}).")
        if not isinstance(keys, dict):
            raise ConfigError(f"config {source}: '{section}' must be a [{section}] table.")
        for key, value in keys.items():
            rule = SCHEMA[section].get(key)
            if rule is None:
                known = ", ".join(SCHEMA[section])
                raise ConfigError(f"config {source}: unknown key '{section}.{key}' (known: {known}).")
            _check_value(f"{section}.{key}", value, rule, source)
    for section, rules in SCHEMA.items():
        for key in rules:
            if key not in values.get(section, {}):
                raise ConfigError(f"config {source}: missing key '{section}.{key}'.")
    for section, key, other, check, must in _PAIRS:
        if not check(values[section][key], values[section][other]):
            raise ConfigError(f"config {source}: '{section}.{key}' must be {must}, got {values[section][key]!r}.")
    return {section: dict(values[section]) for section in SCHEMA}


def _check_value(name: str, value: Any, rule: Rule, source: str) -> None:
    # bool is a subclass of int in Python; `fps = true` must not pass as 1. A number key takes `3` too.
    kinds = (int, float) if rule.kind is float else rule.kind
    if isinstance(value, bool) != (rule.kind is bool) or not isinstance(value, kinds):
        raise ConfigError(
            f"config {source}: '{name}' must be {_TYPE_WORDS[rule.kind]}, got {value!r}.")
    if not rule.check(value):
        raise ConfigError(f"config {source}: '{name}' must be {rule.must}, got {value!r}.")
