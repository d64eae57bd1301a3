"""The catalogue: an index of everything the archive holds, and the cases it is linked to.

The archive is the truth; the catalogue is an index of it, filled as the archive sink accepts
each verified file (:meth:`Catalogue.take`) and rebuildable from the archive alone
(:func:`rebuild`). It lives in the station's database (``station.db``: SQLite in the archive
folder, or one PostgreSQL shared by several stations), in the tables of the area
``catalogue`` (docs/catalogue.md). The same area holds the cases, legal holds, retention
periods (``station.catalogue.retention``), the device ledger (``station.catalogue.ledger``) and the officers'
write-ups (``station.catalogue.writeup``).

The API other parts of the station use::

    catalogue = Catalogue(engine)                     # engine: station.services.open_database
    catalogue.search(officer="100001", date="2025-01-31", case="K-1")   # -> list of session dicts
    catalogue.session("BC00001-…")                   # one session dict, or None
    catalogue.segments("BC00001-…")                  # its segments, markers included
    catalogue.open_case("K-1", "name", "party", actor="custodian", retention_years=30)   # None: permanent
    catalogue.set_case_retention("K-1", None, actor="supervisor")
    catalogue.link("K-1", "BC00001-…", actor=…, from_ns=…, until_ns=…)
    catalogue.cases("BC00001-…"); catalogue.case("K-1"); catalogue.close_case("K-1", actor=…)
    catalogue.hold(reason, actor=…, session=… | case=…); catalogue.release_hold(hold_id, actor=…)

A session dict holds the columns of ``sessions`` (times in ns since 1970 UTC) plus
``verification`` (``verified`` when the close record and every segment's manifest, index and
video were accepted, else ``incomplete``). Every change a person makes takes an ``actor`` and is
told to the ``hook`` (``hook(action, actor, details)``) so that an audit trail can record it.
"""
from __future__ import annotations

import contextlib
import re
import time
from datetime import timezone, tzinfo
from pathlib import Path
from typing import Any, Callable, Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from bodycam_errors import BodycamError
from evidence.keys import key_id, load_public_key
from evidence.paths import ArchiveDir
from evidence.records import SESSION_CLOSE, SESSION_OPEN, SignedRecord, place_text
from station.catalogue import verdicts
from station.db import Migration
from station.words import zone as words_zone

AREA = "catalogue"
Hook = Callable[[str, str, dict[str, Any]], None]
CLOCK_RANK = {"trusted": 0, "unchecked": 1, "untrusted": 2}     # a session's verdict is its worst record's
DAY_NS = 86_400 * 10**9
LONG_TERM_YEARS = 30     # the long-term period: a case's file, by default, and marked footage in the store
# What a session folder may hold: its open and close records, its segments, their indexes and manifests.
SESSION_FILE = re.compile(r"session-(open|close)\.json|seg-(\d{6})\.mp4(\.idx|\.manifest)?")
# The most characters a text may have: each is kept in the signed audit trail for good, and read
# by people: a reason (to view, hold, export, mark or decide), a write-up's account, a case's name
# and party, where an export goes and who took it.
LIMITS = {"reason": 1_000, "write-up": 10_000, "case name": 200, "case party": 200, "destination": 200,
          "recipient's name": 200}


class CatalogueError(BodycamError, ValueError):
    """A request the catalogue cannot carry out: an unknown case or session, a case closed twice …"""


def too_long(what: str, text: str) -> str | None:
    """The sentence refusing ``text`` as a ``what`` of ``LIMITS`` when it is longer, else None."""
    if len(text) <= LIMITS[what]:
        return None
    return f"a {what} has at most {LIMITS[what]} characters (this one has {len(text)})."


def within_limit(what: str, text: str) -> str:
    """``text``, unless it is too long for a ``what``: then CatalogueError, in one sentence."""
    refused = too_long(what, text)
    if refused:
        raise CatalogueError(refused)
    return text


def no_hook(action: str, actor: str, details: dict[str, Any]) -> None:
    """The default hook: nothing listens."""


