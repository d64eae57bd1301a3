"""The station's time zone: every time it shows, prints or parses is in it, with the offset written.

Set as ``time_zone`` in station.toml: ``"local"`` (the PC's own zone, the default), an IANA name
such as ``"Asia/Shanghai"`` (a Chinese unit's), or a fixed offset such as ``"+08:00"``. The
zone names come from the system's files, else from the ``tzdata`` package."""
from __future__ import annotations

import os
import re
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bodycam_errors import BodycamError
from station.words.messages import _

DAY_NS = 86_400 * 10**9
OFFSET = re.compile(r"^([+-])(0\d|1[0-4]):([0-5]\d)$")
LOCALTIME = Path("/etc/localtime")


class ZoneError(BodycamError, ValueError):
    """A time zone, a day or a time that cannot be read."""


def is_zone(setting: object) -> bool:
    """Whether ``setting`` names a zone :func:`zone_of` accepts."""
    try:
        zone_of(setting)  # type: ignore[arg-type]
    except (ZoneError, TypeError):
        return False
    return True


def zone_of(setting: str) -> tzinfo:
    """The zone ``"local"``, an IANA name or ``"+HH:MM"`` names."""
    if setting == "local":
        return system_zone()
    if found := OFFSET.match(setting):
        sign, hours, minutes = found.groups()
        return timezone((-1 if sign == "-" else 1) * timedelta(hours=int(hours), minutes=int(minutes)))
    try:
        return ZoneInfo(setting)
    except (ZoneInfoNotFoundError, ValueError):
        raise ZoneError(_("'{zone}' is not a time zone (an IANA name such as Asia/Shanghai, +HH:MM or local)")
                        .format(zone=setting)) from None


def system_zone() -> tzinfo:
    """The PC's zone: ``TZ``, else the zone /etc/localtime links to, else its current offset."""
    for name in (os.environ.get("TZ", "").lstrip(":"), _linked_zone()):
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return datetime.now().astimezone().tzinfo or timezone.utc


def _linked_zone() -> str:
    try:
        target = str(LOCALTIME.resolve())
    except OSError:
        return ""
    return target.partition("/zoneinfo/")[2]


def moment(ns: int, zone: tzinfo) -> datetime:
    return datetime.fromtimestamp(ns // 10**9, zone).replace(microsecond=ns // 1000 % 10**6)


def shown(ns: int | None, zone: tzinfo, timespec: str = "seconds") -> str:
    """``2026-12-07 02:00:00+08:00``: the moment in the zone, the offset written."""
    if ns is None:
        return "-"
    return moment(ns, zone).isoformat(sep=" ", timespec=timespec)


def offset_text(ns: int, zone: tzinfo) -> str:
    """The zone's offset from UTC at that moment: ``UTC+08:00``."""
    return "UTC" + moment(ns, zone).isoformat()[-6:]


def day_range(day: str, zone: tzinfo) -> tuple[int, int]:
    """The ns range of the calendar day ``YYYY-MM-DD`` in the zone (from its midnight to the next)."""
    try:
        start = datetime.strptime(day, "%Y-%m-%d")
    except ValueError:
        raise ZoneError(_("'{day}' is not a date YYYY-MM-DD").format(day=day)) from None
    first = start.replace(tzinfo=zone)
    after = (start + timedelta(days=1)).replace(tzinfo=zone)
    return int(first.timestamp()) * 10**9, int(after.timestamp()) * 10**9


def parse(text: str, zone: tzinfo) -> int:
    """ns since 1970 of ``YYYY-MM-DD`` (its midnight) or an ISO 8601 time; one without an offset
    (``2026-12-07T02:00:00``) is a time in the zone, one with ``Z`` or ``+08:00`` is that moment."""
    if len(text) == 10:
        return day_range(text, zone)[0]
    try:
        found = datetime.fromisoformat(text)
    except ValueError:
        raise ZoneError(_("'{text}' is not a time YYYY-MM-DDTHH:MM:SS (in the station's zone, or with Z or an "
                          "offset such as +08:00) or a day YYYY-MM-DD").format(text=text)) from None
    found = found if found.tzinfo is not None else found.replace(tzinfo=zone)
    return round(found.timestamp() * 10**6) * 1000
