"""Who may do what at the station: users, roles, passwords, confidential footage.

Four roles (S5, S7): a **custodian** pulls and catalogues footage and hands over copies; a
**reviewer** searches and views footage, each time with a reason, and requests exports; a
**supervisor** does what a reviewer does, approves or refuses exports, sets holds, marks
footage confidential and sees confidential footage; an **administrator** manages users,
devices and retention and reads the audit trail, but views no footage. Everything not
granted below is refused (deny by default), in one sentence, and the refusal is an audit entry.

Passwords are stored as scrypt hashes (memory-hard: 32 MiB per try), never printed, never logged.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bodycam_errors import BodycamError
from station.custody.audit import REFUSED, STATION, AuditTrail
from station.db import Migration

ROLES = ("custodian", "reviewer", "supervisor", "administrator")
PERMISSIONS: dict[str, frozenset[str]] = {
    "pull": frozenset({"custodian"}),
    "catalogue": frozenset({"custodian", "supervisor"}),
    "search": frozenset({"custodian", "reviewer", "supervisor"}),
    "view": frozenset({"reviewer", "supervisor"}),
    "view-confidential": frozenset({"supervisor"}),
    "mark-confidential": frozenset({"supervisor"}),
    "export-request": frozenset({"reviewer", "supervisor"}),
    "export-decide": frozenset({"supervisor"}),
    "export-make": frozenset({"custodian", "reviewer", "supervisor"}),
    "export-handover": frozenset({"custodian", "supervisor"}),
    "case": frozenset({"custodian", "supervisor"}),
    "hold": frozenset({"supervisor"}),
    "purge": frozenset({"administrator"}),
    "retention": frozenset({"administrator"}),
    "devices": frozenset({"administrator", "custodian"}),
    "users": frozenset({"administrator"}),
    "audit": frozenset({"supervisor", "administrator"}),
    "write-up": frozenset({"custodian", "reviewer", "supervisor"}),
    "witness-ack": frozenset({"supervisor"}),
    "bays": frozenset({"custodian", "supervisor"}),
}
DOING = {"export-decide": "approve or refuse exports", "export-request": "request exports",
         "export-make": "make exports", "export-handover": "hand over exports", "mark-confidential":
         "mark footage confidential", "view-confidential": "see confidential footage", "users": "manage users",
         "audit": "read the audit trail", "write-up": "file write-ups", "case": "open, link or close cases",
         "search": "search footage", "catalogue": "rebuild the catalogue", "hold": "place or release legal holds",
         "purge": "purge footage", "retention": "set retention periods", "devices": "enrol, hand out or take back devices",
         "witness-ack": "acknowledge refused dockings", "bays": "watch the dock's bays"}
CONFIDENTIAL_LEVELS = ("secret", "commercial-secret", "private")     # 国家秘密, 商业秘密, 个人隐私 (S7)
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1                           # 128 * r * n bytes = 32 MiB
MIN_PASSWORD = 10

AREA = "access"
metadata = sa.MetaData()
users = sa.Table(
    "users", metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("full_name", sa.String(64), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("password", sa.String(256), nullable=False),
    sa.Column("created_ns", sa.BigInteger, nullable=False),
    sa.Column("created_by", sa.String(64)),
)
confidential = sa.Table(
    "confidential_sessions", metadata,
    sa.Column("session", sa.String(128), primary_key=True),
    sa.Column("level", sa.String(32), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("marked_by", sa.String(64), nullable=False),
    sa.Column("marked_ns", sa.BigInteger, nullable=False),
)


class AccessDenied(BodycamError, PermissionError):
    """A user may not do this (or is not who they say): one sentence, and an audit entry."""


class AccessError(BodycamError, ValueError):
    """A user or a mark cannot be made that way."""


@dataclass(frozen=True)
class User:
    name: str
    full_name: str
    role: str

    def may(self, permission: str) -> bool:
        return self.role in PERMISSIONS[permission]


def _nothing(connection: sa.engine.Connection) -> None:
    """Access's version 2 once made the export tables; they are the exports area's now. The step
    stays, doing nothing, so that the versions a database recorded keep their meaning."""


MIGRATIONS = [
    Migration(1, "users and confidential sessions", lambda c: metadata.create_all(c)),
    Migration(2, "nothing: the export tables are made by the exports area", _nothing),
]


def hash_password(password: str) -> str:
    """``scrypt$N$r$p$salt$hash``: the parameters travel with the hash, so they can be raised later."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, maxmem=64 << 20)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def password_matches(password: str, stored: str) -> bool:
    kind, n, r, p, salt, digest = stored.split("$")
    if kind != "scrypt":
        return False
    tried = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), maxmem=64 << 20)
    return hmac.compare_digest(tried, bytes.fromhex(digest))


