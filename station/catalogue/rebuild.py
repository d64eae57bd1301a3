"""Rebuild the catalogue from the archive alone: the archive is the truth, the catalogue its index.

Every session folder of the archive is read again: its records (signature, enrolled key,
session) and its videos and indexes (exactly the bytes their manifest sealed), the write-ups
beside them and the purge log, whose lines give back the catalogue rows of purged sessions.
What the database alone knows (cases and their links, holds, the ledger, retention periods)
is kept. ``bodycam-station rebuild``.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from evidence import EvidenceError
from evidence.files import sha256_file
from evidence.keys import read_keys
from evidence.paths import ArchiveDir
from evidence.records import INDEX_SUFFIX, MANIFEST_SUFFIX, SESSION_CLOSE, SESSION_OPEN, read_record
from station.catalogue import writeup
from station.catalogue.catalogue import Catalogue, markers, purges, records, segments, sessions, station_id, writeups

SESSION_FOLDERS = "[0-9][0-9][0-9][0-9]/[0-9][0-9]/[0-9][0-9]/*/*/*/*"


@dataclass
class Rebuilt:
    sessions: int = 0
    files: int = 0
    problems: list[str] = field(default_factory=list)


def rebuild(catalogue: Catalogue, archive: Path,
            progress: Callable[[int, int, str], None] | None = None) -> Rebuilt:
    """Catalogue everything ``archive`` holds again, as the sink would have filed it;
    ``progress(done, total, session)`` after each session."""
    folders, station, done = ArchiveDir(archive), station_id(archive), Rebuilt()
    trusted = read_keys(folders.devices)
    _forget(catalogue, station)
    found = [folder for folder in sorted(folders.root.glob(SESSION_FOLDERS)) if (folder / SESSION_OPEN).is_file()]
    for folder in found:
        done.files += _session(catalogue, folders, station, folder, trusted, done.problems)
        done.sessions += 1
        if progress:
            progress(done.sessions, len(found), folder.name)
    for path in sorted(folders.writeups.glob("*/writeup-*.json")):
        if catalogue.session(path.parent.name) is None:
            done.problems.append(f"{path}: its session is not in the archive")
            continue
        try:
            writeup.file(catalogue, archive, path)
        except EvidenceError as exc:
            done.problems.append(str(exc))
    _purge_log(catalogue, folders, done.problems)
    with catalogue.engine.connect() as connection:
        lost = connection.scalars(sa.select(sessions.c.session).where(
            sessions.c.station == station, sessions.c.purged_ns.is_(None),
            sessions.c.session.not_in(sa.select(records.c.session))))
        done.problems += [f"session {name} is catalogued but no longer in the archive" for name in lost]
    return done


def _forget(catalogue: Catalogue, station: str) -> None:
    """Drop what the archive will tell again; session rows stay for the cases and holds that name them."""
    own = sa.select(sessions.c.session).where(sessions.c.station == station)
    with catalogue.engine.begin() as connection:
        for table in (markers, segments, records, writeups):
            connection.execute(table.delete().where(table.c.session.in_(own)))


def _session(catalogue: Catalogue, folders: ArchiveDir, station: str, folder: Path, trusted: set[bytes],
             problems: list[str]) -> int:
    relative, filed = folder.relative_to(folders.root).as_posix(), 0
    try:
        opened = read_record(folder / SESSION_OPEN)
        if opened.public_key not in trusted or opened.body["session"] != folder.name:
            raise EvidenceError("not opened by an enrolled device for this folder")
        catalogue.take(station, relative, SESSION_OPEN, opened, (folder / SESSION_OPEN).stat().st_mtime_ns)
        filed += 1
        for manifest_path in sorted(folder.glob("seg-*.mp4" + MANIFEST_SUFFIX)):
            manifest = read_record(manifest_path)
            if manifest.public_key != opened.public_key or manifest.body["session"] != folder.name:
                raise EvidenceError(f"{manifest_path.name} belongs to another device or session")
            catalogue.take(station, relative, manifest_path.name, manifest)
            filed += 1
            video = manifest.body["file"]["name"]
            for name, sealed in ((video + INDEX_SUFFIX, manifest.body["index"]), (video, manifest.body["file"])):
                path = folder / name
                if path.is_file() and path.stat().st_size == sealed["size"] \
                        and sha256_file(path).hexdigest() == sealed["sha256"]:
                    catalogue.take(station, relative, name, None)
                    filed += 1
                elif path.exists():
                    problems.append(f"{path} differs from what its manifest sealed")
        if (folder / SESSION_CLOSE).exists():
            closed = read_record(folder / SESSION_CLOSE)
            if closed.public_key != opened.public_key or closed.body["session"] != folder.name:
                raise EvidenceError("the close record belongs to another device or session")
            catalogue.take(station, relative, SESSION_CLOSE, closed)
            filed += 1
    except (EvidenceError, KeyError, TypeError) as exc:
        problems.append(f"{relative}: {exc}")
    return filed


def _purge_log(catalogue: Catalogue, folders: ArchiveDir, problems: list[str]) -> None:
    """The archive's own log of what the purge removed: back into the table if the database lost it."""
    try:
        lines = folders.purge_log.read_bytes().splitlines()
    except FileNotFoundError:
        return
    with catalogue.engine.begin() as connection:
        known = {(row.session, row.purged_ns) for row in connection.execute(sa.select(purges.c.session,
                                                                                      purges.c.purged_ns))}
        for line in lines:
            try:
                entry = json.loads(line)
                row = {column: entry[column] for column in
                       ("session", "station", "folder", "files", "bytes", "purged_by", "why", "purged_ns")}
            except (ValueError, KeyError, TypeError):
                problems.append(f"{folders.purge_log}: a line that is not a purge entry")
                continue
            if (row["session"], row["purged_ns"]) not in known:
                connection.execute(purges.insert().values(**row))
            _purged_row(connection, entry, folders, problems)


def _purged_row(connection: sa.Connection, entry: dict, folders: ArchiveDir, problems: list[str]) -> None:
    """A purged session's catalogue row stays (``search --purged``): the log line carries it."""
    if connection.execute(sa.select(sessions.c.session).where(sessions.c.session == entry["session"])).first():
        connection.execute(sessions.update().where(sessions.c.session == entry["session"],
                                                   sessions.c.purged_ns.is_(None))
                           .values(purged_ns=entry["purged_ns"]))
        return
    row = entry.get("catalogued")
    if not isinstance(row, dict) or row.get("session") != entry["session"]:
        problems.append(f"{folders.purge_log}: session {entry['session']} was purged by a station that did not "
                        f"log its catalogue row; search --purged cannot show it")
        return
    known = {column.name for column in sessions.columns}
    connection.execute(sessions.insert().values({**{name: value for name, value in row.items() if name in known},
                                                 "purged_ns": entry["purged_ns"]}))
