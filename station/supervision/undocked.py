"""The daily offload check (S1): footage is docked within 24 hours of its end.

The station notes each docking of a device key (the catalogue's ``dockings``, written when a
device authenticates for a pull); a session counts as docked at the first docking of its
device's key at or after its end. :func:`docked_at` is that one computation, which the usage
report and the custody report share. :func:`undocked` lists the devices whose last recorded
session ended more than 24 hours ago with no docking since, and the sessions docked late.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from station.catalogue.catalogue import DAY_NS, Catalogue, dockings, sessions

DOCK_WITHIN_NS = DAY_NS          # S1: docked within 24 hours of the session's end
ON_TIME, LATE, NOT_DOCKED = "on_time", "late", "not_docked"


def docked_at() -> sa.ScalarSelect:
    """The first docking of the session's device key at or after its end (NULL: none yet)."""
    return (sa.select(sa.func.min(dockings.c.docked_ns))
            .where(dockings.c.key_id == sessions.c.key_id, dockings.c.docked_ns >= sessions.c.ended_ns)
            .scalar_subquery())


def timeliness(ended_ns: int | None, docked_ns: int | None) -> str | None:
    """ON_TIME, LATE or NOT_DOCKED for a session that ended; None for one that did not (no close, no frame)."""
    if ended_ns is None:
        return None
    if docked_ns is None:
        return NOT_DOCKED
    return ON_TIME if docked_ns - ended_ns <= DOCK_WITHIN_NS else LATE


@dataclass(frozen=True)
class Undocked:
    devices: list[dict[str, Any]]       # device, key_id, police_number, officer, unit, last_ended_ns, last_docked_ns
    late: list[dict[str, Any]]          # sessions docked more than 24 h after their end, with docked_ns


def undocked(catalogue: Catalogue, now_ns: int, since_ns: int, unit: str | None = None) -> Undocked:
    """The devices whose last session ended more than 24 h before ``now_ns`` with no docking
    after its end, and the sessions started since ``since_ns`` docked late (S1); of ``unit``
    (its number) or of every unit."""
    return Undocked(_devices(catalogue, now_ns, unit), _late(catalogue, since_ns, unit))


def _devices(catalogue: Catalogue, now_ns: int, unit: str | None) -> list[dict[str, Any]]:
    last = (sa.select(sessions.c.key_id, sa.func.max(sessions.c.ended_ns).label("last_ended_ns"))
            .group_by(sessions.c.key_id).subquery())          # the index sessions_key_end alone answers it
    docked = (sa.select(dockings.c.key_id, sa.func.max(dockings.c.docked_ns).label("last_docked_ns"))
              .group_by(dockings.c.key_id).subquery())
    query = (sa.select(sessions.c.device, sessions.c.key_id, sessions.c.police_number, sessions.c.officer,
                       sessions.c.unit_number, sessions.c.unit, last.c.last_ended_ns, docked.c.last_docked_ns)
             .join(last, sa.and_(last.c.key_id == sessions.c.key_id, last.c.last_ended_ns == sessions.c.ended_ns))
             .outerjoin(docked, docked.c.key_id == sessions.c.key_id)
             .where(last.c.last_ended_ns <= now_ns - DOCK_WITHIN_NS,
                    sa.or_(docked.c.last_docked_ns.is_(None), docked.c.last_docked_ns < last.c.last_ended_ns))
             .order_by(last.c.last_ended_ns))
    if unit is not None:
        query = query.where(sessions.c.unit_number == unit)
    with catalogue.engine.connect() as connection:
        found = [dict(row._mapping) for row in connection.execute(query)]
    seen: set[str] = set()
    return [row for row in found if not (row["key_id"] in seen or seen.add(row["key_id"]))]


def _late(catalogue: Catalogue, since_ns: int, unit: str | None) -> list[dict[str, Any]]:
    inner = (sa.select(sessions.c.session, sessions.c.device, sessions.c.police_number, sessions.c.officer,
                       sessions.c.unit_number, sessions.c.ended_ns, docked_at().label("docked_ns"))
             .where(sessions.c.started_ns >= since_ns, sessions.c.ended_ns.is_not(None),
                    sessions.c.purged_ns.is_(None)))
    if unit is not None:
        inner = inner.where(sessions.c.unit_number == unit)
    inner = inner.subquery()
    query = (sa.select(inner).where(inner.c.docked_ns - inner.c.ended_ns > DOCK_WITHIN_NS)
             .order_by(inner.c.ended_ns))
    with catalogue.engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]
