"""Exports need approval (S5): requested with a reason, decided by another supervisor, made once
by the named recipient, handed over on the record. The rows are the copy ledger: who asked,
who approved, who made the copy, for whom, who took it and when. Each change's audit entry carries
what it stored (its time as ``stored_ns``), so that ``bodycam-station rebuild`` restores the
ledger from the journal (``station.custody.journal``) when the database is lost.
"""
from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from evidence import EvidenceError
from station.catalogue.footage import Footage, Session, in_range, read_session
from station.custody import audit
from station.custody.access import Access, AccessError, User, short_enough
from station.db import Migration

AREA = "exports"
REQUESTED, APPROVED, REFUSED, MADE = "requested", "approved", "refused", "made"
SCOPES = ("session", "range", "case")

metadata = sa.MetaData()
requests = sa.Table(
    "export_requests", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("scope", sa.String(16), nullable=False),
    sa.Column("target", sa.String(128), nullable=False),       # a session id or a case number
    sa.Column("start_ns", sa.BigInteger),                       # a time range of the session
    sa.Column("end_ns", sa.BigInteger),
    sa.Column("sessions", sa.Text, nullable=False),            # the sessions it covers, space-separated
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("destination", sa.Text, nullable=False),         # for whom: the court, the procuratorate …
    sa.Column("place", sa.Text),                               # where it was recorded, as the requester states it
    sa.Column("requester", sa.String(64), nullable=False),
    sa.Column("recipient", sa.String(64), nullable=False),     # the station user who makes and carries the copy
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("requested_ns", sa.BigInteger, nullable=False),
    sa.Column("decided_by", sa.String(64)),
    sa.Column("decided_ns", sa.BigInteger),
    sa.Column("decision_note", sa.Text),
    sa.Column("made_ns", sa.BigInteger),
    sa.Column("package", sa.Text),
    sa.Column("taken_by", sa.Text),
    sa.Column("taken_ns", sa.BigInteger),
    sa.Column("handed_by", sa.String(64)),
    sa.Column("audit_seqs", sa.Text, nullable=False, default=""),  # this export's audit entries
    sa.Column("slip_sha256", sa.String(64)),                   # the package's retrieval slip (调用单)
)
SLIP_NAME = "retrieval-slip.pdf"        # the retrieval slip's name in a package


def _create_if_absent(connection: Connection) -> None:
    metadata.create_all(connection, checkfirst=True)


def _slip_column(connection: Connection) -> None:
    """Databases made before version 2 lack the slip's column (a new one has it from version 1)."""
    if "slip_sha256" not in {column["name"] for column in sa.inspect(connection).get_columns("export_requests")}:
        connection.execute(sa.text("ALTER TABLE export_requests ADD COLUMN slip_sha256 VARCHAR(64)"))


# A database made before this area had its own migrations got these tables from access's version 2.
MIGRATIONS = [Migration(1, "export requests and the copy ledger: made, or kept as they were if a station "
                           "from before this area had made them already", _create_if_absent),
              Migration(2, "each made export's retrieval slip in the copy ledger", _slip_column)]


@dataclass(frozen=True)
class Request:
    """One row of the copy ledger."""

    row: Any

    def __getattr__(self, name: str) -> Any:
        return getattr(self.row, name)

    @property
    def session_ids(self) -> list[str]:
        return self.row.sessions.split()

    @property
    def seqs(self) -> list[int]:
        return [int(seq) for seq in self.row.audit_seqs.split()]


