"""The periodic usage report (定期通报, S8): how a unit's officers wore and used the recorders
over a month or a chosen period, for the unit's performance review.

Every figure is counted from the catalogue (sessions started in the period), the dockings it
noted (S1, :mod:`station.supervision.undocked`), the central store's stored sessions, the
write-ups, the device ledger (D3), the stored verification verdicts and the witness's refused
dockings. :func:`usage` gathers them into a :class:`Usage`; ``reports`` draws it as a page,
a PDF and CSV.
"""
from __future__ import annotations

import calendar
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

import sqlalchemy as sa

from station.catalogue import ledger
from station.catalogue.catalogue import DAY_NS, Catalogue, CatalogueError, sessions, writeups
from station.catalogue.verdicts import segment_verdicts
from station.catalogue.writeup import needs_one
from station.intake.witness import refusals
from station.store.store import stored_sessions
from station.supervision.undocked import LATE, NOT_DOCKED, docked_at, timeliness
from station.words import zone

STORE_WITHIN_NS = 2 * DAY_NS     # S1: docked within 24 h, and on the agency's server within a further 24 h
TAMPERED = "TAMPERED"
HOUR_NS = 3600 * 10**9
# Inspection findings (抽检) of the period, verdict -> count: the sample inspections' ledger
# (station.supervision.inspections) answers it; None while the station keeps no inspections.
Findings = Callable[[Catalogue, str | None, int, int], dict[str, int]]


@dataclass(frozen=True)
class Period:
    since_ns: int
    until_ns: int
    label: str


def month(text: str, station_zone: tzinfo) -> Period:
    """The month ``YYYY-MM`` in the station's zone."""
    try:
        start = datetime.strptime(text, "%Y-%m")
    except ValueError:
        raise CatalogueError(f"{text!r} is not a month YYYY-MM") from None
    days = calendar.monthrange(start.year, start.month)[1]
    last = f"{start.year:04d}-{start.month:02d}-{days:02d}"
    return Period(zone.day_range(start.strftime("%Y-%m-%d"), station_zone)[0],
                  zone.day_range(last, station_zone)[1], text)


def between(since: str, until: str, station_zone: tzinfo) -> Period:
    """The days from ``since`` up to and including ``until`` (both YYYY-MM-DD) in the station's zone."""
    try:
        first, last = zone.day_range(since, station_zone)[0], zone.day_range(until, station_zone)[1]
    except zone.ZoneError:
        raise CatalogueError(f"{since!r} or {until!r} is not a date YYYY-MM-DD") from None
    if last <= first:
        raise CatalogueError("a period must end on or after the day it starts")
    return Period(first, last, f"{since} – {until}")


@dataclass
class Person:
    """One officer's (or one device's) share of the period."""

    name: str
    sessions: int = 0
    hours: float = 0.0
    late: int = 0
    pending: int = 0
    mismatches: int = 0
    worn: set[str] = field(default_factory=set)      # an officer's devices, a device's officers


@dataclass
class Usage:
    unit: str | None
    unit_name: str
    period: Period
    made_ns: int
    zone: tzinfo                                             # the station's: days, and every time shown
    sessions: int = 0
    hours: float = 0.0
    docking: Counter = field(default_factory=Counter)        # ON_TIME, LATE, NOT_DOCKED
    stored_in_time: int = 0
    stored_late: int = 0
    not_stored: int = 0
    stops: Counter = field(default_factory=Counter)          # stop code -> sessions ("" : no close record)
    interrupted: int = 0
    needing_writeup: int = 0
    pending_writeups: list[dict[str, Any]] = field(default_factory=list)
    refused_dockings: list[dict[str, Any]] = field(default_factory=list)
    tampered_segments: int = 0
    tampered_sessions: list[str] = field(default_factory=list)
    mismatches: list[dict[str, Any]] = field(default_factory=list)
    officers: dict[str, Person] = field(default_factory=dict)
    devices: dict[str, Person] = field(default_factory=dict)
    days: list[tuple[str, int, float]] = field(default_factory=list)   # (YYYY-MM-DD, sessions, hours)
    findings: dict[str, int] | None = None


def _columns() -> list[Any]:
    tampered = (sa.select(sa.func.count()).where(segment_verdicts.c.session == sessions.c.session,
                                                 segment_verdicts.c.state == TAMPERED).scalar_subquery())
    written = sessions.c.session.in_(sa.select(writeups.c.session))     # one pass over the write-ups
    return [sessions.c.session, sessions.c.device, sessions.c.police_number, sessions.c.officer, sessions.c.unit,
            sessions.c.started_ns, sessions.c.ended_ns, sessions.c.stop_code, sessions.c.interrupted,
            docked_at().label("docked_ns"), stored_sessions.c.stored_ns, tampered.label("tampered"),
            needs_one().label("needs_writeup"), written.label("written"), ledger.holder_at_start().label("holder")]


