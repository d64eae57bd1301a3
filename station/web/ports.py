"""What the review page needs from the rest of the station, as small interfaces.

The page takes these as arguments (``station.web.app.create_app``) and never reaches into
the tables behind them. The catalogue (cases, holds, write-ups) is the catalogue area's own
``station.catalogue.Catalogue``; the accounts, the audit trail and export requests belong to
the access area, and ``station.web.standins`` implements them until that area lands.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from station.catalogue import Catalogue

# What a role may do on the page (the access area's permission names); each route names the one
# it needs (deny by default).
SEARCH = "search"
VIEW = "view"                      # play footage, after giving a reason
REQUEST_EXPORT = "export-request"
APPROVE_EXPORT = "export-decide"
READ_AUDIT = "audit"
CASE = "case"                      # link a session to a case
HOLD = "hold"                      # place or release a legal hold
WRITE_UP = "write-up"              # the officer's account of a stop
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
    catalogue: Catalogue           # station.catalogue.Catalogue
    exports: Exports
