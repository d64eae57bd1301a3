"""The station's audit trail: append-only, hash-chained, each entry signed with the dock's key.

Every login, search, view, export request, approval, export, hold, purge and write-up,
done or refused, is one entry: who (user and role), what (the action and its outcome),
which footage, why (the reason given), when, and from where. An entry's body is
canonical JSON (as the evidence records, :func:`evidence.records.canonical`); it names the
hash of the entry before it (``prev``) and its position (``seq``, from 1), and the dock's
Ed25519 key signs ``DOMAIN + canonical body``. The dock key already identifies this station
to its devices; the domain string keeps an audit signature from ever passing for a receipt.
The format is written down for third parties in ``docs/audit-format.md``.

The table refuses UPDATE and DELETE (triggers); whoever bypasses that with the database's
own tools still cannot edit, remove or reorder an entry without ``audit verify`` naming it.
"""
from __future__ import annotations

import getpass
import hashlib
import json
import os
import socket
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.engine import Connection, Engine

from bodycam_errors import BodycamError
from evidence.keys import Signer, key_id
from evidence.records import GENESIS, canonical, record_hash
from station.db import Migration

FORMAT = "bodycam-audit/1"
DOMAIN = b"bodycam-audit/1\n"
DONE, REFUSED = "done", "refused"
STATION = "station"      # the actor of what the station does by itself (no user may take the name)

AREA = "audit"
metadata = sa.MetaData()
trail = sa.Table(
    "audit_trail", metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("body", sa.Text, nullable=False),           # the canonical JSON, exactly as signed
    sa.Column("public_key", sa.String(64), nullable=False),
    sa.Column("signature", sa.String(128), nullable=False),
)
_FOOTAGE_INDEX = sa.Table(
    "audit_footage", metadata,                           # which entries name which session: the trail of a session
    sa.Column("seq", sa.BigInteger, sa.ForeignKey("audit_trail.seq"), primary_key=True),
    sa.Column("session", sa.String(128), primary_key=True),
)

APPEND_LOCK = 0x626F647963616D   # PostgreSQL advisory lock key of the trail ("bodycam")


class AuditError(BodycamError, ValueError):
    """The audit trail cannot be read or written."""