class Exports:
    """The export workflow over ``access`` (users, rights, the audit trail) and ``footage``."""

    def __init__(self, access: Access, footage: Footage) -> None:
        self.access, self.footage = access, footage
        self.engine, self.audit = access.engine, access.audit

    def get(self, number: int) -> Request:
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(requests).where(requests.c.id == number)).first()
        if row is None:
            raise AccessError(f"there is no export request {number}.")
        return Request(row)

    def request(self, user: User, scope: str, target: str, *, reason: str | None, recipient: str,
                destination: str, start_ns: int | None = None, end_ns: int | None = None,
                place: str | None = None) -> Request:
        """A reviewer asks for a session, a time range of one, or a case, with a reason."""
        self.access.require(user, "export-request", action="export-request", footage=[target], reason=reason)
        reason = self.access.require_reason(user, "export-request", reason, [target])
        short_enough("destination", destination)
        if scope not in SCOPES:
            raise AccessError(f"an export covers a {', a '.join(SCOPES)}, not a {scope!r}.")
        if scope == "range" and (start_ns is None or end_ns is None or end_ns <= start_ns):
            raise AccessError("a time range needs a start before its end.")
        sessions = self.footage.sessions_of_case(target) if scope == "case" else [target]
        if not sessions or any(self.footage.folder(s) is None for s in sessions):
            self.access.refuse(user, "export-request", f"no {scope} {target} is archived.", footage=[target],
                               reason=reason)
        self.access.require_visible(user, "export-request", sessions, reason)
        if scope == "range" and not in_range(read_session(self.footage.folder(target)), start_ns, end_ns):
            raise AccessError(f"session {target} has no footage in that time range.")
        taker = self.access.user(recipient)
        if taker is None or not taker.may("export-make"):
            raise AccessError(f"the recipient must be a station user who may make exports, not {recipient!r}.")
        requested_ns = time.time_ns()
        with self.engine.begin() as connection:
            number = connection.execute(requests.insert().values(
                scope=scope, target=target, start_ns=start_ns, end_ns=end_ns, sessions=" ".join(sessions),
                reason=reason, destination=destination, place=place, requester=user.name, recipient=recipient,
                state=REQUESTED, requested_ns=requested_ns, audit_seqs="")).inserted_primary_key[0]
        self._log(number, user, "export-request", sessions, reason,
                  {"scope": scope, "target": target, "start_ns": start_ns, "end_ns": end_ns,
                   "recipient": recipient, "destination": destination, "place": place, "stored_ns": requested_ns})
        return self.get(number)

    def decide(self, user: User, number: int, approve: bool, note: str | None = None) -> Request:
        """A supervisor other than the requester approves or refuses a pending request."""
        action = "export-approve" if approve else "export-refuse"
        wanted = self.get(number)
        self.access.require(user, "export-decide", action=action, footage=wanted.session_ids)
        if user.name == wanted.requester:
            self.access.refuse(user, action, f"export {number} was requested by {user.name}: "
                                             f"another supervisor must decide it.", footage=wanted.session_ids)
        self.access.require_visible(user, action, wanted.session_ids)
        if not approve:
            note = self.access.require_reason(user, action, note, wanted.session_ids)
        decided_ns = time.time_ns()
        with self.engine.begin() as connection:
            done = connection.execute(requests.update().where(requests.c.id == number, requests.c.state == REQUESTED)
                                      .values(state=APPROVED if approve else REFUSED, decided_by=user.name,
                                              decided_ns=decided_ns, decision_note=note)).rowcount
        if not done:
            self.access.refuse(user, action, f"export {number} is {wanted.state} already.", footage=wanted.session_ids)
        self._log(number, user, action, wanted.session_ids, note, {"stored_ns": decided_ns})
        return self.get(number)

    def make(self, user: User, number: int, out: Path,
             build: Callable[..., dict[str, str]]) -> Path:
        """The named recipient makes the package of an approved export, once. ``build(folder, request,
        chosen, requester=, approver=, maker=, made_ns=)`` writes its files and returns their SHA-256 by name
        (:func:`station.custody.package.build`)."""
        wanted = self.get(number)
        footage = wanted.session_ids
        self.access.require(user, "export-make", action="export-make", footage=footage)
        if wanted.state != APPROVED:
            self.access.refuse(user, "export-make", f"export {number} is {wanted.state}, not approved: "
                                                    f"nothing is made.", footage=footage)
        if user.name != wanted.recipient:
            self.access.refuse(user, "export-make", f"export {number} is for {wanted.recipient} to make, "
                                                    f"not {user.name}.", footage=footage)
        final = Path(out) / f"export-{number:06d}"
        if final.exists():
            raise AccessError(f"{final} exists already; choose another folder.")
        chosen = self._segments(wanted)
        final.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".export-{number}-", dir=final.parent))
        try:
            made_ns = time.time_ns()
            hashes = build(work, wanted, chosen, requester=self._who(wanted.requester),
                           approver=self._who(wanted.decided_by), maker=self._who(user.name), made_ns=made_ns)
            with self.engine.begin() as connection:     # once: only the first maker finds it approved
                claimed = connection.execute(requests.update().where(requests.c.id == number,
                                                                     requests.c.state == APPROVED)
                                             .values(state=MADE, made_ns=made_ns, package=str(final),
                                                     slip_sha256=hashes.get(SLIP_NAME))).rowcount
            if not claimed:
                self.access.refuse(user, "export-make", f"export {number} was made already.", footage=footage)
            self._log(number, user, "export-make", footage, wanted.reason,
                      {"package": final.name, "files": hashes, "path": str(final), "stored_ns": made_ns})
            audit.write_jsonl(work / "audit.jsonl", audit.entries(self.engine, seqs=self.get(number).seqs))
            work.rename(final)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return final

    def handover(self, user: User, number: int, taken_by: str) -> Request:
        """Who took the copy, and when (S5): recorded by a custodian or supervisor."""
        short_enough("recipient's name", taken_by)
        wanted = self.get(number)
        self.access.require(user, "export-handover", action="export-handover", footage=wanted.session_ids)
        if wanted.state != MADE or wanted.taken_by:
            self.access.refuse(user, "export-handover", f"export {number} is {wanted.state}"
                               f"{', handed over already' if wanted.taken_by else ''}: nothing to hand over.",
                               footage=wanted.session_ids)
        taken_ns = time.time_ns()
        with self.engine.begin() as connection:
            connection.execute(requests.update().where(requests.c.id == number)
                               .values(taken_by=taken_by, taken_ns=taken_ns, handed_by=user.name))
        self._log(number, user, "export-handover", wanted.session_ids, None,
                  {"taken_by": taken_by, "stored_ns": taken_ns})
        return self.get(number)

    def ledger(self, user: User) -> list[Request]:
        self.access.require(user, "export-handover" if user.role != "administrator" else "audit", action="ledger")
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(requests).order_by(requests.c.id)).all()
        self.audit.record(user.name, "ledger", role=user.role)
        return [Request(row) for row in rows]

    def _who(self, name: str) -> str:
        user = self.access.user(name)
        return f"{user.full_name}（{name}）" if user and user.full_name != name else name

    def _segments(self, wanted: Request) -> list[tuple[Session, list]]:
        chosen = []
        for session_id in wanted.session_ids:
            folder = self.footage.folder(session_id)
            if folder is None:
                raise AccessError(f"session {session_id} of export {wanted.id} is no longer in the archive.")
            try:
                session = read_session(folder)
            except EvidenceError as exc:
                raise AccessError(f"session {session_id} does not verify, nothing is exported: {exc}") from exc
            chosen.append((session, in_range(session, wanted.start_ns, wanted.end_ns)))
        return chosen

    def _log(self, number: int, user: User, action: str, footage: list[str], reason: str | None,
             detail: dict[str, Any]) -> None:
        entry = self.audit.record(user.name, action, role=user.role, footage=footage, reason=reason,
                                  detail={"request": number, **detail})
        with self.engine.begin() as connection:
            connection.execute(requests.update().where(requests.c.id == number).values(
                audit_seqs=sa.func.trim(requests.c.audit_seqs + " " + str(entry.seq))))