def sessions_query(unit: str | None, period: Period) -> sa.Select:
    """The sessions of ``unit`` (its number; None: every unit) started in ``period``, each with
    when it docked, when it was stored whole, its tampered segments, whether it needs and has a
    write-up, and the device's holder by the ledger."""
    query = (sa.select(*_columns())
             .select_from(sessions.outerjoin(stored_sessions, stored_sessions.c.session == sessions.c.session))
             .where(sessions.c.started_ns >= period.since_ns, sessions.c.started_ns < period.until_ns,
                    sessions.c.purged_ns.is_(None))
             .order_by(sessions.c.started_ns))
    if unit is not None:
        query = query.where(sessions.c.unit_number == unit)
    return query


def sessions_of(catalogue: Catalogue, unit: str | None, period: Period) -> list[dict[str, Any]]:
    """The rows of :func:`sessions_query`."""
    with catalogue.engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(sessions_query(unit, period))]


def usage(catalogue: Catalogue, unit: str | None, period: Period, now_ns: int, station_zone: tzinfo,
          findings: Findings | None = None) -> Usage:
    """The usage report of ``unit`` (None: the whole station) over ``period``, as of ``now_ns``,
    its days those of ``station_zone``."""
    found = sessions_of(catalogue, unit, period)
    report = Usage(unit, found[0]["unit"] if found else "", period, now_ns, station_zone)
    for session in found:
        _count(report, session)
    report.days = _days(found, period, station_zone)
    report.refused_dockings = _refused(catalogue, period, {s["device"] for s in found}, unit)
    if findings is not None:
        report.findings = findings(catalogue, unit, period.since_ns, period.until_ns)
    return report


def _count(report: Usage, session: dict[str, Any]) -> None:
    hours = _hours(session)
    officer = report.officers.setdefault(session["police_number"],
                                         Person(f"{session['officer']}（{session['police_number']}）"))
    device = report.devices.setdefault(session["device"], Person(session["device"]))
    officer.worn.add(session["device"])
    device.worn.add(officer.name)
    late = timeliness(session["ended_ns"], session["docked_ns"])
    pending = bool(session["needs_writeup"]) and not session["written"]
    mismatch = ledger.verdict(session["holder"], session["police_number"]) == ledger.MISMATCH
    for share in (officer, device):
        share.sessions += 1
        share.hours += hours
        share.late += late in (LATE, NOT_DOCKED)
        share.pending += pending
        share.mismatches += mismatch
    report.sessions += 1
    report.hours += hours
    if late is not None:
        report.docking[late] += 1
    _count_stored(report, session)
    report.stops[session["stop_code"] or ""] += 1
    report.interrupted += bool(session["interrupted"])
    report.needing_writeup += bool(session["needs_writeup"])
    if pending:
        report.pending_writeups.append(session)
    if session["tampered"]:
        report.tampered_segments += session["tampered"]
        report.tampered_sessions.append(session["session"])
    if mismatch:
        report.mismatches.append(session)


def _count_stored(report: Usage, session: dict[str, Any]) -> None:
    if session["stored_ns"] is None:
        report.not_stored += 1
    elif session["ended_ns"] is not None and session["stored_ns"] - session["ended_ns"] <= STORE_WITHIN_NS:
        report.stored_in_time += 1
    else:
        report.stored_late += 1


def _hours(session: dict[str, Any]) -> float:
    if session["ended_ns"] is None:
        return 0.0
    return max(session["ended_ns"] - session["started_ns"], 0) / HOUR_NS


def _days(found: list[dict[str, Any]], period: Period, station_zone: tzinfo) -> list[tuple[str, int, float]]:
    """Each day of the period in the station's zone: its date, sessions begun and hours recorded."""
    counts: Counter = Counter()
    hours: Counter = Counter()
    for session in found:
        day = zone.moment(session["started_ns"], station_zone).date()
        counts[day] += 1
        hours[day] += _hours(session)
    first = zone.moment(period.since_ns, station_zone).date()
    last = zone.moment(period.until_ns - 1, station_zone).date()
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return [(day.isoformat(), counts[day], hours[day]) for day in days]


def _refused(catalogue: Catalogue, period: Period, devices: set[str], unit: str | None) -> list[dict[str, Any]]:
    query = (sa.select(refusals).where(refusals.c.refused_ns >= period.since_ns, refusals.c.refused_ns < period.until_ns)
             .order_by(refusals.c.refused_ns))
    if unit is not None:
        query = query.where(refusals.c.device.in_(sorted(devices)))
    with catalogue.engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]

