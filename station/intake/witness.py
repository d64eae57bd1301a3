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
by ``bodycam-station verify``. A witness opened for a pull also signs each refusal into the
audit trail (actor ``station``, action ``docking-refused``). A supervisor who has looked into
one acknowledges it (``bodycam-station witness ack``, itself an audit entry); ``verify`` then
names it as acknowledged, no longer as open.
"""
from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from evidence.records import SignedRecord
from station.custody import audit
from station.custody.access import Access, User
from station.db import DatabaseError, Migration

ACKNOWLEDGED = "docking-acknowledged"         # the audit action of a refused docking acknowledged
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
acknowledgements = sa.Table(
    "witness_acknowledgements", metadata,
    sa.Column("refusal", sa.Integer, sa.ForeignKey("witness_refusals.id"), primary_key=True, autoincrement=False),
    sa.Column("user", sa.String(64), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("acknowledged_ns", sa.BigInteger, nullable=False),
    sa.Column("audit_seq", sa.BigInteger, nullable=False),     # the signed entry that records it
)


def _create(connection: Connection) -> None:
    metadata.create_all(connection, tables=[records, refusals])


MIGRATIONS = [
    Migration(1, "the chain records taken per device key, and the dockings refused", _create),
    Migration(2, "the refusals a supervisor acknowledged",
              lambda connection: metadata.create_all(connection, tables=[acknowledgements])),
]


class Witness:
    """What this station saw of each device's chain, and the checks against it; with ``trail``
    each refusal is signed into the audit trail too."""

    def __init__(self, engine: Engine, trail: audit.AuditTrail | None = None) -> None:
        self.engine, self.trail = engine, trail

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

    def refuse(self, key: str, device: str, reason: str) -> int:
        """Keep a refused docking of device ``key``; returns its number (the REFUSAL-ID)."""
        number = self._write(refusals.insert().values(key_id=key, device=device, refused_ns=time.time_ns(),
                                                      reason=reason)).inserted_primary_key[0]
        if self.trail is not None:
            self.trail.record(audit.STATION, "docking-refused", reason=reason,
                              detail={"refusal": number, "key_id": key, "device": device})
        return number

    def refusals(self, number: int | None = None) -> list[dict[str, Any]]:
        """Every refused docking (or the one numbered ``number``), oldest first; the keys
        ``acknowledged_by``, ``acknowledged_ns`` and ``acknowledgement`` (the reason) are None
        while it is open."""
        query = sa.select(refusals, acknowledgements.c.user.label("acknowledged_by"),
                          acknowledgements.c.acknowledged_ns, acknowledgements.c.reason.label("acknowledgement")) \
            .select_from(refusals.outerjoin(acknowledgements, acknowledgements.c.refusal == refusals.c.id)) \
            .order_by(refusals.c.id)
        if number is not None:
            query = query.where(refusals.c.id == number)
        try:
            with self.engine.connect() as connection:
                return [dict(row._mapping) for row in connection.execute(query)]
        except sa.exc.SQLAlchemyError as exc:
            raise DatabaseError(f"cannot read the witness tables: {exc}") from exc

    def acknowledge_as(self, gate: Access, user: User, number: int, reason: str | None) -> tuple[dict[str, Any], int]:
        """``user`` acknowledges refused docking ``number``, saying why it may rest: refused
        (audited) unless their role may, the reason is given and the docking is open. The
        refusal and the audit entry's number."""
        gate.require(user, "witness-ack", action=ACKNOWLEDGED, reason=reason)
        reason = gate.require_reason(user, ACKNOWLEDGED, reason, [])
        found = self.refusals(number)
        if not found:
            gate.refuse(user, ACKNOWLEDGED, f"there is no refused docking {number}.", reason=reason)
        refusal = found[0]
        if refusal["acknowledged_by"] is not None:
            when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(refusal["acknowledged_ns"] // 10**9))
            gate.refuse(user, ACKNOWLEDGED, f"refused docking {number} was acknowledged already by "
                                            f"{refusal['acknowledged_by']} on {when}.", reason=reason)
        entry = gate.audit.record(user.name, ACKNOWLEDGED, role=user.role, reason=reason,
                                  detail={"refusal": number, "key_id": refusal["key_id"], "device": refusal["device"]})
        self.acknowledge(number, user.name, reason, entry.seq)
        return refusal, entry.seq

    def acknowledge(self, number: int, user: str, reason: str, audit_seq: int) -> None:
        """Mark refusal ``number`` acknowledged by ``user``, as audit entry ``audit_seq`` records."""
        self._write(acknowledgements.insert().values(refusal=number, user=user, reason=reason,
                                                     acknowledged_ns=time.time_ns(), audit_seq=audit_seq))

    def _known(self, key: str, seq: int) -> Any:
        return self._one(sa.select(records).where(records.c.key_id == key, records.c.seq == seq))

    def _one(self, query: sa.Select) -> Any:
        try:
            with self.engine.connect() as connection:
                return connection.execute(query).first()
        except sa.exc.SQLAlchemyError as exc:
            raise DatabaseError(f"cannot read the witness tables: {exc}") from exc

    def _write(self, statement: sa.Insert) -> sa.CursorResult:
        try:
            with self.engine.begin() as connection:
                return connection.execute(statement)
        except sa.exc.SQLAlchemyError as exc:
            raise DatabaseError(f"cannot write the witness tables: {exc}") from exc
