"""The dock as witness of every device's chain (docs/evidence-format.md, "The witness").

Nothing on a device can show that its newest records were removed and the chain head rolled
back: the rest of the chain still links. Something outside the device that saw them can. The
station keeps, per device key, every chain record it took (``seq``, hash, ``prev``). At each
docking the device first offers its signed chain head; the head and every record that follows
must continue what the station saw. A head behind the newest record taken (the chain was
rewound), a record whose ``seq`` the station knows with another hash, or one that does not
link to its known neighbour (the chain forked, or skips what was seen) refuses the docking for
release: what the device offers is archived as received under ``refused/``, nothing is
receipted (so nothing is freed on the device), and the refusal is kept here, logged, and shown
by ``bodycam-station verify``.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from evidence.records import SignedRecord
from station.db import DatabaseError, Migration, connect, database_url, migrate

AREA = "witness"
metadata = sa.MetaData()
records = sa.Table(
    "witness_records", metadata,
    sa.Column("key_id", sa.String(16), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("prev", sa.String(64), nullable=False),
    sa.Column("device", sa.String(32), nullable=False),
    sa.Column("item", sa.Text, nullable=False),
    sa.Column("taken_ns", sa.BigInteger, nullable=False),
)
refusals = sa.Table(
    "witness_refusals", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key_id", sa.String(16), nullable=False),
    sa.Column("device", sa.String(32), nullable=False),
    sa.Column("refused_ns", sa.BigInteger, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
)


def _create(connection: Connection) -> None:
    metadata.create_all(connection, tables=[records, refusals])


MIGRATIONS = [Migration(1, "the chain records taken per device key, and the dockings refused", _create)]


def ensure_schema(engine: Engine) -> None:
    migrate(engine, AREA, MIGRATIONS)


def open_witness(archive: Path, url: str | None = None) -> "Witness":
    """The witness in the station database at ``url`` (PostgreSQL for a shared one), else the
    archive's SQLite file; its tables made or upgraded."""
    engine = connect(database_url(archive, url))
    ensure_schema(engine)
    return Witness(engine)


class Witness:
    """What this station saw of each device's chain, and the checks against it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def last(self, key: str) -> tuple[int, str] | None:
        """(seq, hash) of the newest record of ``key`` the station took."""
        row = self._one(sa.select(records.c.seq, records.c.hash).where(records.c.key_id == key)
                        .order_by(records.c.seq.desc()).limit(1))
        return (row.seq, row.hash) if row else None

    def check_head(self, head: SignedRecord) -> str:
        """Why the device's chain head does not continue what was seen ("" if it does)."""
        body = head.body
        last = self.last(body["key_id"])
        if last is None:
            return ""
        if body["seq"] < last[0]:
            return (f"device {body['device']} rewound its chain: its head is record {body['seq']}, but this station "
                    f"took record {last[0]} of it already")
        known = self._known(body["key_id"], body["seq"])
        if known is not None and known.hash != body["head"]:
            return (f"device {body['device']} forked its chain: its head, record {body['seq']}, is not the record "
                    f"{body['seq']} this station took")
        return ""

    def check_record(self, record: SignedRecord) -> str:
        """Why ``record`` does not fit the records of its key the station took ("" if it does)."""
        body, key = record.body, record.body["key_id"]
        known = self._known(key, body["seq"])
        if known is not None and known.hash != record.hash:
            return (f"device {body['device']} forked its chain: record {body['seq']} ({known.item} when this station "
                    f"took it) now differs")
        before = self._known(key, body["seq"] - 1)
        if before is not None and before.hash != body["prev"]:
            return (f"device {body['device']} forked its chain: record {body['seq']} does not follow record "
                    f"{body['seq'] - 1} ({before.item}) this station took")
        after = self._known(key, body["seq"] + 1)
        if after is not None and after.prev != record.hash:
            return (f"device {body['device']} forked its chain: record {body['seq']} is not the one record "
                    f"{body['seq'] + 1} ({after.item}) follows")
        return ""

    def saw(self, record: SignedRecord, item: str) -> None:
        body = record.body
        if self._known(body["key_id"], body["seq"]) is not None:
            return
        self._write(records.insert().values(key_id=body["key_id"], seq=body["seq"], hash=record.hash, prev=body["prev"],
                                            device=body["device"], item=item, taken_ns=time.time_ns()))

    def refuse(self, key: str, device: str, reason: str) -> None:
        self._write(refusals.insert().values(key_id=key, device=device, refused_ns=time.time_ns(), reason=reason))

    def refusals(self) -> list[dict[str, Any]]:
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(refusals).order_by(refusals.c.id))
            return [dict(row._mapping) for row in rows]

    def _known(self, key: str, seq: int) -> Any:
        return self._one(sa.select(records).where(records.c.key_id == key, records.c.seq == seq))

    def _one(self, query: sa.Select) -> Any:
        try:
            with self.engine.connect() as connection:
                return connection.execute(query).first()
        except sa.exc.SQLAlchemyError as exc:
            raise DatabaseError(f"cannot read the witness tables: {exc}") from exc

    def _write(self, statement: sa.Insert) -> None:
        try:
            with self.engine.begin() as connection:
                connection.execute(statement)
        except sa.exc.SQLAlchemyError as exc:
            raise DatabaseError(f"cannot write the witness tables: {exc}") from exc
