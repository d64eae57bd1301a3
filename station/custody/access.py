"""Who may do what at the station: users, roles, passwords, confidential footage.

Four roles (S5, S7): a **custodian** pulls and catalogues footage and hands over copies; a
**reviewer** searches and views footage, each time with a reason, and requests exports; a
**supervisor** does what a reviewer does, approves or refuses exports, sets holds, marks
footage confidential and sees confidential footage; an **administrator** manages users,
devices and retention and reads the audit trail, but views no footage. Everything not
granted below is refused (deny by default), in one sentence, and the refusal is an audit entry.

Passwords are stored as Argon2id hashes (memory-hard: 64 MiB per try), never printed, never
logged; a hash of the scrypt kind stations kept before is still checked, and replaced by an
Argon2id one at that user's next sign-in. Failed sign-ins are throttled per user name and per
client address (``Throttle``, kept in the database so a restart forgets nothing): from the
second failure in a row the next try must wait, twice as long after each further failure, and
after ``max_failures`` the name or address is locked out for ``lockout_s`` (等保 2.0 登录失败处理),
an audit entry, until it ends or an administrator lifts it. An unknown user name costs the
same password hash as a wrong password, so names cannot be told by time. The review page's
sign-in sessions live here too (``SignIns``), so a restart or a second worker keeps them.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import argon2
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bodycam_errors import BodycamError
from station.catalogue.catalogue import too_long
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
    "case-retention": frozenset({"supervisor"}),
    "purge": frozenset({"administrator"}),
    "retention": frozenset({"administrator"}),
    "devices": frozenset({"administrator", "custodian"}),
    "users": frozenset({"administrator"}),
    "audit": frozenset({"supervisor", "administrator"}),
    "write-up": frozenset({"custodian", "reviewer", "supervisor"}),
    "witness-ack": frozenset({"supervisor", "administrator"}),
    "bays": frozenset({"custodian", "supervisor"}),
    "inspect": frozenset({"supervisor"}),
    "report": frozenset({"custodian", "supervisor", "administrator"}),
}
DOING = {"export-decide": "approve or refuse exports", "export-request": "request exports",
         "export-make": "make exports", "export-handover": "hand over exports", "mark-confidential":
         "mark footage confidential", "view-confidential": "see confidential footage", "users": "manage users",
         "audit": "read the audit trail", "write-up": "file write-ups", "case": "open, link or close cases",
         "search": "search footage", "catalogue": "rebuild the catalogue", "hold": "place or release legal holds",
         "case-retention": "set a case file's retention period",
         "purge": "purge footage", "retention": "set retention periods", "devices": "enrol, hand out or take back devices",
         "witness-ack": "acknowledge refused dockings", "bays": "watch the dock's bays",
         "inspect": "draw sample inspections or record their findings",
         "report": "read the usage reports"}
CONFIDENTIAL_LEVELS = ("secret", "commercial-secret", "private")     # 国家秘密, 商业秘密, 个人隐私 (S7)
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
HASHER = argon2.PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=4, type=argon2.Type.ID)
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
    sa.Column("disabled_ns", sa.BigInteger),          # when an administrator disabled the user (version 4)
)
confidential = sa.Table(
    "confidential_sessions", metadata,
    sa.Column("session", sa.String(128), primary_key=True),
    sa.Column("level", sa.String(32), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("marked_by", sa.String(64), nullable=False),
    sa.Column("marked_ns", sa.BigInteger, nullable=False),
)
sign_in_tables = sa.MetaData()         # made by version 3: version 1 makes every table of ``metadata``
login_failures = sa.Table(
    "login_failures", sign_in_tables,
    sa.Column("kind", sa.String(8), primary_key=True),        # "user" or "address"
    sa.Column("key", sa.String(256), primary_key=True),       # the user name tried, or the client's address
    sa.Column("failures", sa.Integer, nullable=False),        # in a row, since the last success or lockout
    sa.Column("last_ns", sa.BigInteger, nullable=False),
    sa.Column("locked_until_ns", sa.BigInteger),
)
sign_ins = sa.Table(
    "sign_in_sessions", sign_in_tables,
    sa.Column("id_hash", sa.String(64), primary_key=True),    # SHA-256 of the cookie's id: the table holds no key
    sa.Column("csrf", sa.String(64), nullable=False),
    sa.Column("began_ns", sa.BigInteger, nullable=False),
    sa.Column("seen_ns", sa.BigInteger, nullable=False),
    sa.Column("user_name", sa.String(64)),
    sa.Column("lang", sa.String(8), nullable=False),
    sa.Column("grants", sa.Text, nullable=False),             # JSON: session id -> the reason given to view it
)


class AccessDenied(BodycamError, PermissionError):
    """A user may not do this (or is not who they say): one sentence, and an audit entry."""


class AccessError(BodycamError, ValueError):
    """A user or a mark cannot be made that way."""


class LoginThrottled(AccessDenied):
    """Too many failed sign-ins for this user name or address: wait, or ask an administrator."""


@dataclass(frozen=True)
class Throttle:
    """How failed sign-ins are slowed and locked out (per user name and per client address)."""

    max_failures: int = 5                 # failures in a row that lock the name or the address out
    lockout_s: int = 15 * 60              # for this long (and failures older than this are forgotten)
    delay_s: float = 1.0                  # the wait after the second failure, doubled after each further one


@dataclass(frozen=True)
class User:
    name: str
    full_name: str
    role: str
    disabled: bool = False

    def may(self, permission: str) -> bool:
        return self.role in PERMISSIONS[permission]


def _nothing(connection: sa.engine.Connection) -> None:
    """Access's version 2 once made the export tables; they are the exports area's now. The step
    stays, doing nothing, so that the versions a database recorded keep their meaning."""


def _disabled_column(connection: sa.engine.Connection) -> None:
    """Version 1 makes ``users`` as defined now; a database made before version 4 lacks the column."""
    if "disabled_ns" not in {column["name"] for column in sa.inspect(connection).get_columns("users")}:
        connection.execute(sa.text("ALTER TABLE users ADD COLUMN disabled_ns BIGINT"))


MIGRATIONS = [
    Migration(1, "users and confidential sessions", lambda c: metadata.create_all(c)),
    Migration(2, "nothing: the export tables are made by the exports area", _nothing),
    Migration(3, "failed sign-ins and lockouts, the review page's sign-in sessions",
              lambda c: sign_in_tables.create_all(c)),
    Migration(4, "users an administrator disabled", _disabled_column),
]


def hash_password(password: str) -> str:
    """An Argon2id hash in the PHC string format: its parameters travel with it, so they can be raised later."""
    return HASHER.hash(password)


def password_matches(password: str, stored: str) -> bool:
    """Whether ``password`` is the one hashed in ``stored`` (Argon2id, or the older ``scrypt$N$r$p$salt$hash``)."""
    if stored.startswith("scrypt$"):
        _kind, n, r, p, salt, digest = stored.split("$")
        tried = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                               maxmem=64 << 20)
        return hmac.compare_digest(tried, bytes.fromhex(digest))
    try:
        return HASHER.verify(stored, password)
    except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return stored.startswith("scrypt$") or HASHER.check_needs_rehash(stored)


def short_enough(what: str, text: str) -> str:
    """``text``, unless it is longer than a ``what`` may be (the catalogue's ``LIMITS``): then
    AccessError, in one sentence."""
    refused = too_long(what, text)
    if refused:
        raise AccessError(refused)
    return text


@functools.cache
def _dummy_hash() -> str:
    """What an unknown user's password is checked against, so that it takes as long as a known one's."""
    return hash_password(secrets.token_hex(16))


class Access:
    """The gate every station command passes: it authenticates users, checks what their role
    allows, and writes each refusal to the audit trail (the caller records what was done)."""

    def __init__(self, engine: Engine, audit: AuditTrail, *, clock: Callable[[], int] = time.time_ns,
                 throttle: Throttle = Throttle()) -> None:
        self.engine, self.audit, self.clock, self.throttle = engine, audit, clock, throttle

    def has_users(self) -> bool:
        with self.engine.connect() as connection:
            return connection.execute(sa.select(users.c.name).limit(1)).first() is not None

    def user(self, name: str) -> User | None:
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(users).where(users.c.name == name)).first()
        return _user(row) if row else None

    def authenticate(self, name: str, password: str, action: str, address: str | None = None) -> User:
        """The user, if the password is theirs and neither the name nor the client's ``address``
        is locked out or must still wait; else a refused ``login`` entry and AccessDenied.
        ``action`` is what they came to do (it goes in the refusal's entry)."""
        keys = [("user", name)] + ([("address", address)] if address else [])
        now = self.clock()
        held = self._held(keys, now)
        if held:
            self.audit.record(name, "login", outcome=REFUSED, detail={"for": action, "why": held})
            raise LoginThrottled(held)
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(users).where(users.c.name == name)).first()
        if not password_matches(password, row.password if row else _dummy_hash()) or row is None:
            self._failed(keys, now)
            self.audit.record(name, "login", outcome=REFUSED, detail={"for": action, "why": "unknown user or wrong password"})
            raise AccessDenied(f"user {name!r} is unknown or the password is wrong.")
        if row.disabled_ns is not None:      # said only in the trail: the right password must not tell it
            self.audit.record(name, "login", outcome=REFUSED, detail={"for": action, "why": "the user is disabled"})
            raise AccessDenied(f"user {name!r} is unknown or the password is wrong.")
        with self.engine.begin() as connection:
            for kind, key in keys:
                connection.execute(login_failures.delete().where(login_failures.c.kind == kind,
                                                                 login_failures.c.key == key))
            if needs_rehash(row.password):
                connection.execute(users.update().where(users.c.name == name).values(password=hash_password(password)))
        return User(row.name, row.full_name, row.role)

    def login(self, name: str, password: str, address: str | None = None) -> User:
        """An interactive login (the review page): one ``login`` entry, done or refused."""
        user = self.authenticate(name, password, "login", address)
        self.audit.record(user.name, "login", role=user.role)
        return user

    def _held(self, keys: list[tuple[str, str]], now: int) -> str | None:
        """Why a sign-in for these keys is not tried now: a lockout in force (not counted), or a
        try too soon after the last failure (counted as a failure, its password not checked)."""
        with self.engine.connect() as connection:
            rows = {(row.kind, row.key): row for row in connection.execute(sa.select(login_failures).where(
                sa.or_(*[(login_failures.c.kind == kind) & (login_failures.c.key == key) for kind, key in keys])))}
        for kind, key in keys:
            row = rows.get((kind, key))
            if row is not None and row.locked_until_ns and row.locked_until_ns > now:
                minutes = -(-(row.locked_until_ns - now) // (60 * 10**9))
                who = f"user {key!r}" if kind == "user" else f"the address {key}"
                return (f"{who} is locked after {self.throttle.max_failures} failed sign-ins, for {minutes} more "
                        f"minutes (an administrator can lift it).")
        for kind, key in keys:
            row = rows.get((kind, key))
            if row is None or row.failures < 2 or self._stale(row, now):
                continue
            wait_ns = int(self.throttle.delay_s * 2 ** (row.failures - 2) * 10**9)
            if now < row.last_ns + wait_ns:
                self._failed(keys, now)
                return f"too many failed sign-ins: try again in {-(-(row.last_ns + wait_ns - now) // 10**9)} seconds."
        return None

    def _stale(self, row: sa.Row, now: int) -> bool:
        """Failures older than a lockout, or counted before a lockout that is over, are forgotten."""
        return now - row.last_ns > self.throttle.lockout_s * 10**9 or bool(row.locked_until_ns)

    def _failed(self, keys: list[tuple[str, str]], now: int) -> None:
        """One more failure for each key; those that reach the limit are locked out (an audit entry)."""
        locked = []
        with self.engine.begin() as connection:
            for kind, key in keys:
                where = (login_failures.c.kind == kind) & (login_failures.c.key == key)
                row = connection.execute(sa.select(login_failures).where(where)).first()
                failures = 1 if row is None or self._stale(row, now) else row.failures + 1
                until = now + self.throttle.lockout_s * 10**9 if failures >= self.throttle.max_failures else None
                values = {"failures": failures, "last_ns": now, "locked_until_ns": until}
                if row is None:
                    connection.execute(login_failures.insert().values(kind=kind, key=key, **values))
                else:
                    connection.execute(login_failures.update().where(where).values(**values))
                if until:
                    locked.append((kind, key, failures, until))
        for kind, key, failures, until in locked:
            self.audit.record(None, "login-lockout", detail={
                "user": key if kind == "user" else None, "address": key if kind == "address" else None,
                "failures": failures, "until_ns": until})

    def unlock(self, actor: User, name: str | None = None, address: str | None = None) -> bool:
        """Lift the lockout (and forget the failures) of user ``name`` or of a client ``address``;
        administrators only. Whether there was anything to lift."""
        self.require(actor, "users", action="login-unlock")
        keys = [(kind, key) for kind, key in (("user", name), ("address", address)) if key]
        if not keys:
            raise AccessError("name the user or the address whose lockout to lift.")
        with self.engine.begin() as connection:
            lifted = sum(connection.execute(login_failures.delete().where(
                login_failures.c.kind == kind, login_failures.c.key == key)).rowcount for kind, key in keys)
        self.audit.record(actor.name, "login-unlock", role=actor.role,
                          detail={"user": name, "address": address, "lifted": bool(lifted)})
        return bool(lifted)

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
        return short_enough("reason", reason.strip())

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
        hashed = hash_password(password)
        with self.engine.begin() as connection:
            connection.execute(users.insert().values(name=name, full_name=full_name or name, role=role,
                                                     password=hashed, created_ns=time.time_ns(),
                                                     created_by=actor.name if actor else None))
        self.audit.record(actor.name if actor else None, "user-add", role=actor.role if actor else None,
                          detail={"user": name, "full_name": full_name, "role": role, "password_hash": hashed})
        return User(name, full_name or name, role)

    def set_password(self, actor: User, name: str, password: str) -> None:
        """Users change their own password; an administrator anyone's."""
        if actor.name != name:
            self.require(actor, "users", action="user-password")
        if len(password) < MIN_PASSWORD:
            raise AccessError(f"a password has at least {MIN_PASSWORD} characters.")
        hashed = hash_password(password)
        with self.engine.begin() as connection:
            changed = connection.execute(users.update().where(users.c.name == name)
                                         .values(password=hashed)).rowcount
        if not changed:
            raise AccessError(f"no user {name!r}.")
        self.audit.record(actor.name, "user-password", role=actor.role, detail={"user": name, "password_hash": hashed})

    def list_users(self, actor: User) -> list[User]:
        self.require(actor, "users", action="user-list")
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(users).order_by(users.c.name)).all()
        self.audit.record(actor.name, "user-list", role=actor.role)
        return [_user(row) for row in rows]

    def set_role(self, actor: User, name: str, role: str) -> None:
        """Give user ``name`` another role; administrators only, and not to themselves (the
        station keeps the administrator who does it)."""
        self.require(actor, "users", action="user-role")
        if role not in ROLES:
            raise AccessError(f"a role is one of {', '.join(ROLES)}, not {role!r}.")
        if name == actor.name:
            raise AccessError("an administrator does not change their own role: another administrator does.")
        self._change(name, role=role)
        self.audit.record(actor.name, "user-role", role=actor.role, detail={"user": name, "role": role})

    def set_disabled(self, actor: User, name: str, disabled: bool) -> None:
        """Disable user ``name`` (they can no longer sign in, and their open sessions end) or
        enable them again; administrators only, and not themselves."""
        action = "user-disable" if disabled else "user-enable"
        self.require(actor, "users", action=action)
        if name == actor.name:
            raise AccessError("an administrator does not disable themselves: another administrator does.")
        self._change(name, disabled_ns=self.clock() if disabled else None)
        self.audit.record(actor.name, action, role=actor.role, detail={"user": name})

    def _change(self, name: str, **values: Any) -> None:
        with self.engine.begin() as connection:
            if not connection.execute(users.update().where(users.c.name == name).values(**values)).rowcount:
                raise AccessError(f"no user {name!r}.")

    def lockouts(self, actor: User) -> list[dict[str, Any]]:
        """The user names and addresses locked out now, with until when; administrators only."""
        self.require(actor, "users", action="user-list")
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(login_failures).where(login_failures.c.locked_until_ns > self.clock())
                                      .order_by(login_failures.c.kind, login_failures.c.key)).all()
        return [dict(row._mapping) for row in rows]

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


