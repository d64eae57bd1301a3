"""The audit trail's journal: the same signed entries, also in an append-only file in the archive.

``<archive>/audit/journal-<station id>.jsonl`` is an audit file (docs/audit-format.md): one
entry a line, appended and fsynced by :class:`station.custody.audit.AuditTrail` after the
database committed the entry and before ``record`` returns. A crash between the two leaves the
database one entry ahead: the next entry's append, or :meth:`Journal.reconcile` whenever the
station opens, appends what the database holds beyond the journal. A journal ahead of the database means the database was lost
or replaced: the station refuses to open until ``bodycam-station rebuild`` replays the journal
(:func:`replay`) into a new database: the trail itself, and the users, cases, links, legal holds,
ledger, retention periods, confidential marks and export requests (the copy ledger) its entries
changed, and what the areas above custody restore from their own entries (``replay``'s
``appliers``: the sample inspections). Login lockouts and failure counts are not restored
(docs/catalogue.md, "Rebuild").
"""
from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from station.catalogue.catalogue import LONG_TERM_YEARS, case_links, cases, holds, ledger, retention
from station.custody import audit
from station.custody.access import confidential, users
from station.custody.audit import DONE, AuditError, Entry
from station.custody.exports import APPROVED, MADE, REFUSED, REQUESTED, SLIP_NAME, requests

FOLDER = "audit"


def path(archive: Path, station: str) -> Path:
    """The journal of the station whose dock key has id ``station``."""
    return Path(archive) / FOLDER / f"journal-{station}.jsonl"


class Journal:
    """The journal of the trail of ``engine`` that the key ``public_key`` signs, at ``file``."""

    def __init__(self, file: Path, engine: Engine, public_key: bytes) -> None:
        self.file, self.engine, self.public_key = file, engine, public_key

    def __call__(self, entry: Entry) -> None:
        """Bring the journal up to ``entry`` (committed): under the file's lock, every entry this
        key signed after the journal's last, in order, so that writers finishing in another order
        (or one that died between its commit and its line) leave neither a gap nor a swap."""
        self.file.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.file, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            last = last_seq(self.file)
            if entry.seq <= last:
                return
            missing = [e for e in audit.entries(self.engine, after=last) if e.seq < entry.seq]
            lines = [line(e) for e in missing + [entry] if e.public_key == self.public_key]
            size = os.fstat(descriptor).st_size
            torn = size and os.pread(descriptor, 1, size - 1) != b"\n"     # a crash in a line: end it first
            os.write(descriptor, b"\n" * bool(torn) + b"".join(lines))
            os.fsync(descriptor)
        finally:
            os.close(descriptor)

    def reconcile(self) -> None:
        """Append what the database holds beyond the journal; refuse a database holding fewer
        entries than the journal (lost, or replaced by an older copy)."""
        journalled, stored = last_seq(self.file), audit.last_seq(self.engine)
        if stored < journalled:
            raise AuditError(f"the station's database holds the audit trail up to entry {stored} but its journal "
                             f"{self.file} up to entry {journalled}: the database was lost or replaced; run "
                             f"'bodycam-station rebuild' to restore it from the journal and the archive.")
        last = next(audit.entries(self.engine, seqs=[stored]), None) if stored > journalled else None
        if last is not None:
            self(last)


def line(entry: Entry) -> bytes:
    """An entry as a line of an audit file."""
    return (json.dumps(entry.as_json(), ensure_ascii=False, sort_keys=True) + "\n").encode()


def read(journal: Path) -> Iterator[Entry]:
    """The journal's entries in order (none if it does not exist). A line torn by a crash is
    passed over: its entry follows again whole, and a line lost otherwise shows as a gap in
    the chain when the entries are verified."""
    try:
        lines = journal.read_bytes().split(b"\n")
    except FileNotFoundError:
        return
    for text in lines:
        try:
            yield _entry(text)
        except (ValueError, KeyError, TypeError):
            continue


