"""The station's one configuration file: where its archive and catalogue are, which ports the
dock watches, where the review page listens.

Read from ``--config FILE``, else ``BODYCAM_STATION_CONFIG``, else ``/etc/bodycam/station.toml``
when it exists (a station without one names its archive on each command line). Every key is
checked before any command runs; each bad one is refused in one sentence naming the file and
the key. The command line's flags override the file, and so does ``BODYCAM_CATALOGUE``.
"""
from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path
from typing import Any

from bodycam_errors import BodycamError
from station.db import shown
from station.words.zone import is_zone, zone_of
from sync.rates import BAUDRATES, DEFAULT_BAUDRATE

DEFAULT_FILE = Path("/etc/bodycam/station.toml")
FILE_VARIABLE = "BODYCAM_STATION_CONFIG"
CATALOGUE_VARIABLE = "BODYCAM_CATALOGUE"
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class StationConfigError(BodycamError, ValueError):
    """The station's configuration file cannot be used; each sentence names the file and a key."""


@dataclass(frozen=True)
class Key:
    """One key: its place in the file, its default, what it accepts, and what it is for."""

    name: str                       # "archive", "dock.ports" …
    default: Any
    check: Callable[[Any], bool]
    must: str                       # what a good value is, as the end of a sentence
    explain: str


