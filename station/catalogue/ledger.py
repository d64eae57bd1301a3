"""The device ledger (D3): which officer held which device, from when until when, and who
handed it over and took it back; each session is matched to the officer who held its device
when it started, and a session whose signed officer is not that officer is flagged.

Times are ns since 1970 UTC on the station's clock (the catalogue's ``clock``). A session is
matched on its ``started_ns``, the device's clock: a device whose clock was wrong can be
matched to the wrong hand-over (its session's ``clock`` verdict says so).
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from station.catalogue.catalogue import Catalogue, CatalogueError, ledger, sessions

MATCH, MISMATCH, UNRECORDED = "match", "mismatch", "unrecorded"


def assign(catalogue: Catalogue, device: str, police_number: str, *, actor: str, at_ns: int | None = None) -> int:
    """Hand ``device`` out to officer ``police_number`` (``actor`` hands it over); returns the entry's id."""
    at_ns = catalogue.clock() if at_ns is None else at_ns
    with catalogue.engine.begin() as connection:
        later = connection.execute(sa.select(ledger).where(
            ledger.c.device == device, sa.or_(ledger.c.in_ns.is_(None), ledger.c.in_ns > at_ns))).first()
        if later is not None:
            held = "holds it" if later.in_ns is None else "held it then"
            raise CatalogueError(f"device {device} is not in: officer {later.police_number} {held} "
                                 f"(ledger entry {later.id})")
        entry = connection.execute(ledger.insert().values(device=device, police_number=police_number,
                                                          out_ns=at_ns, out_by=actor)).inserted_primary_key[0]
    catalogue.hook("device assigned", actor, {"device": device, "officer": police_number, "at_ns": at_ns})
    return entry


def give_back(catalogue: Catalogue, device: str, *, actor: str, at_ns: int | None = None) -> dict[str, Any]:
    """Take ``device`` back in (``actor`` receives it); returns the closed ledger entry."""
    at_ns = catalogue.clock() if at_ns is None else at_ns
    with catalogue.engine.begin() as connection:
        out = connection.execute(sa.select(ledger).where(ledger.c.device == device, ledger.c.in_ns.is_(None))).first()
        if out is None:
            raise CatalogueError(f"device {device} is not out: nothing to return")
        if at_ns < out.out_ns:
            raise CatalogueError(f"device {device} cannot come back before it went out")
        connection.execute(ledger.update().where(ledger.c.id == out.id).values(in_ns=at_ns, in_by=actor))
    catalogue.hook("device returned", actor, {"device": device, "officer": out.police_number, "at_ns": at_ns})
    return {**out._mapping, "in_ns": at_ns, "in_by": actor}


def _holder(connection: Connection, device: str, at_ns: int) -> str | None:
    return connection.scalar(sa.select(ledger.c.police_number).where(
        ledger.c.device == device, ledger.c.out_ns <= at_ns,
        sa.or_(ledger.c.in_ns.is_(None), ledger.c.in_ns > at_ns)))


def verdict(holder: str | None, police_number: str) -> str:
    """MATCH, MISMATCH or UNRECORDED: the session's signed officer against the ledger's ``holder``."""
    return UNRECORDED if holder is None else MATCH if holder == police_number else MISMATCH


def check(catalogue: Catalogue, found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The sessions ``found`` (as the catalogue's search gives them), each with ``holder``, the
    officer the ledger says held the device at its start, and ``ledger``: match, mismatch, unrecorded."""
    with catalogue.engine.connect() as connection:
        for session in found:
            holder = _holder(connection, session["device"], session["started_ns"])
            session["holder"] = holder
            session["ledger"] = verdict(holder, session["police_number"])
    return found


def _covering() -> sa.ColumnElement[bool]:
    """The ledger entry that covers a session of ``sessions``: its device, out when it started."""
    return sa.and_(ledger.c.device == sessions.c.device, ledger.c.out_ns <= sessions.c.started_ns,
                   sa.or_(ledger.c.in_ns.is_(None), ledger.c.in_ns > sessions.c.started_ns))


def holder_at_start() -> sa.ScalarSelect:
    """As a column of a query of ``sessions``: the officer the ledger says held its device when it
    started (NULL: unrecorded); :func:`check` for many sessions in one query."""
    return sa.select(ledger.c.police_number).where(_covering()).limit(1).scalar_subquery()


def mismatches(catalogue: Catalogue) -> list[dict[str, Any]]:
    """Every session whose signed officer is not the one the ledger says held its device."""
    query = (sa.select(sessions.c.session).join(ledger, _covering())
             .where(ledger.c.police_number != sessions.c.police_number, sessions.c.purged_ns.is_(None))
             .order_by(sessions.c.started_ns))
    with catalogue.engine.connect() as connection:
        names = list(connection.scalars(query))
    return check(catalogue, [catalogue.session(name) for name in names])


def report(catalogue: Catalogue, *, device: str | None = None, officer: str | None = None,
           since_ns: int | None = None, until_ns: int | None = None) -> list[dict[str, Any]]:
    """Who wore which device when: the ledger entries (overlapping ``since_ns``..``until_ns``),
    each with the sessions recorded on it while it was out and how many were flagged."""
    query = sa.select(ledger).order_by(ledger.c.out_ns, ledger.c.id)
    if device is not None:
        query = query.where(ledger.c.device == device)
    if officer is not None:
        query = query.where(ledger.c.police_number == officer)
    if since_ns is not None:
        query = query.where(sa.or_(ledger.c.in_ns.is_(None), ledger.c.in_ns > since_ns))
    if until_ns is not None:
        query = query.where(ledger.c.out_ns < until_ns)
    with catalogue.engine.connect() as connection:
        entries = [dict(row._mapping) for row in connection.execute(query)]
        for entry in entries:
            worn = sa.select(sessions.c.session, sessions.c.police_number).where(
                sessions.c.device == entry["device"], sessions.c.started_ns >= entry["out_ns"],
                sessions.c.purged_ns.is_(None))
            if entry["in_ns"] is not None:
                worn = worn.where(sessions.c.started_ns < entry["in_ns"])
            rows = connection.execute(worn.order_by(sessions.c.started_ns)).all()
            entry["sessions"] = [row.session for row in rows]
            entry["flagged"] = [row.session for row in rows if row.police_number != entry["police_number"]]
    return entries