def _entry(text: bytes) -> Entry:
    item = json.loads(text)
    return Entry(item["entry"], bytes.fromhex(item["public_key"]), bytes.fromhex(item["signature"]))


def last_seq(journal: Path, chunk: int = 1 << 16) -> int:
    """The ``seq`` of the journal's last whole entry (0: none), read from its end."""
    try:
        with open(journal, "rb") as file:
            return _last_seq(file, chunk)
    except FileNotFoundError:
        return 0


def _last_seq(file: BinaryIO, chunk: int) -> int:
    size = file.seek(0, os.SEEK_END)
    while True:
        start = max(0, size - chunk)
        file.seek(start)
        lines = file.read(size - start).split(b"\n")
        for text in reversed(lines if start == 0 else lines[1:]):
            try:
                return _entry(text).seq
            except (ValueError, KeyError, TypeError):
                continue        # an empty or torn line
        if start == 0:
            return 0
        chunk *= 4


# How an area above custody restores what its entries changed: action -> apply(connection, detail).
Appliers = Mapping[str, Callable[[Connection, dict[str, Any]], None]]


def replay(engine: Engine, journal: Path, trusted: set[bytes], appliers: Appliers | None = None) -> int:
    """Restore into an empty trail the journal's entries and what they changed (``appliers``:
    those of the areas above custody); returns the last ``seq``. The journal must verify
    (signatures and chain) before anything is written."""
    stored = list(read(journal))
    problems = audit.verify_entries(stored, trusted)
    if problems:
        raise AuditError(f"{journal} does not verify: {problems[0]}")
    with engine.begin() as connection:
        for entry in stored:
            audit.insert(connection, entry)
            if entry.body["outcome"] == DONE:
                _apply(connection, entry.body, appliers or {})
        _sequences_after(connection, (holds, requests))
    return stored[-1].seq if stored else 0


def _sequences_after(connection: Connection, tables: tuple[Any, ...]) -> None:
    """PostgreSQL numbers new rows from a sequence that rows replayed with their own ids did not
    advance: set it past them (SQLite takes the largest id)."""
    if connection.dialect.name != "postgresql":
        return
    for table in tables:
        connection.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                                   f"COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM {table.name}"))


def _apply(connection: Connection, body: dict[str, Any], appliers: Appliers) -> None:
    detail, actor, at = body["detail"], body["actor"], body["detail"].get("stored_ns", body["time_ns"])
    action = body["action"]
    if action == "user-add":
        connection.execute(users.insert().values(name=detail["user"], full_name=detail["full_name"] or detail["user"],
                                                 role=detail["role"], password=detail["password_hash"],
                                                 created_ns=body["time_ns"], created_by=actor))
    elif action == "user-password":
        connection.execute(users.update().where(users.c.name == detail["user"])
                           .values(password=detail["password_hash"]))
    elif action == "user-role":
        connection.execute(users.update().where(users.c.name == detail["user"]).values(role=detail["role"]))
    elif action in ("user-disable", "user-enable"):
        connection.execute(users.update().where(users.c.name == detail["user"])
                           .values(disabled_ns=body["time_ns"] if action == "user-disable" else None))
    elif action == "mark-confidential":
        connection.execute(confidential.delete().where(confidential.c.session == body["footage"][0]))
        connection.execute(confidential.insert().values(session=body["footage"][0], level=detail["level"],
                                                        reason=body["reason"], marked_by=actor,
                                                        marked_ns=body["time_ns"]))
    elif action == "clear-confidential":
        connection.execute(confidential.delete().where(confidential.c.session == body["footage"][0]))
    elif action in _CATALOGUE:
        _CATALOGUE[action](connection, detail, actor, at)
    elif action in _EXPORTS:
        _export(connection, body)
    elif action in appliers:
        appliers[action](connection, detail)