def _append_only(connection: Connection) -> None:
    """Refuse UPDATE and DELETE on the trail, in the database itself."""
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text(
            "CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'the audit trail is append-only'; END $$"))
        for table in ("audit_trail", "audit_footage"):
            connection.execute(sa.text(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                                       f"FOR EACH ROW EXECUTE FUNCTION audit_append_only()"))
        return
    for table in ("audit_trail", "audit_footage"):
        for verb in ("UPDATE", "DELETE"):
            connection.execute(sa.text(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END"))


MIGRATIONS = [
    Migration(1, "the audit trail and its footage index", lambda c: metadata.create_all(c)),
    Migration(2, "the trail refuses UPDATE and DELETE", _append_only),
]


def here() -> str:
    """Where a command-line action comes from: the operating-system user and the host."""
    return f"cli {getpass.getuser()}@{socket.gethostname()} pid {os.getpid()}"


@dataclass(frozen=True)
class Entry:
    """One stored entry: its body (as signed), the signing key and the signature."""

    body: dict[str, Any]
    public_key: bytes
    signature: bytes

    @property
    def seq(self) -> int:
        return self.body["seq"]

    @property
    def hash(self) -> str:
        return record_hash(self.body)

    def as_json(self) -> dict[str, Any]:
        """The exported form, one line of an audit file (docs/audit-format.md)."""
        return {"entry": self.body, "public_key": self.public_key.hex(), "signature": self.signature.hex()}


# Members of an entry's detail that the trail keeps (so that a rebuild can restore sign-ins) but
# the review page does not show: they stay in the signed body, the journal and the audit file
# (`audit show --json`, `audit export`), which must keep them to verify.
HIDDEN_DETAIL = ("password_hash",)


def shown(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` as people read it: the hidden members of its detail replaced by ``"***"``."""
    detail = {key: "***" if key in HIDDEN_DETAIL else value for key, value in body["detail"].items()}
    return {**body, "detail": detail}


class AuditTrail:
    """Appends signed entries to the trail of ``engine``; ``source`` says where actions come from.

    :meth:`record` is the one hook every area calls for an action it did or refused.
    """

    def __init__(self, engine: Engine, signer: Signer, source: str | None = None,
                 journal: Callable[[Entry], None] | None = None) -> None:
        self.engine, self.signer, self.source, self.journal = engine, signer, source or here(), journal

    def record(self, actor: str | None, action: str, *, role: str | None = None, footage: Sequence[str] = (),
               reason: str | None = None, outcome: str = DONE, detail: dict[str, Any] | None = None) -> Entry:
        """Append one entry: ``actor`` (a station user, None before anyone logged in) did or was
        refused ``action`` on ``footage`` (session ids, or ``session/file``) for ``reason``. The
        entry is committed, then handed to the ``journal`` (written to disk) before this returns."""
        for attempt in range(20):             # a writer that does not lock may take the same seq: take the next
            try:
                with self.engine.begin() as connection:
                    entry = self._append(connection, actor, action, role, list(footage), reason, outcome,
                                         detail or {})
                break
            except sa.exc.IntegrityError:
                if attempt == 19:
                    raise AuditError("cannot append to the audit trail: other writers kept taking its next place")
        if self.journal is not None:
            self.journal(entry)
        return entry

    def _append(self, connection: Connection, actor: str | None, action: str, role: str | None,
                footage: list[str], reason: str | None, outcome: str, detail: dict[str, Any]) -> Entry:
        if connection.dialect.name == "postgresql":     # stations sharing one trail append in turn
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": APPEND_LOCK})
        last = connection.execute(sa.select(trail.c.seq, trail.c.body).order_by(trail.c.seq.desc()).limit(1)).first()
        body = {"format": FORMAT, "seq": last.seq + 1 if last else 1,
                "prev": hashlib.sha256(last.body.encode()).hexdigest() if last else GENESIS,
                "time_ns": time.time_ns(), "actor": actor, "role": role, "action": action, "outcome": outcome,
                "footage": footage, "reason": reason, "source": self.source, "detail": detail,
                "key_id": self.signer.key_id}
        entry = Entry(body, self.signer.public_key, self.signer.sign(DOMAIN + canonical(body)))
        insert(connection, entry)
        return entry


def insert(connection: Connection, entry: Entry) -> None:
    """Store a signed entry (and index the sessions it names)."""
    connection.execute(trail.insert().values(seq=entry.seq, body=canonical(entry.body).decode(),
                                             public_key=entry.public_key.hex(), signature=entry.signature.hex()))
    sessions = {item.partition("/")[0] for item in entry.body["footage"]}
    if sessions:
        connection.execute(_FOOTAGE_INDEX.insert(), [{"seq": entry.seq, "session": s} for s in sorted(sessions)])


def entries(engine: Engine, session: str | None = None, seqs: Iterable[int] | None = None,
            after: int = 0) -> Iterator[Entry]:
    """The stored entries in order: all (after ``after``), those naming ``session``, or those numbered ``seqs``."""
    query = sa.select(trail).where(trail.c.seq > after).order_by(trail.c.seq)
    if session is not None:
        query = query.where(trail.c.seq.in_(sa.select(_FOOTAGE_INDEX.c.seq).where(_FOOTAGE_INDEX.c.session == session)))
    if seqs is not None:
        query = query.where(trail.c.seq.in_(list(seqs)))
    with engine.connect() as connection:
        for row in connection.execute(query):
            yield _parse_row(row.seq, row.body, row.public_key, row.signature)


def last_seq(engine: Engine) -> int:
    """The ``seq`` of the trail's last entry (0: an empty trail)."""
    with engine.connect() as connection:
        return connection.scalar(sa.select(sa.func.max(trail.c.seq))) or 0


def _parse_row(seq: int, body: str, public_key: str, signature: str) -> Entry:
    try:
        return Entry(json.loads(body), bytes.fromhex(public_key), bytes.fromhex(signature))
    except ValueError as exc:
        raise AuditError(f"audit entry {seq} cannot be read: {exc}") from exc


def verify(engine: Engine, trusted: set[bytes]) -> list[str]:
    """Every problem of the stored trail, one sentence each (none: intact). Besides what
    :func:`verify_entries` checks, the stored text must be the canonical form of its body."""
    problems, stored = [], []
    with engine.connect() as connection:
        for row in connection.execute(sa.select(trail).order_by(trail.c.seq)):
            try:
                entry = _parse_row(row.seq, row.body, row.public_key, row.signature)
            except AuditError as exc:
                problems.append(str(exc))
                continue
            if entry.body.get("seq") != row.seq:
                problems.append(f"entry {row.seq} holds the body of entry {entry.body.get('seq')}: reordered or moved")
            elif canonical(entry.body).decode() != row.body:
                problems.append(f"entry {row.seq} is not stored in its canonical form: edited")
            stored.append(entry)
    return problems + verify_entries(stored, trusted)


def verify_entries(stored: Sequence[Entry], trusted: set[bytes]) -> list[str]:
    """Check signatures, keys and the chain of entries in their stored order; each gap, edit
    or reordering is named by the entry number where it shows."""
    problems: list[str] = []
    previous: Entry | None = None
    for entry in stored:
        body, seq = entry.body, entry.body.get("seq")
        if entry.public_key not in trusted:
            problems.append(f"entry {seq} is signed by key {key_id(entry.public_key)}, which is not trusted")
        elif body.get("key_id") != key_id(entry.public_key) or not _signed(entry):
            problems.append(f"entry {seq}: its signature does not hold: edited after it was signed")
        expected = previous.seq + 1 if previous else 1
        if seq != expected:
            what = "missing" if isinstance(seq, int) and seq > expected else "out of order"
            problems.append(f"entry {expected} is {what}: entry {seq} comes after "
                            f"{f'entry {previous.seq}' if previous else 'the start'}")
        elif body.get("prev") != (previous.hash if previous else GENESIS):
            problems.append(f"entry {seq} does not follow entry {expected - 1}: an entry before it was edited, "
                            f"removed or reordered")
        previous = entry if isinstance(seq, int) else previous
    return problems


def _signed(entry: Entry) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(entry.public_key).verify(entry.signature, DOMAIN + canonical(entry.body))
    except (InvalidSignature, ValueError):
        return False
    return True


def write_jsonl(path: Path, chosen: Iterable[Entry]) -> int:
    """Write entries as an audit file (one JSON object a line); returns how many."""
    count = 0
    with open(path, "w", encoding="utf-8") as out:
        for entry in chosen:
            out.write(json.dumps(entry.as_json(), ensure_ascii=False, sort_keys=True) + "\n")
            count += 1
    return count