metadata = sa.MetaData()
sessions = sa.Table(
    "sessions", metadata,
    sa.Column("session", sa.String(128), primary_key=True),
    sa.Column("station", sa.String(16), nullable=False),      # key id of the dock whose archive holds it
    sa.Column("folder", sa.Text, nullable=False),              # relative to that archive
    sa.Column("device", sa.String(32), nullable=False),
    sa.Column("key_id", sa.String(16), nullable=False),
    sa.Column("police_number", sa.String(16), nullable=False),
    sa.Column("officer", sa.String(64), nullable=False),
    sa.Column("unit_number", sa.String(16), nullable=False),
    sa.Column("unit", sa.String(64), nullable=False),
    sa.Column("firmware", sa.String(32), nullable=False),
    sa.Column("started_ns", sa.BigInteger, nullable=False),
    sa.Column("ended_ns", sa.BigInteger),
    sa.Column("archived_ns", sa.BigInteger, nullable=False),   # mtime of the archived open record
    sa.Column("clock", sa.String(16), nullable=False),
    sa.Column("clock_reason", sa.Text),
    sa.Column("previous_session", sa.String(128)),
    sa.Column("gap_ms", sa.BigInteger),
    sa.Column("pre_event_ms", sa.BigInteger, nullable=False),
    sa.Column("segments_sealed", sa.Integer),                  # from the close record
    sa.Column("manifests", sa.Integer, nullable=False, server_default="0"),
    sa.Column("indexes", sa.Integer, nullable=False, server_default="0"),
    sa.Column("videos", sa.Integer, nullable=False, server_default="0"),
    sa.Column("stop_reason", sa.Text),
    sa.Column("stop_code", sa.String(32)),
    sa.Column("interrupted", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("marked", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("place_first", sa.Text),                         # "lat,lon" (degrees) of its first sealed fix
    sa.Column("place_last", sa.Text),                          # and of its last
    sa.Column("purged_ns", sa.BigInteger),
    sa.Index("sessions_officer", "police_number", "started_ns"),
    sa.Index("sessions_officer_name", "officer", "started_ns"),
    sa.Index("sessions_device", "device", "started_ns"),
    sa.Index("sessions_unit", "unit_number", "started_ns"),
    sa.Index("sessions_started", "started_ns"),
    sa.Index("sessions_key_end", "key_id", "ended_ns"),        # each device's last session (S1); migration 5
)
segments = sa.Table(
    "segments", metadata,
    sa.Column("session", sa.String(128), sa.ForeignKey("sessions.session"), primary_key=True),
    sa.Column("number", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(32), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("frames", sa.Integer, nullable=False),
    sa.Column("first_ns", sa.BigInteger),
    sa.Column("last_ns", sa.BigInteger),
    sa.Column("flags", sa.Text, nullable=False),               # space-separated: recovered, marked
    sa.Column("clock", sa.String(16), nullable=False),
    sa.Column("place_first", sa.Text),                         # "lat,lon" of its first and last sealed fix
    sa.Column("place_last", sa.Text),
    sa.Column("index_archived", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("video_archived", sa.Boolean, nullable=False, server_default=sa.false()),
)
markers = sa.Table(
    "markers", metadata,
    sa.Column("session", sa.String(128), sa.ForeignKey("sessions.session"), primary_key=True),
    sa.Column("segment", sa.Integer, primary_key=True),
    sa.Column("n", sa.BigInteger, primary_key=True),
    sa.Column("pts", sa.BigInteger, nullable=False),
    sa.Column("wall_ns", sa.BigInteger, nullable=False),
    sa.Column("label", sa.Text, nullable=False),
    sa.Index("markers_label", "label"),
)
records = sa.Table(            # every signed record archived: the chain the sink checks new records against
    "records", metadata,
    sa.Column("key_id", sa.String(16), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("prev", sa.String(64), nullable=False),
    sa.Column("session", sa.String(128), sa.ForeignKey("sessions.session"), nullable=False),
    sa.Column("name", sa.String(64), nullable=False),
)
cases = sa.Table(
    "cases", metadata,
    sa.Column("number", sa.String(64), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("party", sa.Text, nullable=False),
    sa.Column("opened_ns", sa.BigInteger, nullable=False),
    sa.Column("opened_by", sa.String(64), nullable=False),
    sa.Column("closed_ns", sa.BigInteger),
    sa.Column("closed_by", sa.String(64)),
    sa.Column("retention_years", sa.Integer),                 # how long its file is kept after closing; null: permanent
)
case_links = sa.Table(
    "case_links", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("case_number", sa.String(64), sa.ForeignKey("cases.number"), nullable=False),
    sa.Column("session", sa.String(128), sa.ForeignKey("sessions.session"), nullable=False),
    sa.Column("from_ns", sa.BigInteger),                       # a time range of the session, or the whole
    sa.Column("until_ns", sa.BigInteger),
    sa.Column("linked_by", sa.String(64), nullable=False),
    sa.Column("linked_ns", sa.BigInteger, nullable=False),
    sa.Index("case_links_session", "session"),
    sa.Index("case_links_case", "case_number"),
)
holds = sa.Table(
    "holds", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("session", sa.String(128), sa.ForeignKey("sessions.session")),
    sa.Column("case_number", sa.String(64), sa.ForeignKey("cases.number")),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("placed_by", sa.String(64), nullable=False),
    sa.Column("placed_ns", sa.BigInteger, nullable=False),
    sa.Column("released_by", sa.String(64)),
    sa.Column("released_ns", sa.BigInteger),
)
retention = sa.Table(
    "retention", metadata,
    sa.Column("class", sa.String(32), primary_key=True),
    sa.Column("days", sa.Integer),                             # null: kept without end
    sa.Column("what", sa.Text, nullable=False),
)
purges = sa.Table(
    "purges", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("session", sa.String(128), nullable=False),
    sa.Column("station", sa.String(16), nullable=False),
    sa.Column("folder", sa.Text, nullable=False),
    sa.Column("files", sa.Integer, nullable=False),
    sa.Column("bytes", sa.BigInteger, nullable=False),
    sa.Column("purged_by", sa.String(64), nullable=False),
    sa.Column("why", sa.Text, nullable=False),
    sa.Column("purged_ns", sa.BigInteger, nullable=False),
)
ledger = sa.Table(
    "ledger", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("device", sa.String(32), nullable=False),
    sa.Column("police_number", sa.String(16), nullable=False),
    sa.Column("out_ns", sa.BigInteger, nullable=False),
    sa.Column("out_by", sa.String(64), nullable=False),        # who handed the device over
    sa.Column("in_ns", sa.BigInteger),
    sa.Column("in_by", sa.String(64)),                         # who took it back
    sa.Index("ledger_device", "device", "out_ns"),
)
writeups = sa.Table(
    "writeups", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("session", sa.String(128), sa.ForeignKey("sessions.session"), nullable=False),
    sa.Column("station", sa.String(16), nullable=False),
    sa.Column("file", sa.Text, nullable=False),                # the signed station record, in the archive
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("written_by", sa.String(64), nullable=False),
    sa.Column("written_ns", sa.BigInteger, nullable=False),
)
dockings = sa.Table(            # each pull of a device: the daily offload check (S1) reads it
    "dockings", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("station", sa.String(16), nullable=False),
    sa.Column("key_id", sa.String(16), nullable=False),
    sa.Column("docked_ns", sa.BigInteger, nullable=False),
    sa.Index("dockings_key", "key_id", "docked_ns"),
)

# Defaults from the rules (docs/catalogue.md): the longest applicable period wins.
DEFAULT_RETENTION = [
    {"class": "ordinary", "days": 365, "what": "every session: the strictest of 3 months, 6 months, 1 year (S3)"},
    {"class": "marked", "days": None, "what": "a session with a marked segment (R7): long-term"},
    {"class": "grace", "days": 30, "what": "after expiry, before a purge may remove it"},
]

# Filing runs for every item of every pull: its statements are built once and each call binds only
# their values, so SQLAlchemy compiles each once (building them per call cost half of the filing).
_THIS_SESSION = sessions.c.session == sa.bindparam("which")
_FILED = sa.select(records.c.hash).where(records.c.key_id == sa.bindparam("key_id"),
                                         records.c.seq == sa.bindparam("seq"))
_FILE_RECORD = records.insert()
_HOLDER = sa.select(sessions.c.station).where(sessions.c.session == sa.bindparam("session"))
_OPEN_SESSION = sessions.insert()
_REOPEN_SESSION = sessions.update().where(_THIS_SESSION)
_FILE_SEGMENT = segments.insert()
_FILE_MARKERS = markers.insert()
_SESSION_SO_FAR = sa.select(sessions.c.clock, sessions.c.ended_ns, sessions.c.segments_sealed).where(
    sessions.c.session == sa.bindparam("session"))


def _placed(fix: sa.Column, order: sa.ColumnElement) -> sa.ScalarSelect:
    """The fix of the session's first segment in ``order`` that has one (manifests may arrive in any order)."""
    return (sa.select(fix).where(segments.c.session == sessions.c.session, fix.is_not(None))
            .order_by(order).limit(1).scalar_subquery())


_SEGMENT_FILED = sessions.update().where(_THIS_SESSION).values(
    manifests=sessions.c.manifests + 1, clock=sa.bindparam("worst_clock"), ended_ns=sa.bindparam("ended_by"),
    marked=sa.or_(sessions.c.marked, sa.bindparam("has_marks", type_=sa.Boolean)),
    place_first=_placed(segments.c.place_first, segments.c.number),
    place_last=_placed(segments.c.place_last, segments.c.number.desc()))
_SESSION_CLOSED = sessions.update().where(_THIS_SESSION)
_FILE_ARCHIVED = {      # a segment's index or video marked archived, and the session's count of them
    kind: (segments.update().where(segments.c.session == sa.bindparam("which"),
                                   segments.c.number == sa.bindparam("segment_number"), flag == sa.false())
           .values({flag: True}),
           sessions.update().where(_THIS_SESSION).values({count: count + 1}))
    for kind, flag, count in (("index", segments.c.index_archived, sessions.c.indexes),
                              ("video", segments.c.video_archived, sessions.c.videos))}


def _create_v1(connection: Connection) -> None:
    metadata.create_all(connection)
    connection.execute(retention.insert(), DEFAULT_RETENTION)


def _segment_places(connection: Connection) -> None:
    """Databases made before version 2 lack the segments' place columns (a new one has them from version 1)."""
    present = {column["name"] for column in sa.inspect(connection).get_columns("segments")}
    for name in ("place_first", "place_last"):
        if name not in present:
            connection.execute(sa.text(f"ALTER TABLE segments ADD COLUMN {name} TEXT"))


def _case_retention(connection: Connection) -> None:
    """Each case carries its file's retention period (a new database has the column from version
    1); the cases of an older one are kept for the long-term period, and the single ``case``
    class of 365 days after closing, wrong for evidence, is gone."""
    if "retention_years" not in {column["name"] for column in sa.inspect(connection).get_columns("cases")}:
        connection.execute(sa.text("ALTER TABLE cases ADD COLUMN retention_years INTEGER"))
        connection.execute(cases.update().values(retention_years=LONG_TERM_YEARS))
    connection.execute(retention.delete().where(retention.c["class"] == "case"))


def _key_end_index(connection: Connection) -> None:
    """Databases made before version 5 lack it (a new one has it from version 1)."""
    next(index for index in sessions.indexes if index.name == "sessions_key_end").create(connection, checkfirst=True)


# Version 1 creates the tables as defined above; a later change is a new migration with its own DDL.
MIGRATIONS = [Migration(1, "catalogue, cases, holds, retention, purges, ledger, write-ups, dockings", _create_v1),
              Migration(2, "each segment's first and last sealed GNSS fix", _segment_places),
              Migration(3, "each session's stored verification verdicts", verdicts.create_tables),
              Migration(4, "each case's retention period", _case_retention),
              Migration(5, "an index of sessions by device key and end: each device's last session (S1)",
                        _key_end_index)]


def station_id(archive: Path) -> str:
    """The station that holds ``archive``: its dock key's id (docs/catalogue.md)."""
    try:
        return key_id(load_public_key(ArchiveDir(archive).public_key.read_text()))
    except FileNotFoundError:
        raise CatalogueError(f"{archive} has no dock key: run 'bodycam-station init --archive {archive}' first") \
            from None


def day_range(day: str, zone: tzinfo) -> tuple[int, int]:
    """The ns range of the day ``YYYY-MM-DD`` in the station's zone."""
    try:
        return words_zone.day_range(day, zone)
    except words_zone.ZoneError as exc:
        raise CatalogueError(str(exc)) from None


def _code(reason: str) -> str:
    return reason.partition(":")[0].strip()


def _worse(a: str, b: str) -> str:
    return max(a, b, key=lambda status: CLOCK_RANK.get(status, len(CLOCK_RANK)))


class Catalogue:
    """The catalogue in ``engine`` (whose schema ``station.services`` made). ``clock`` gives
    now in ns (tests inject one); ``hook`` hears every change a person makes."""

    def __init__(self, engine: Engine, *, hook: Hook = no_hook, clock: Callable[[], int] = time.time_ns) -> None:
        self.engine, self.hook, self.clock = engine, hook, clock

    # -- intake: the archive sink files each verified record and file ------------------------------

    def take(self, station: str, folder: str, name: str, record: SignedRecord | None,
             archived_ns: int = 0) -> None:
        """File an accepted item of the session in ``folder`` (relative to ``station``'s archive):
        a signed record, or (``record`` None) a segment's video or index. Filing twice is harmless.

        A record's row is durable when this returns. A video's or index's is not made durable on
        its own: its segment row, which names exactly the bytes the file must be, was committed
        durably with the manifest before the file could be checked and linked, and the next
        record's commit (the close record at the latest) makes the mark durable with it. A power
        cut in between loses only the mark, so the session reads ``incomplete`` until the file is
        filed again (the next pull, or ``rebuild``, which checks every file), never the reverse."""
        if record is None:
            with self._without_flush() as connection:
                self._take_file(connection, Path(folder).name, name)
            return
        body = record.body
        with self.engine.begin() as connection:
            held = self._holder(connection, station, body["session"]) if name == SESSION_OPEN else None
            if connection.execute(_FILED, {"key_id": body["key_id"], "seq": body["seq"]}).first():
                return
            if name == SESSION_OPEN:
                self._take_open(connection, station, folder, record, archived_ns, held)
            elif name == SESSION_CLOSE:
                self._take_close(connection, record)
            else:
                self._take_segment(connection, record)
                name = body["file"]["name"] + ".manifest"
            connection.execute(_FILE_RECORD, {"key_id": body["key_id"], "seq": body["seq"], "hash": record.hash,
                                              "prev": body["prev"], "session": body["session"], "name": name})

    @contextlib.contextmanager
    def _without_flush(self) -> Iterator[Connection]:
        """A transaction whose commit does not wait for the disk: its log entry becomes durable
        with the next durable commit (SQLite in WAL mode: ``synchronous=NORMAL``; PostgreSQL:
        ``synchronous_commit=off``; in both, the log is written in order)."""
        with self.engine.connect() as connection:
            sqlite = connection.dialect.name == "sqlite"
            connection.exec_driver_sql("PRAGMA synchronous = NORMAL" if sqlite else "SET LOCAL synchronous_commit = off")
            try:
                yield connection
                connection.commit()
            finally:
                if sqlite:
                    connection.rollback()
                    connection.exec_driver_sql("PRAGMA synchronous = FULL")

    @staticmethod
    def _holder(connection: Connection, station: str, session: str) -> str | None:
        """The station that holds ``session`` already, if any; refused if it is not ``station``."""
        held = connection.scalar(_HOLDER, {"session": session})
        if held is not None and held != station:
            raise CatalogueError(f"session {session} is archived by station {held}")
        return held

    def _take_open(self, connection: Connection, station: str, folder: str, record: SignedRecord,
                   archived_ns: int, held: str | None) -> None:
        body = record.body
        link, clock = body.get("link") or {}, body["clock"]
        values = dict(
            session=body["session"], station=station, folder=folder, device=body["device"], key_id=body["key_id"],
            police_number=body["officer"]["police_number"], officer=body["officer"]["name"],
            unit_number=body["unit"]["number"], unit=body["unit"]["name"], firmware=body["firmware"],
            started_ns=body["started_wall"], ended_ns=None, archived_ns=archived_ns, clock=clock["status"],
            clock_reason=clock.get("reason"), previous_session=link.get("previous_session"),
            gap_ms=link.get("gap_ms"), pre_event_ms=body.get("pre_event_ms", 0), segments_sealed=None,
            manifests=0, indexes=0, videos=0, stop_reason=None, stop_code=None, interrupted=False, marked=False,
            place_first=None, place_last=None)
        if held is None:
            connection.execute(_OPEN_SESSION, values)
        else:                      # filed again by a rebuild, which forgot what followed it
            connection.execute(_REOPEN_SESSION, {"which": body["session"], **values})

    def _take_segment(self, connection: Connection, record: SignedRecord) -> None:
        body, session = record.body, record.body["session"]
        frames, flags, place = body["frames"], body.get("flags", []), body.get("place") or {}
        connection.execute(_FILE_SEGMENT, {
            "session": session, "number": body["segment"], "name": body["file"]["name"],
            "size": body["file"]["size"], "sha256": body["file"]["sha256"], "frames": frames["count"],
            "first_ns": (frames["first"] or {}).get("wall"), "last_ns": (frames["last"] or {}).get("wall"),
            "flags": " ".join(flags), "clock": body["clock"]["status"],
            "place_first": place_text(place.get("first")), "place_last": place_text(place.get("last"))})
        if body.get("markers"):
            connection.execute(_FILE_MARKERS, [
                {"session": session, "segment": body["segment"], "n": m["n"], "pts": m["pts"],
                 "wall_ns": m["wall"], "label": m.get("label", "")} for m in body["markers"]])
        row = connection.execute(_SESSION_SO_FAR, {"session": session}).one()
        ended = row.ended_ns
        if row.segments_sealed is None and frames["last"]:        # until the close record says when it ended
            ended = max(ended or 0, frames["last"]["wall"])
        connection.execute(_SEGMENT_FILED, {
            "which": session, "worst_clock": _worse(row.clock, body["clock"]["status"]), "ended_by": ended,
            "has_marks": "marked" in flags or bool(body.get("markers"))})

    def _take_close(self, connection: Connection, record: SignedRecord) -> None:
        body = record.body
        connection.execute(_SESSION_CLOSED, {
            "which": body["session"], "segments_sealed": body["segments"], "stop_reason": body["reason"],
            "stop_code": _code(body["reason"]), "interrupted": "interrupted" in body.get("flags", []),
            "ended_ns": body["ended_wall"]})

    def _take_file(self, connection: Connection, session: str, name: str) -> None:
        number, kind = int(name[4:10]), "index" if name.endswith(".idx") else "video"
        marked, counted = _FILE_ARCHIVED[kind]
        if connection.execute(marked, {"which": session, "segment_number": number}).rowcount:
            connection.execute(counted, {"which": session})

    def folder(self, station: str, session: str) -> str | None:
        """Where ``station``'s archive holds ``session``, relative to it; None if it does not."""
        with self.engine.connect() as connection:
            return connection.scalar(sa.select(sessions.c.folder).where(
                sessions.c.session == session, sessions.c.station == station))

    def neighbours(self, key: str, seq: int) -> list[dict[str, Any]]:
        """The archived records of device key ``key`` at ``seq`` - 1, ``seq`` and ``seq`` + 1."""
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(records.c.seq, records.c.hash, records.c.prev).where(
                records.c.key_id == key, records.c.seq.between(seq - 1, seq + 1)))
            return [dict(row._mapping) for row in rows]

    def docked(self, station: str, device_key: str) -> None:
        """Note that a device docked here now (the daily offload check, S1)."""
        with self.engine.begin() as connection:
            connection.execute(dockings.insert().values(station=station, key_id=device_key, docked_ns=self.clock()))

    # -- reading -------------------------------------------------------------------------------------

    def search(self, *, officer: str | None = None, device: str | None = None, unit: str | None = None,
               date: str | None = None, zone: tzinfo = timezone.utc, since_ns: int | None = None, until_ns: int | None = None,
               case: str | None = None, marked: bool | None = None, label: str | None = None,
               stop: str | None = None, clock: str | None = None, previous: str | None = None,
               station: str | None = None, purged: bool = False, limit: int | None = None) -> list[dict[str, Any]]:
        """Sessions matching every criterion given, oldest first. ``officer``: police number or
        name; ``unit``: unit number or name; ``date``: the day it started (YYYY-MM-DD) in ``zone``;
        ``since_ns``/``until_ns``: it started in that range; ``label``: a marker's label;
        ``stop``: the stop reason's code; ``previous``: it resumes that session. Purged
        sessions only with ``purged``."""
        query = sa.select(sessions)
        if officer is not None:
            query = query.where(sa.or_(sessions.c.police_number == officer, sessions.c.officer == officer))
        if unit is not None:
            query = query.where(sa.or_(sessions.c.unit_number == unit, sessions.c.unit == unit))
        if date is not None:
            first, after = day_range(date, zone)
            query = query.where(sessions.c.started_ns >= first, sessions.c.started_ns < after)
        if since_ns is not None:
            query = query.where(sessions.c.started_ns >= since_ns)
        if until_ns is not None:
            query = query.where(sessions.c.started_ns < until_ns)
        if case is not None:
            query = query.where(sessions.c.session.in_(
                sa.select(case_links.c.session).where(case_links.c.case_number == case)))
        if label is not None:
            query = query.where(sessions.c.session.in_(sa.select(markers.c.session).where(markers.c.label == label)))
        for column, value in ((sessions.c.device, device), (sessions.c.marked, marked),
                              (sessions.c.stop_code, stop), (sessions.c.clock, clock),
                              (sessions.c.previous_session, previous), (sessions.c.station, station)):
            if value is not None:
                query = query.where(column == value)
        if not purged:
            query = query.where(sessions.c.purged_ns.is_(None))
        query = query.order_by(sessions.c.started_ns, sessions.c.session).limit(limit)
        with self.engine.connect() as connection:
            return [_session_dict(row) for row in connection.execute(query)]

    def session(self, session: str) -> dict[str, Any] | None:
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(sessions).where(sessions.c.session == session)).first()
        return _session_dict(row) if row else None

    def segments(self, session: str) -> list[dict[str, Any]]:
        """The session's segments in order, each with its ``markers``."""
        with self.engine.connect() as connection:
            found = [dict(row._mapping) for row in connection.execute(
                sa.select(segments).where(segments.c.session == session).order_by(segments.c.number))]
            marks = [dict(row._mapping) for row in connection.execute(
                sa.select(markers).where(markers.c.session == session).order_by(markers.c.segment, markers.c.n))]
        for segment in found:
            segment["flags"] = segment["flags"].split()
            segment["markers"] = [m for m in marks if m["segment"] == segment["number"]]
        return found

    def _require_session(self, connection: Connection, session: str) -> None:
        if connection.scalar(sa.select(sessions.c.session).where(sessions.c.session == session)) is None:
            raise CatalogueError(f"no session {session!r} in the catalogue")

    # -- cases -----------------------------------------------------------------------------------------

    def open_case(self, number: str, name: str, party: str, *, actor: str,
                  retention_years: int | None = LONG_TERM_YEARS) -> None:
        """Open case ``number``, its file (and so its footage) kept ``retention_years`` after it
        closes (None: permanently)."""
        within_limit("case name", name)
        within_limit("case party", party)
        _check_years(retention_years)
        with self.engine.begin() as connection:
            if connection.scalar(sa.select(cases.c.number).where(cases.c.number == number)) is not None:
                raise CatalogueError(f"case {number} exists already")
            connection.execute(cases.insert().values(number=number, name=name, party=party, opened_ns=self.clock(),
                                                     opened_by=actor, retention_years=retention_years))
        self.hook("case opened", actor, {"case": number, "name": name, "party": party,
                                         "retention_years": retention_years})

    def set_case_retention(self, number: str, retention_years: int | None, *, actor: str) -> None:
        """Set how long case ``number``'s file is kept after it closes (None: permanently)."""
        _check_years(retention_years)
        with self.engine.begin() as connection:
            self._case(connection, number)
            connection.execute(cases.update().where(cases.c.number == number).values(retention_years=retention_years))
        self.hook("case retention", actor, {"case": number, "retention_years": retention_years})

    def close_case(self, number: str, *, actor: str) -> None:
        with self.engine.begin() as connection:
            if self._case(connection, number)["closed_ns"] is not None:
                raise CatalogueError(f"case {number} is closed already")
            connection.execute(cases.update().where(cases.c.number == number).values(
                closed_ns=self.clock(), closed_by=actor))
        self.hook("case closed", actor, {"case": number})

    def link(self, number: str, session: str, *, actor: str, from_ns: int | None = None,
             until_ns: int | None = None) -> None:
        """Link ``session`` (or the part of it from ``from_ns`` until ``until_ns``) to case ``number``."""
        if from_ns is not None and until_ns is not None and until_ns <= from_ns:
            raise CatalogueError("a linked time range must end after it starts")
        with self.engine.begin() as connection:
            self._case(connection, number)
            self._require_session(connection, session)
            connection.execute(case_links.insert().values(case_number=number, session=session, from_ns=from_ns,
                                                          until_ns=until_ns, linked_by=actor,
                                                          linked_ns=self.clock()))
        self.hook("case linked", actor, {"case": number, "session": session, "from_ns": from_ns, "until_ns": until_ns})

    def case(self, number: str) -> dict[str, Any]:
        """The case and its ``links`` (session, time range, who linked it)."""
        with self.engine.connect() as connection:
            found = self._case(connection, number)
            found["links"] = [dict(row._mapping) for row in connection.execute(
                sa.select(case_links).where(case_links.c.case_number == number).order_by(case_links.c.id))]
        return found

    def cases(self, session: str) -> list[dict[str, Any]]:
        """The cases ``session`` is linked to, with the linked range."""
        query = (sa.select(cases, case_links.c.from_ns, case_links.c.until_ns)
                 .join(case_links, case_links.c.case_number == cases.c.number)
                 .where(case_links.c.session == session).order_by(case_links.c.id))
        with self.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def _case(self, connection: Connection, number: str) -> dict[str, Any]:
        row = connection.execute(sa.select(cases).where(cases.c.number == number)).first()
        if row is None:
            raise CatalogueError(f"no case {number!r}")
        return dict(row._mapping)

    # -- legal holds -----------------------------------------------------------------------------------

    def hold(self, reason: str, *, actor: str, session: str | None = None, case: str | None = None) -> int:
        """Suspend deletion of a session, or of every session linked to a case, until released."""
        if (session is None) == (case is None):
            raise CatalogueError("a legal hold is placed on one session or on one case")
        if not reason.strip():
            raise CatalogueError("a legal hold needs a reason")
        within_limit("reason", reason)
        with self.engine.begin() as connection:
            if session is not None:
                self._require_session(connection, session)
            else:
                self._case(connection, case)
            hold_id = connection.execute(holds.insert().values(
                session=session, case_number=case, reason=reason, placed_by=actor,
                placed_ns=self.clock())).inserted_primary_key[0]
        self.hook("hold placed", actor, {"hold": hold_id, "session": session, "case": case, "reason": reason})
        return hold_id

    def release_hold(self, hold_id: int, *, actor: str) -> None:
        with self.engine.begin() as connection:
            done = connection.execute(holds.update().where(holds.c.id == hold_id, holds.c.released_ns.is_(None))
                                      .values(released_by=actor, released_ns=self.clock()))
            if not done.rowcount:
                raise CatalogueError(f"no legal hold {hold_id} in force")
        self.hook("hold released", actor, {"hold": hold_id})

    def holds(self, session: str | None = None) -> list[dict[str, Any]]:
        """Holds in force: all, or those on ``session`` or on a case it is linked to."""
        query = sa.select(holds).where(holds.c.released_ns.is_(None)).order_by(holds.c.id)
        if session is not None:
            query = query.where(sa.or_(holds.c.session == session, holds.c.case_number.in_(
                sa.select(case_links.c.case_number).where(case_links.c.session == session))))
        with self.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]


def _check_years(years: int | None) -> None:
    if years is not None and not 1 <= years <= 200:
        raise CatalogueError(f"a case file's retention period is 1 to 200 years, or permanent, not {years}")


def _session_dict(row: sa.Row) -> dict[str, Any]:
    found = dict(row._mapping)
    sealed = found["segments_sealed"]
    complete = sealed is not None and found["manifests"] == found["indexes"] == found["videos"] == sealed
    found["verification"] = "verified" if complete else "incomplete"
    return found