_CATALOGUE = {
    "case-opened": lambda c, d, actor, at: c.execute(cases.insert().values(
        number=d["case"], name=d["name"], party=d["party"], opened_ns=at, opened_by=actor,
        retention_years=d.get("retention_years", LONG_TERM_YEARS))),
    "case-retention": lambda c, d, actor, at: c.execute(cases.update().where(cases.c.number == d["case"]).values(
        retention_years=d["retention_years"])),
    "case-closed": lambda c, d, actor, at: c.execute(cases.update().where(cases.c.number == d["case"]).values(
        closed_ns=at, closed_by=actor)),
    "case-linked": lambda c, d, actor, at: c.execute(case_links.insert().values(
        case_number=d["case"], session=d["session"], from_ns=d["from_ns"], until_ns=d["until_ns"], linked_by=actor,
        linked_ns=at)),
    "hold-placed": lambda c, d, actor, at: c.execute(holds.insert().values(
        id=d["hold"], session=d["session"], case_number=d["case"], reason=d["reason"], placed_by=actor,
        placed_ns=at)),
    "hold-released": lambda c, d, actor, at: c.execute(holds.update().where(holds.c.id == d["hold"]).values(
        released_by=actor, released_ns=at)),
    "retention-set": lambda c, d, actor, at: c.execute(retention.update().where(
        retention.c["class"] == d["class"]).values(days=d["days"])),
    "device-assigned": lambda c, d, actor, at: c.execute(ledger.insert().values(
        device=d["device"], police_number=d["officer"], out_ns=d["at_ns"], out_by=actor)),
    "device-returned": lambda c, d, actor, at: c.execute(ledger.update().where(
        ledger.c.device == d["device"], ledger.c.in_ns.is_(None)).values(in_ns=d["at_ns"], in_by=actor)),
}


def _export(connection: Connection, body: dict[str, Any]) -> None:
    """An export entry's change to its request's row of the copy ledger, its seq added to the row's entries.
    A journal from before the entries carried ``stored_ns`` gives the entry's own time instead."""
    number, change = body["detail"]["request"], _EXPORTS[body["action"]](body)
    if body["action"] == "export-request":
        connection.execute(requests.insert().values(id=number, state=REQUESTED, audit_seqs="", **change))
    else:
        connection.execute(requests.update().where(requests.c.id == number).values(**change))
    connection.execute(requests.update().where(requests.c.id == number).values(
        audit_seqs=sa.func.trim(requests.c.audit_seqs + " " + str(body["seq"]))))


def _requested(body: dict[str, Any]) -> dict[str, Any]:
    detail = body["detail"]
    return {"scope": detail["scope"], "target": detail["target"], "start_ns": detail["start_ns"],
            "end_ns": detail["end_ns"], "sessions": " ".join(body["footage"]), "reason": body["reason"],
            "destination": detail["destination"], "place": detail.get("place"), "requester": body["actor"],
            "recipient": detail["recipient"], "requested_ns": detail.get("stored_ns", body["time_ns"])}


# Each export entry's change to its row of the copy ledger (station.custody.exports), as the workflow made it.
_EXPORTS = {
    "export-request": _requested,
    "export-approve": lambda body: {"state": APPROVED, "decided_by": body["actor"], "decision_note": body["reason"],
                                    "decided_ns": body["detail"].get("stored_ns", body["time_ns"])},
    "export-refuse": lambda body: {"state": REFUSED, "decided_by": body["actor"], "decision_note": body["reason"],
                                   "decided_ns": body["detail"].get("stored_ns", body["time_ns"])},
    "export-make": lambda body: {"state": MADE, "package": body["detail"].get("path", body["detail"]["package"]),
                                 "made_ns": body["detail"].get("stored_ns", body["time_ns"]),
                                 "slip_sha256": body["detail"].get("files", {}).get(SLIP_NAME)},
    "export-handover": lambda body: {"taken_by": body["detail"]["taken_by"], "handed_by": body["actor"],
                                     "taken_ns": body["detail"].get("stored_ns", body["time_ns"])},
}
