"""The local archive as a cache of the central store: a stored session's videos freed from the
station's disk ``[store] keep_local_days`` after they were stored and read back
(``bodycam-station store free``). Only a video whose stored version the catalogue records (read
back, its SHA-256 the seal's) is freed; the session's signed records, indexes and the device's
identity records stay, so the station still lists, plays (ranged GETs) and verifies it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from evidence.files import sync_directory
from station.catalogue.catalogue import DAY_NS, Catalogue, station_id
from station.store.store import stored_objects, stored_sessions


@dataclass
class Freed:
    sessions: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)        # keys whose local copy was removed
    bytes: int = 0


def free(catalogue: Catalogue, archive: Path, keep_days: int, now_ns: int) -> Freed:
    """Remove the local videos of this station's sessions stored whole at least ``keep_days``
    days before ``now_ns``; each one's stored version stays the one the catalogue names."""
    archive, done = Path(archive), Freed()
    own = {s["session"] for s in catalogue.search(station=station_id(archive))}
    with catalogue.engine.connect() as connection:
        due = [row.session for row in connection.execute(
            sa.select(stored_sessions.c.session).where(stored_sessions.c.stored_ns <= now_ns - keep_days * DAY_NS))
            if row.session in own]
        rows = connection.execute(sa.select(stored_objects.c.key, stored_objects.c.session, stored_objects.c.size)
                                  .where(stored_objects.c.session.in_(due))).all() if due else []
    for row in rows:
        path = archive / row.key
        if not (row.key.endswith(".mp4") and path.is_file()):
            continue
        _unlink(path)
        done.files.append(row.key)
        done.bytes += row.size
        if row.session not in done.sessions:
            done.sessions.append(row.session)
    return done


def _unlink(path: Path) -> None:
    """The video (read-only, 0444) removed, its folder made writable first if a custodian had
    taken that away (as the purge does), and the removal made durable."""
    folder = path.parent
    if not os.access(folder, os.W_OK):
        os.chmod(folder, folder.stat().st_mode | 0o200)
    path.unlink()
    sync_directory(folder)
