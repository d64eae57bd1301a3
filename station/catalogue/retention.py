"""Retention: how long each session is kept, and the purge that removes only what has expired.

Each session's retention counts from the later of its end (the device's clock) and the time
the station archived it (the station's clock), so a device clock set in the past never makes
footage look older than it is. The classes and their periods are rows of the ``retention``
table (``bodycam-station retention --set CLASS DAYS``; docs/catalogue.md):

- ``ordinary``: every session (default 365 days);
- ``marked``: a session with a marked segment, R7 (default: no end);
- a session linked to a case is kept as long as the case's file: held while the case is open,
  and for the case's own retention period after it is closed (years, or permanently; set when
  the case is opened, or later by a supervisor; default the long-term 30 years);
- ``grace``: after the longest applicable period, the purge waits this long more (default 30).

The longest applicable period wins. A legal hold on the session, or on a case it is linked to,
suspends deletion with no end date. The unit of deletion is the whole session: a case linked to
a time range of a session holds all of it (its files are signed whole, and never cut).
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import sqlalchemy as sa

from evidence.files import sync_directory
from evidence.paths import ArchiveDir
from station.catalogue.catalogue import DAY_NS, SESSION_FILE, Catalogue, CatalogueError, purges, retention, sessions

CLASSES = ("ordinary", "marked", "grace")
Release = Callable[["Assessment"], dict[str, Any]]


class Refused(CatalogueError):
    """Another keeper of a session (the central store) refuses to let it go yet: it is not purged."""


@dataclass
class Assessment:
    """Why a session is kept, and from when it may go. ``expires_ns`` None: kept without end."""

    session: str
    folder: str
    expires_ns: int | None
    because: list[str]
    holds: list[str] = field(default_factory=list)
    purgeable_ns: int | None = None
    refused: str | None = None      # why the purge left it: another keeper of it (the central store) refused


    def due(self, now_ns: int) -> bool:
        return not self.holds and self.purgeable_ns is not None and self.purgeable_ns <= now_ns


def periods(catalogue: Catalogue) -> dict[str, int | None]:
    """Days per retention class (None: without end)."""
    with catalogue.engine.connect() as connection:
        return {row[0]: row[1] for row in connection.execute(sa.select(retention.c["class"], retention.c.days))}


def set_period(catalogue: Catalogue, name: str, days: int | None, *, actor: str) -> None:
    if name not in CLASSES:
        raise CatalogueError(f"no retention class {name!r}: one of {', '.join(CLASSES)}")
    if days is not None and days < 0 or (name == "ordinary" and days is None):
        raise CatalogueError("a period is a number of days, at least 0 (only marked may be without end)")
    with catalogue.engine.begin() as connection:
        connection.execute(retention.update().where(retention.c["class"] == name).values(days=days))
    catalogue.hook("retention set", actor, {"class": name, "days": days})


def assess(catalogue: Catalogue, session: dict[str, Any], days: dict[str, int | None] | None = None) -> Assessment:
    days = periods(catalogue) if days is None else days
    start = max(session["ended_ns"] or session["started_ns"], session["archived_ns"])
    ends: list[tuple[int | None, str]] = [(start + days["ordinary"] * DAY_NS, f"ordinary: {days['ordinary']} days")]
    if session["marked"]:
        ends.append((None if days["marked"] is None else start + days["marked"] * DAY_NS,
                     "marked (R7): " + ("without end" if days["marked"] is None else f"{days['marked']} days")))
    for case in catalogue.cases(session["session"]):
        ends.append(case_file_end(case))
    expires = None if any(end is None for end, _ in ends) else max(end for end, _ in ends)
    found = Assessment(session["session"], session["folder"], expires, [why for _, why in ends],
                       [f"hold {h['id']}: {h['reason']}" for h in catalogue.holds(session["session"])])
    if expires is not None:
        found.purgeable_ns = expires + days["grace"] * DAY_NS
    return found


def case_file_end(case: dict[str, Any]) -> tuple[int | None, str]:
    """Until when a case's file, and so its footage, is kept (ns; None: no end yet, or never),
    and why: its retention period's years after it closed."""
    years = case["retention_years"]
    if case["closed_ns"] is None:
        return None, f"case {case['number']} is open"
    if years is None:
        return None, f"case {case['number']} closed, its file kept permanently"
    return years_later_ns(case["closed_ns"], years), f"case {case['number']} closed, its file kept {years} years"


