"""Stand-ins for the access area (issue 17) until it lands on main: accounts, the audit trail and
export requests, kept in memory, enough to run the page and its browser tests against real
footage; they go when the real area is wired in through the same interfaces
(``station.web.ports``)."""
from __future__ import annotations

import hashlib
import hmac
import os
import threading
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Callable

from station.web.ports import (
    APPROVE_EXPORT,
    CASE,
    DONE,
    HOLD,
    READ_AUDIT,
    REQUEST_EXPORT,
    SEARCH,
    VIEW,
    WRITE_UP,
    Account,
    AuditEntry,
    ExportRequest,
)

ROLES = {       # the access issue's roles: custodians pull and catalogue, reviewers view, supervisors approve
    "custodian": frozenset({SEARCH, CASE, WRITE_UP}),
    "reviewer": frozenset({SEARCH, VIEW, REQUEST_EXPORT, WRITE_UP}),
    "supervisor": frozenset({SEARCH, VIEW, REQUEST_EXPORT, APPROVE_EXPORT, READ_AUDIT, CASE, HOLD, WRITE_UP}),
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