@dataclass
class SignIn:
    """One browser's sign-in session as stored: ``id`` is the cookie's value (only its hash is kept)."""

    id: str
    csrf: str
    began_ns: int
    seen_ns: int
    user: User | None = None
    grants: dict[str, str] = field(default_factory=dict)    # session id -> the reason given to view it
    lang: str = "zh"


class SignIns:
    """The review page's sign-in sessions, in the station's database: every worker and every
    restart of the page sees the same ones."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def load(self, session_id: str) -> SignIn | None:
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(sign_ins, users.c.full_name, users.c.role, users.c.disabled_ns)
                                     .outerjoin(users, users.c.name == sign_ins.c.user_name)
                                     .where(sign_ins.c.id_hash == _id_hash(session_id))).first()
        if row is None:
            return None
        user = User(row.user_name, row.full_name, row.role) if row.user_name and row.role and row.disabled_ns is None \
            else None
        return SignIn(session_id, row.csrf, row.began_ns, row.seen_ns, user, json.loads(row.grants), row.lang)

    def save(self, signed: SignIn) -> None:
        values = {"csrf": signed.csrf, "began_ns": signed.began_ns, "seen_ns": signed.seen_ns,
                  "user_name": signed.user.name if signed.user else None, "lang": signed.lang,
                  "grants": json.dumps(signed.grants, ensure_ascii=False, sort_keys=True)}
        where = sign_ins.c.id_hash == _id_hash(signed.id)
        with self.engine.begin() as connection:
            if not connection.execute(sign_ins.update().where(where).values(**values)).rowcount:
                connection.execute(sign_ins.insert().values(id_hash=_id_hash(signed.id), **values))

    def end(self, session_id: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(sign_ins.delete().where(sign_ins.c.id_hash == _id_hash(session_id)))

    def forget_expired(self, idle_since_ns: int, began_before_ns: int) -> None:
        """Drop the sessions unused since ``idle_since_ns`` or begun before ``began_before_ns``."""
        with self.engine.begin() as connection:
            connection.execute(sign_ins.delete().where(sa.or_(sign_ins.c.seen_ns < idle_since_ns,
                                                              sign_ins.c.began_ns < began_before_ns)))


def _user(row: sa.Row) -> User:
    return User(row.name, row.full_name, row.role, row.disabled_ns is not None)


def _id_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()