def years_later_ns(moment_ns: int, years: int) -> int:
    """``years`` calendar years after ``moment_ns`` (29 February counts as the 28th in a common year)."""
    moment = datetime.fromtimestamp(moment_ns // 10**9, timezone.utc)
    try:
        later = moment.replace(year=moment.year + years)
    except ValueError:
        later = moment.replace(year=moment.year + years, day=28)
    return int(later.timestamp()) * 10**9 + moment_ns % 10**9


def due(catalogue: Catalogue, station: str) -> list[Assessment]:
    """What a purge of ``station``'s archive would remove now: expired, past the grace period, not held."""
    days, now = periods(catalogue), catalogue.clock()
    cutoff = now - (days["ordinary"] + days["grace"]) * DAY_NS      # no class keeps a session shorter
    query = sa.select(sessions).where(
        sessions.c.station == station, sessions.c.purged_ns.is_(None), sessions.c.archived_ns <= cutoff,
        sa.func.coalesce(sessions.c.ended_ns, sessions.c.started_ns) <= cutoff).order_by(sessions.c.started_ns)
    with catalogue.engine.connect() as connection:
        candidates = [dict(row._mapping) for row in connection.execute(query)]
    return [found for found in (assess(catalogue, row, days) for row in candidates) if found.due(now)]


def purge(catalogue: Catalogue, archive: Path, station: str, *, actor: str, why: str,
          dry_run: bool = False, release: Release | None = None,
          progress: Callable[[int, int, str], None] | None = None) -> list[Assessment]:
    """Remove from ``archive`` every session :func:`due` names, each removal logged (in the
    database, in ``<archive>/purges.jsonl`` and to the hook); returns them. ``dry_run``: only list.
    ``release``, given each session before its files go, lets its other keeper (the central
    store) delete it too and returns what to log of that; its :class:`Refused` keeps the
    session, the refusal in its ``refused``."""
    if not why.strip():
        raise CatalogueError("a purge needs a reason")
    found = due(catalogue, station)
    if dry_run:
        return found
    for number, assessment in enumerate(found, 1):
        _remove(catalogue, ArchiveDir(archive), station, assessment, actor, why, release)
        if progress:
            progress(number, len(found), assessment.session)
    return found


def _remove(catalogue: Catalogue, archive: ArchiveDir, station: str, assessment: Assessment,
            actor: str, why: str, release: Release | None) -> None:
    folder = archive.root / assessment.folder
    present = sorted(folder.iterdir()) if folder.is_dir() else []
    strangers = [path.name for path in present if not (path.is_file() and SESSION_FILE.fullmatch(path.name))]
    if strangers:
        raise CatalogueError(f"{folder} holds more than the session's evidence ({', '.join(strangers)}): "
                             f"nothing of it is removed")
    try:
        released = release(assessment) if release is not None else {}
    except Refused as exc:
        assessment.refused = str(exc)
        return
    now = catalogue.clock()
    entry = {"session": assessment.session, "station": station, "folder": assessment.folder,
             "files": len(present), "bytes": sum(path.stat().st_size for path in present),
             "purged_by": actor, "why": why, "purged_ns": now}
    with catalogue.engine.begin() as connection:    # the catalogue commits only once the files are gone
        connection.execute(purges.insert().values(**entry))
        connection.execute(sessions.update().where(sessions.c.session == assessment.session).values(purged_ns=now))
        row = connection.execute(sa.select(sessions).where(sessions.c.session == assessment.session)).one()
        _unlink_session(folder, present, archive.root)
        _log(archive.purge_log, {**entry, **released, "expired": assessment.because,
                                 "catalogued": dict(row._mapping)})
    catalogue.hook("purge", actor, {**entry, **released, "expired": assessment.because})


def _unlink_session(folder: Path, files: list[Path], root: Path) -> None:
    """The evidence files are read-only (0444): unlinking needs only the folder writable, which
    a custodian may have taken away; the purge gives it back for exactly this folder."""
    if files and not os.access(folder, os.W_OK):
        os.chmod(folder, folder.stat().st_mode | 0o200)
    for path in files:
        path.unlink()
    if folder.exists():
        folder.rmdir()
    for parent in folder.parents:        # the day, unit, device and officer folders it leaves empty
        if parent == root or any(parent.iterdir()):
            sync_directory(parent)
            break
        parent.rmdir()


def _log(path: Path, entry: dict[str, Any]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, json.dumps(entry, ensure_ascii=False).encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)


def report(assessment: Assessment) -> dict[str, Any]:
    return asdict(assessment)