class Access:
    """The gate every station command passes: it authenticates users, checks what their role
    allows, and writes each refusal to the audit trail (the caller records what was done)."""

    def __init__(self, engine: Engine, audit: AuditTrail) -> None:
        self.engine, self.audit = engine, audit

    def has_users(self) -> bool:
        with self.engine.connect() as connection:
            return connection.execute(sa.select(users.c.name).limit(1)).first() is not None

    def user(self, name: str) -> User | None:
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(users).where(users.c.name == name)).first()
        return User(row.name, row.full_name, row.role) if row else None

    def authenticate(self, name: str, password: str, action: str) -> User:
        """The user, if the password is theirs; else a refused ``login`` entry and AccessDenied.
        ``action`` is what they came to do (it goes in the refusal's entry)."""
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(users).where(users.c.name == name)).first()
        if row is None or not password_matches(password, row.password):
            self.audit.record(name, "login", outcome=REFUSED, detail={"for": action, "why": "unknown user or wrong password"})
            raise AccessDenied(f"user {name!r} is unknown or the password is wrong.")
        return User(row.name, row.full_name, row.role)

    def login(self, name: str, password: str) -> User:
        """An interactive login (the review page): one ``login`` entry, done or refused."""
        user = self.authenticate(name, password, "login")
        self.audit.record(user.name, "login", role=user.role)
        return user

    def require(self, user: User, permission: str, *, action: str | None = None, footage: Sequence[str] = (),
                reason: str | None = None) -> None:
        """Refuse (audited) unless ``user``'s role grants ``permission``."""
        if not user.may(permission):
            roles = " or ".join(sorted(PERMISSIONS[permission]))
            doing = DOING.get(permission, permission.replace("-", " "))
            self.refuse(user, action or permission, f"a {user.role} may not {doing}: it takes a {roles}.",
                        footage=footage, reason=reason)

    def refuse(self, user: User | None, action: str, sentence: str, *, footage: Sequence[str] = (),
               reason: str | None = None) -> None:
        self.audit.record(user.name if user else None, action, role=user.role if user else None,
                          footage=footage, reason=reason, outcome=REFUSED, detail={"why": sentence})
        raise AccessDenied(sentence)

    def require_reason(self, user: User, action: str, reason: str | None, footage: Sequence[str]) -> str:
        if reason is None or len(reason.strip()) < 2:
            self.refuse(user, action, f"{action} needs a reason (who asked for it and why).", footage=footage)
        return reason.strip()

    def require_visible(self, user: User, action: str, sessions: Sequence[str], reason: str | None = None) -> None:
        """Confidential footage (S7) only for the roles cleared for it; to others it does not exist."""
        hidden = [s for s in sessions if self.confidential_level(s) and not user.may("view-confidential")]
        if hidden:
            self.refuse(user, action, f"no session {hidden[0]} that a {user.role} may see.",
                        footage=sessions, reason=reason)

    # -- users -------------------------------------------------------------------------------------------

    def add_user(self, actor: User | None, name: str, full_name: str, role: str, password: str) -> User:
        """A new user; ``actor`` None only for the first one, who must be an administrator."""
        if actor is None and (self.has_users() or role != "administrator"):
            raise AccessDenied("the first user must be an administrator; later users are added by one.")
        if actor is not None:
            self.require(actor, "users", action="user-add")
        if not NAME.fullmatch(name):
            raise AccessError(f"a user name is letters, digits, '.', '_' or '-' (up to 64), not {name!r}.")
        if name == STATION:
            raise AccessError(f"{STATION!r} is the station's own name in the audit trail: choose another user name.")
        if role not in ROLES:
            raise AccessError(f"a role is one of {', '.join(ROLES)}, not {role!r}.")
        if len(password) < MIN_PASSWORD:
            raise AccessError(f"a password has at least {MIN_PASSWORD} characters.")
        if self.user(name):
            raise AccessError(f"user {name!r} exists already.")
        with self.engine.begin() as connection:
            connection.execute(users.insert().values(name=name, full_name=full_name or name, role=role,
                                                     password=hash_password(password), created_ns=time.time_ns(),
                                                     created_by=actor.name if actor else None))
        self.audit.record(actor.name if actor else None, "user-add", role=actor.role if actor else None,
                          detail={"user": name, "full_name": full_name, "role": role})
        return User(name, full_name or name, role)

    def set_password(self, actor: User, name: str, password: str) -> None:
        """Users change their own password; an administrator anyone's."""
        if actor.name != name:
            self.require(actor, "users", action="user-password")
        if len(password) < MIN_PASSWORD:
            raise AccessError(f"a password has at least {MIN_PASSWORD} characters.")
        with self.engine.begin() as connection:
            changed = connection.execute(users.update().where(users.c.name == name)
                                         .values(password=hash_password(password))).rowcount
        if not changed:
            raise AccessError(f"no user {name!r}.")
        self.audit.record(actor.name, "user-password", role=actor.role, detail={"user": name})

    def list_users(self, actor: User) -> list[User]:
        self.require(actor, "users", action="user-list")
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(users).order_by(users.c.name)).all()
        self.audit.record(actor.name, "user-list", role=actor.role)
        return [User(row.name, row.full_name, row.role) for row in rows]

    # -- confidential footage (S7) -----------------------------------------------------------------------

    def confidential_level(self, session: str) -> str | None:
        with self.engine.connect() as connection:
            return connection.scalar(sa.select(confidential.c.level).where(confidential.c.session == session))

    def mark_confidential(self, actor: User, session: str, level: str, reason: str | None) -> None:
        self.require(actor, "mark-confidential", action="mark-confidential", footage=[session], reason=reason)
        reason = self.require_reason(actor, "mark-confidential", reason, [session])
        if level not in CONFIDENTIAL_LEVELS:
            raise AccessError(f"a confidentiality level is one of {', '.join(CONFIDENTIAL_LEVELS)}, not {level!r}.")
        with self.engine.begin() as connection:
            connection.execute(confidential.delete().where(confidential.c.session == session))
            connection.execute(confidential.insert().values(session=session, level=level, reason=reason,
                                                            marked_by=actor.name, marked_ns=time.time_ns()))
        self.audit.record(actor.name, "mark-confidential", role=actor.role, footage=[session], reason=reason,
                          detail={"level": level})

    def clear_confidential(self, actor: User, session: str, reason: str | None) -> None:
        self.require(actor, "mark-confidential", action="clear-confidential", footage=[session], reason=reason)
        reason = self.require_reason(actor, "clear-confidential", reason, [session])
        with self.engine.begin() as connection:
            connection.execute(confidential.delete().where(confidential.c.session == session))
        self.audit.record(actor.name, "clear-confidential", role=actor.role, footage=[session], reason=reason)

    def visible(self, user: User, sessions: Sequence[str]) -> list[str]:
        """Those of ``sessions`` the user may know exist (search results pass through this)."""
        if user.may("view-confidential"):
            return list(sessions)
        with self.engine.connect() as connection:
            marked = set(connection.scalars(sa.select(confidential.c.session)
                                            .where(confidential.c.session.in_(list(sessions)))))
        return [s for s in sessions if s not in marked]
