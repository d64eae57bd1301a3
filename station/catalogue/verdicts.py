"""Each archived session's last verification, kept so that reading it costs no re-reading.

Verifying a session (``evidence.verify``) reads every byte of its videos: about 2 s per hour
of 1080p. So it runs once when a pull files the session (``station.intake.pull``; the files the
pull just took are not read again: their hashes are those the sink took as they arrived), again on a
schedule (``bodycam-station verify`` of the archive, from a timer) and when a user asks for it
("verify now" on the review page); each run stores here the verdict of every segment with the
time it was checked, and how the session's footage lies in its files (``playback``, worked out
from the same reading). The review page shows these instead of reading the footage at every
opening. A file altered after its last check shows as it was checked until the next check:
the time shown says how old the verdict is.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from evidence.verify import Elsewhere, verify_session
from station.catalogue import playback
from station.catalogue.playback import SessionFootage

metadata = sa.MetaData()
session_checks = sa.Table(
    "session_checks", metadata,
    sa.Column("session", sa.String(128), primary_key=True),
    sa.Column("checked_ns", sa.BigInteger, nullable=False),
    sa.Column("layout", sa.Text, nullable=False),             # JSON: playback.to_json of the session, as checked
)
segment_verdicts = sa.Table(
    "segment_verdicts", metadata,
    sa.Column("session", sa.String(128), sa.ForeignKey("session_checks.session"), primary_key=True),
    sa.Column("name", sa.String(32), primary_key=True),        # the video's file name (an unsealed one too)
    sa.Column("state", sa.String(16), nullable=False),         # OK, RECOVERED, TAMPERED, MISSING …
    sa.Column("detail", sa.Text, nullable=False),
)


def create_tables(connection: Connection) -> None:
    metadata.create_all(connection)


class Where(Protocol):
    """Where a session's files are read (``station.catalogue.footage.CatalogueFootage``)."""

    elsewhere: Elsewhere

    def open(self, path: Path) -> BinaryIO:
        """The file, from the archive or the central store."""


@dataclass(frozen=True)
class Checked:
    """A session as last verified, each segment with its verdict, and when that was."""

    footage: SessionFootage
    checked_ns: int

    @property
    def ok(self) -> bool:
        return not self.footage.problems and all(s.good for s in self.footage.segments)


class Verdicts:
    """The stored verdicts of the station's sessions."""

    def __init__(self, engine: Engine, clock: Callable[[], int] = time.time_ns) -> None:
        self.engine, self.clock = engine, clock

    def check(self, folder: Path, where: Where | None = None, digests: Mapping[str, str] | None = None) -> Checked:
        """Verify the session in ``folder`` now (every byte; a video freed from the archive in the
        central store, through ``where``: the footage's) and store the verdicts. ``digests``: the
        SHA-256 of files just taken into it, hashed as they arrived (``evidence.verify.verify_session``)."""
        verdict = verify_session(folder, elsewhere=where.elsewhere if where else None, digests=digests)
        footage, now = playback.load(folder, verdict, where.open if where else playback.open_local), self.clock()
        with self.engine.begin() as connection:
            connection.execute(segment_verdicts.delete().where(segment_verdicts.c.session == footage.session))
            connection.execute(session_checks.delete().where(session_checks.c.session == footage.session))
            connection.execute(session_checks.insert().values(session=footage.session, checked_ns=now,
                                                              layout=playback.to_json(footage)))
            if footage.segments:
                connection.execute(segment_verdicts.insert(), [
                    {"session": footage.session, "name": s.name, "state": s.state, "detail": s.detail}
                    for s in footage.segments])
        return Checked(footage, now)

    def stored(self, folder: Path) -> Checked | None:
        """The last stored check of the session in ``folder`` (no file read); None if never checked."""
        with self.engine.connect() as connection:
            check = connection.execute(sa.select(session_checks).where(session_checks.c.session == folder.name)).first()
            states = {row.name: row for row in connection.execute(
                sa.select(segment_verdicts).where(segment_verdicts.c.session == folder.name))}
        if check is None:
            return None
        footage = playback.from_json(folder, check.layout)
        for segment in footage.segments:
            segment.state, segment.detail = states[segment.name].state, states[segment.name].detail
        return Checked(footage, check.checked_ns)

    def latest(self, folder: Path, where: Where | None = None) -> Checked:
        """The stored check, or (never checked) one made and stored now."""
        return self.stored(folder) or self.check(folder, where)
