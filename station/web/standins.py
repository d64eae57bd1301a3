"""Stand-ins for the station areas the review page uses, until those areas land on main.

The accounts, the audit trail and export requests belong to the access area (issue 17), the
catalogue to issue 16. These keep their state in memory (the catalogue reads the archive's
``index.jsonl``), enough to run the page and its browser tests against real footage; they
go when the real areas are wired in through the same interfaces (``station.web.ports``).
"""
from __future__ import annotations

import hashlib
import hmac
import os
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from station.archive import search as search_index
from station.web import footage
from station.web.ports import (
    APPROVE_EXPORT,
    DONE,
    READ_AUDIT,
    REQUEST_EXPORT,
    SEARCH,
    VIEW,
    Account,
    AuditEntry,
    Criteria,
    ExportRequest,
    SessionEntry,
)

ROLES = {       # the access issue's roles: custodians pull and catalogue, reviewers view, supervisors approve
    "custodian": frozenset({SEARCH}),
    "reviewer": frozenset({SEARCH, VIEW, REQUEST_EXPORT}),
    "supervisor": frozenset({SEARCH, VIEW, REQUEST_EXPORT, APPROVE_EXPORT, READ_AUDIT}),
    "administrator": frozenset({READ_AUDIT}),
}


class MemoryAccounts:
    def __init__(self) -> None:
        self._accounts: dict[str, tuple[Account, bytes, bytes]] = {}

    def add(self, name: str, role: str, password: str) -> None:
        if role not in ROLES:
            raise ValueError(f"no role {role!r}; roles are {', '.join(ROLES)}")
        salt = os.urandom(16)
        self._accounts[name] = (Account(name, role, ROLES[role]), salt, _scrypt(password, salt))

    def authenticate(self, name: str, password: str) -> Account | None:
        account, salt, digest = self._accounts.get(name, (None, b"\0" * 16, b""))
        attempt = _scrypt(password, salt)          # the same work for an unknown name
        return account if account is not None and hmac.compare_digest(attempt, digest) else None


def _scrypt(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)


class MemoryAudit:
    def __init__(self, clock: Callable[[], int]) -> None:
        self.clock = clock
        self.all: list[AuditEntry] = []
        self._lock = threading.Lock()

    def record(self, actor: str | None, action: str, *, role: str | None = None, footage: Sequence[str] = (),
               reason: str | None = None, outcome: str = DONE, detail: dict[str, Any] | None = None,
               source: str = "") -> None:
        with self._lock:
            self.all.append(AuditEntry(self.clock(), actor, role, action, outcome, tuple(footage), reason, source,
                                       detail or {}))

    def entries(self, session: str) -> list[AuditEntry]:
        with self._lock:
            return [entry for entry in self.all if session in entry.footage]


class IndexCatalogue:
    """The archive's ``index.jsonl``; the marker and state criteria read and verify each session."""

    def __init__(self, archive: Path) -> None:
        self.archive = Path(archive)

    def search(self, criteria: Criteria) -> list[SessionEntry]:
        found = []
        for line in search_index(self.archive, officer=criteria.officer, device=criteria.device,
                                 date=criteria.date, case=criteria.case):
            if criteria.unit and criteria.unit not in (line["unit_number"], line["unit"]):
                continue
            entry = SessionEntry(line["session"], line["path"], dict(line))
            if (criteria.marker or criteria.state) and not self._footage_matches(entry, criteria):
                continue
            found.append(entry)
        return sorted(found, key=lambda e: e.session, reverse=True)

    def _footage_matches(self, entry: SessionEntry, criteria: Criteria) -> bool:
        folder = footage.session_folder(self.archive, entry.path)
        if folder is None:
            return False
        session = footage.load(folder)
        return ((not criteria.marker or any(criteria.marker in m.label for m in session.markers))
                and (not criteria.state or any(s.state == criteria.state for s in session.segments)))

    def session(self, session: str) -> SessionEntry | None:
        for line in search_index(self.archive):
            if line["session"] == session:
                return SessionEntry(line["session"], line["path"], dict(line))
        return None


class MemoryExports:
    def __init__(self, clock: Callable[[], int]) -> None:
        self.clock = clock
        self._requests: list[ExportRequest] = []
        self._lock = threading.Lock()

    def request(self, requester: str, session: str, reason: str) -> ExportRequest:
        with self._lock:
            made = ExportRequest(len(self._requests) + 1, session, requester, reason, self.clock(), "requested")
            self._requests.append(made)
            return made

    def decide(self, decider: str, request_id: int, approve: bool) -> ExportRequest:
        with self._lock:
            if not 1 <= request_id <= len(self._requests):
                raise LookupError(f"there is no export request {request_id}")
            asked = self._requests[request_id - 1]
            if asked.requester == decider:
                raise PermissionError("an export is approved or refused by someone other than its requester")
            if asked.state != "requested":
                raise ValueError(f"export request {request_id} was {asked.state} already")
            decided = replace(asked, state="approved" if approve else "refused", decided_by=decider)
            self._requests[request_id - 1] = decided
            return decided

    def requests(self) -> list[ExportRequest]:
        with self._lock:
            return list(self._requests)
