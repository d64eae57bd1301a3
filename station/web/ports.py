"""What the review page needs from the rest of the station, as small interfaces.

The page takes these as arguments (``station.web.app.create_app``) and never reaches into
the tables behind them: the accounts and the audit trail belong to the access area, the
catalogue and export requests to theirs. ``station.web.standins`` implements them until
those areas land; the page and its tests stay the same when they are swapped.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

# What a role may do on the page (the access area's permission names); each route names the one
# it needs (deny by default).
SEARCH = "search"
VIEW = "view"                      # play footage, after giving a reason
REQUEST_EXPORT = "export-request"
APPROVE_EXPORT = "export-decide"
READ_AUDIT = "audit"
DONE, REFUSED = "done", "refused"  # an audit entry's outcome


@dataclass(frozen=True)
class Account:
    name: str
    role: str
    permissions: frozenset[str]

    def may(self, permission: str) -> bool:
        return permission in self.permissions


@dataclass(frozen=True)
class AuditEntry:
    """Who (``actor`` None before signing in, and ``role``) did or was refused (``outcome``) what
    (``action``) to which footage (session ids), why (``reason``), when and from where."""

    time_ns: int
    actor: str | None
    role: str | None
    action: str
    outcome: str
    footage: tuple[str, ...]
    reason: str | None
    source: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class ExportRequest:
    id: int
    session: str
    requester: str
    reason: str
    requested_ns: int
    state: str                     # "requested", "approved" or "refused"
    decided_by: str | None = None


@dataclass(frozen=True)
class Criteria:
    """A search; every field given must match."""

    officer: str | None = None     # police number or name
    device: str | None = None
    unit: str | None = None        # unit number or name
    date: str | None = None        # YYYY-MM-DD, UTC
    case: str | None = None
    marker: str | None = None      # a marker's label contains this
    state: str | None = None       # a segment in this verification state


@dataclass(frozen=True)
class SessionEntry:
    session: str
    path: str                      # the session's folder, relative to the archive
    facts: dict[str, Any] = field(default_factory=dict)   # officer, device, unit, date, case …


class Accounts(Protocol):
    def authenticate(self, name: str, password: str) -> Account | None:
        """The account when ``password`` is its password, else None (never says which was wrong)."""


class Audit(Protocol):
    def record(self, actor: str | None, action: str, *, role: str | None = None, footage: Sequence[str] = (),
               reason: str | None = None, outcome: str = DONE, detail: dict[str, Any] | None = None,
               source: str = "") -> None:
        """Append one entry to the audit trail."""

    def entries(self, session: str) -> list[AuditEntry]:
        """Every entry naming ``session``, oldest first."""


class Catalogue(Protocol):
    def search(self, criteria: Criteria) -> list[SessionEntry]: ...

    def session(self, session: str) -> SessionEntry | None: ...


class Exports(Protocol):
    def request(self, requester: str, session: str, reason: str) -> ExportRequest: ...

    def decide(self, decider: str, request_id: int, approve: bool) -> ExportRequest:
        """Approve or refuse; ``PermissionError`` when the decider asked for it themself,
        ``LookupError`` for no such request, ``ValueError`` when it was decided already."""

    def requests(self) -> list[ExportRequest]: ...


@dataclass(frozen=True)
class Services:
    accounts: Accounts
    audit: Audit
    catalogue: Catalogue
    exports: Exports