def _text(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 4096


def _texts(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(_text(v) for v in value)


def _whole(low: int, high: int) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


KEYS = [
    Key("archive", None, _text, "a folder path in quotes",
        "the archive folder: footage, receipts, the dock's key (each command's --archive)"),
    Key("catalogue", None, lambda v: _text(v) and "://" in v, "a database URL such as "
        "\"postgresql+psycopg://station@db.example/bodycam\"",
        "database URL of a catalogue shared by several stations (--catalogue, env BODYCAM_CATALOGUE); "
        "unset: catalogue.sqlite in the archive"),
    Key("time_zone", "local", is_zone, "\"local\", an IANA zone name such as \"Asia/Shanghai\" or an offset "
        "such as \"+08:00\"", "the zone every time is shown, printed and read in, the page's, the command line's "
        "and the record form's (a Chinese unit's: \"Asia/Shanghai\"); \"local\": the station PC's own"),
    Key("dock.ports", ["/dev/serial/by-id/*"], _texts, "a list of device paths or globs in quotes",
        "the serial ports, or globs of them, where devices dock (USB CDC-ACM or USB-serial)"),
    Key("dock.baud", DEFAULT_BAUDRATE, lambda v: v in BAUDRATES and not isinstance(v, bool),
        f"one of {', '.join(map(str, BAUDRATES))}",
        "line rate of a UART link, as set on the devices (a USB CDC-ACM port ignores it)"),
    Key("web.host", "127.0.0.1", _text, "an address or host name in quotes",
        "address the review page listens on (the loopback only, unless told otherwise)"),
    Key("web.port", 8080, _whole(1, 65535), "a whole number from 1 to 65535", "TCP port of the review page"),
    Key("web.allowed_hosts", [], _texts, "a list of host names in quotes",
        "host names the review page answers to (the Host header) besides the address it listens on, "
        "localhost and 127.0.0.1; any other Host gets 400"),
    Key("web.trusted_proxies", [], _texts, "a list of addresses in quotes",
        "reverse proxies whose X-Forwarded-For is believed for the audit trail's client address "
        "(none: the connecting peer's own address)"),
    Key("encryption.agency_key", None, lambda v: _text(v) or _texts(v),
        "a file path in quotes, or a list of them", "the agency's X25519 private key (PEM, PKCS #8, readable by "
        "the station's service alone), or a list of them: the current one and every one before it, so that a "
        "session wrapped for an older key still plays and exports (docs/encryption.md); unset: neither does"),
    Key("access.max_failures", 5, _whole(1, 100), "a whole number from 1 to 100",
        "failed sign-ins in a row that lock a user name, or a client address, out"),
    Key("access.lockout_minutes", 15, _whole(1, 1440), "a whole number from 1 to 1440",
        "how long a lockout lasts, unless an administrator lifts it (bodycam-station user unlock)"),
    Key("store.endpoint", None, lambda v: _text(v) and v.startswith(("http://", "https://")),
        "an http:// or https:// URL in quotes",
        "the central store's S3 endpoint (Ceph's RADOS Gateway); unset: no central store, the archive alone. "
        "Credentials: boto3's own (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a credentials file)"),
    Key("store.bucket", None, lambda v: _text(v) and bool(_BUCKET.match(v)),
        "an S3 bucket name in quotes (3 to 63 lower-case letters, digits, dots and hyphens)",
        "the bucket, with Object Lock, the station pushes its footage to (bodycam-station store init)"),
    Key("store.region", "us-east-1", _text, "a region name in quotes", "the S3 region the requests are signed for"),
    Key("store.long_term_years", 30, _whole(1, 200), "a whole number from 1 to 200",
        "years the store locks marked (R7) footage and footage linked to a case"),
    Key("store.keep_local_days", None, _whole(0, 36500), "a whole number of days from 0 to 36500",
        "days a stored session's videos stay on this station after they were stored and read back "
        "(bodycam-station store free); unset: kept for ever"),
    Key("store.multipart_mb", 64, _whole(5, 5120), "a whole number from 5 to 5120",
        "a file of this many MiB or more goes to the store as a multipart upload, resumable after a kill"),
    Key("store.part_mb", 16, _whole(5, 5120), "a whole number from 5 to 5120",
        "the size of each part of a multipart upload, in MiB (S3's least is 5)"),
]
_BY_NAME = {key.name: key for key in KEYS}
_SECTIONS = {name.partition(".")[0] for name in _BY_NAME if "." in name}


@dataclass(frozen=True)
class StationConfig:
    """The checked configuration, ``config["web.port"]``, and the file it came from (None: none)."""

    values: dict[str, Any]
    source: Path | None

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    @property
    def archive(self) -> Path | None:
        return Path(self.values["archive"]) if self.values["archive"] else None

    @property
    def catalogue(self) -> str | None:
        """The catalogue URL: ``BODYCAM_CATALOGUE`` if set, else the file's."""
        return os.environ.get(CATALOGUE_VARIABLE) or self.values["catalogue"]

    @property
    def agency_keys(self) -> tuple[Path, ...]:
        """The agency private keys' files (``[encryption] agency_key``: one path or a list)."""
        named = self.values["encryption.agency_key"] or ()
        return tuple(Path(path) for path in ([named] if isinstance(named, str) else named))

    @property
    def zone(self) -> tzinfo:
        """The station's time zone (``time_zone``)."""
        return zone_of(self.values["time_zone"])


def config_file(path: Path | None = None) -> Path | None:
    """The file to read: ``path``, else ``BODYCAM_STATION_CONFIG``, else the default file if present."""
    if path is not None:
        return path
    named = os.environ.get(FILE_VARIABLE)
    if named:
        return Path(named)
    return DEFAULT_FILE if DEFAULT_FILE.exists() else None


def load(path: Path | None = None) -> StationConfig:
    """The configuration of :func:`config_file`, every key checked (the defaults where there is no file)."""
    source = config_file(path)
    values = {key.name: key.default for key in KEYS}
    if source is not None:
        values.update(_checked(_read(source), source))
    return StationConfig(values, source)


def _read(source: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise StationConfigError(f"station configuration {source}: cannot read it ({exc.strerror or exc}).") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise StationConfigError(f"station configuration {source}: not valid TOML ({exc}).") from exc


def _checked(document: dict[str, Any], source: Path) -> dict[str, Any]:
    """The file's keys by dotted name; every bad key named in a sentence of its own."""
    flat, problems = {}, []
    for name, value in document.items():
        if name in _SECTIONS and isinstance(value, dict):
            flat.update({f"{name}.{key}": inner for key, inner in value.items()})
        else:
            flat[name] = value
    for name, value in flat.items():
        key = _BY_NAME.get(name)
        if key is None:
            problems.append(f"station configuration {source}: unknown key '{name}' "
                            f"(known: {', '.join(_BY_NAME)}).")
        elif not key.check(value):
            problems.append(f"station configuration {source}: '{name}' must be {key.must}, got {value!r}.")
    if problems:
        raise StationConfigError("\n".join(problems))
    return flat


def describe(config: StationConfig) -> str:
    """The effective configuration (the file's, ``BODYCAM_CATALOGUE`` over it) as TOML, every key
    explained; a password in the catalogue's or the store's URL is masked (the store's credentials
    are never in the file: boto3 reads them from its own chain)."""
    values = {**config.values, "catalogue": shown(config.catalogue) if config.catalogue else None,
              "store.endpoint": shown(config["store.endpoint"]) if config["store.endpoint"] else None}
    lines = [f"# The station's configuration, from {config.source or 'the built-in defaults (no file)'}",
             "# (BODYCAM_CATALOGUE overrides the file, and each command's flags override both;",
             "# keys not set are commented out)."]
    section = ""
    for key in KEYS:
        where, _, name = key.name.rpartition(".")
        if where != section:
            section = where
            lines += ["", f"[{section}]"]
        lines.append(f"# {key.explain}")
        value = values[key.name]
        lines.append(f"# {name} is not set" if value is None else f"{name} = {_toml(value)}")
    return "\n".join(lines) + "\n"


def _toml(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, (str, Path)):
        return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)
