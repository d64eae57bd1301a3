"""Each archived session's last verification, kept so that reading it costs no re-reading.

Verifying a session (``evidence.verify``) reads every byte of its videos: about 2 s per hour
of 1080p. So it runs once when a pull files the session (``station.intake.pull``), again on a
schedule (``bodycam-station verify`` of the archive, from a timer) and when a user asks for it
("verify now" on the review page); each run stores here the verdict of every segment and the
session's problems, with the time they were checked. The review page shows these, and when
they were checked, instead of reading the footage at every opening. A file altered after its
last check shows as it was checked until the next check: the time shown says how old the
verdict is.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from evidence import EvidenceError
from evidence.records import SESSION_OPEN, read_record
from evidence.verify import SegmentVerdict, SessionVerdict, verify_session

metadata = sa.MetaData()
session_checks = sa.Table(
    "session_checks", metadata,
    sa.Column("session", sa.String(128), primary_key=True),
    sa.Column("checked_ns", sa.BigInteger, nullable=False),
    sa.Column("closed", sa.Text, nullable=False),              # the verifier's word on how the session ended
    sa.Column("problems", sa.Text, nullable=False),            # JSON list of the session's problems
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


@dataclass(frozen=True)
class Checked:
    """A session's stored verification: the verifier's verdict and when it was reached."""

    verdict: SessionVerdict
    checked_ns: int


class Verdicts:
    """The stored verdicts of the station's sessions."""

    def __init__(self, engine: Engine, clock: Callable[[], int] = time.time_ns) -> None:
        self.engine, self.clock = engine, clock

    def check(self, folder: Path) -> Checked:
        """Verify the session in ``folder`` now (every byte) and store the verdict."""
        verdict, now = verify_session(folder), self.clock()
        with self.engine.begin() as connection:
            connection.execute(segment_verdicts.delete().where(segment_verdicts.c.session == verdict.session))
            connection.execute(session_checks.delete().where(session_checks.c.session == verdict.session))
            connection.execute(session_checks.insert().values(
                session=verdict.session, checked_ns=now, closed=verdict.closed,
                problems=json.dumps(verdict.problems, ensure_ascii=False)))
            if verdict.segments:
                connection.execute(segment_verdicts.insert(), [
                    {"session": verdict.session, "name": s.name, "state": s.state, "detail": s.detail}
                    for s in verdict.segments])
        return Checked(verdict, now)

    def stored(self, folder: Path) -> Checked | None:
        """The last stored verdict of the session in ``folder``, its open record read again (a
        small signed file) but no video; None if it was never checked."""
        session = folder.name
        with self.engine.connect() as connection:
            check = connection.execute(sa.select(session_checks).where(session_checks.c.session == session)).first()
            rows = connection.execute(sa.select(segment_verdicts).where(segment_verdicts.c.session == session)
                                      .order_by(segment_verdicts.c.name)).all() if check else []
        if check is None:
            return None
        verdict = SessionVerdict(folder, session, [SegmentVerdict(r.name, r.state, r.detail) for r in rows],
                                 json.loads(check.problems), check.closed)
        try:
            verdict.open_record = read_record(folder / SESSION_OPEN)
        except (EvidenceError, OSError):
            verdict.problems.append("the session-open record no longer reads: verify the session again")
        return Checked(verdict, check.checked_ns)

    def latest(self, folder: Path) -> Checked:
        """The stored verdict, or (never checked) one reached and stored now."""
        return self.stored(folder) or self.check(folder)
