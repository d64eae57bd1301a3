"""The access area tried as an attacker would (issue 27, security): login throttling and its
lockout, kept in the database; Argon2id passwords; the sizes a reason, a write-up, a case name
may have. No footage needed: a station database and a dock key in a temporary folder."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from evidence.keys import FileSigner
from station import db
from station.catalogue.catalogue import Catalogue, CatalogueError
from station.custody import access
from station.custody.access import Access, AccessDenied, AccessError, Throttle
from station.custody.audit import AuditTrail, entries
from station.custody.exports import Exports
from station.services import ensure_schema
from tests.web import MovableClock

PASSWORD = "long enough password"


class Gate:
    """An access gate on a fresh database with an administrator and a reviewer, on a movable clock."""

    def __init__(self, folder: Path, throttle: Throttle = Throttle()) -> None:
        self.engine = db.connect(f"sqlite:///{folder / 'catalogue.sqlite'}")
        ensure_schema(self.engine)
        self.signer = FileSigner.generate(folder / "dock.key")
        self.clock, self.throttle = MovableClock(), throttle
        self.admin = self.gate().add_user(None, "admin", "管理员", "administrator", PASSWORD)
        self.gate().add_user(self.admin, "rev", "李四", "reviewer", PASSWORD)

    def gate(self, source: str = "test") -> Access:
        """A gate as a new process would open it: nothing kept but what is in the database."""
        return Access(self.engine, AuditTrail(self.engine, self.signer, source), clock=self.clock,
                      throttle=self.throttle)

    def actions(self) -> list[tuple[str | None, str, str]]:
        return [(e.body["actor"], e.body["action"], e.body["outcome"]) for e in entries(self.engine)]


@pytest.fixture
def gate(tmp_path) -> Gate:
    return Gate(tmp_path)


def test_five_failures_lock_a_user_out_across_a_restart_until_an_administrator_lifts_it(gate):
    for _ in range(5):
        with pytest.raises(AccessDenied):
            gate.gate().login("rev", "wrong password", address="10.0.0.7")
    with pytest.raises(AccessDenied, match="locked"):
        gate.gate().login("rev", PASSWORD, address="10.0.0.8")         # a restart, another address: still locked
    lockouts = [e.body for e in entries(gate.engine) if e.body["action"] == "login-lockout"]
    assert [(e["detail"]["user"], e["detail"]["address"]) for e in lockouts] == [("rev", None), (None, "10.0.0.7")]
    with pytest.raises(AccessDenied):
        gate.gate().unlock(gate.gate().user("rev"), "rev")             # only an administrator lifts it
    gate.gate().unlock(gate.admin, "rev")
    assert gate.gate().login("rev", PASSWORD, address="10.0.0.8").name == "rev"
    with pytest.raises(AccessDenied, match="locked"):                  # the address is still locked
        gate.gate().login("admin", PASSWORD, address="10.0.0.7")
    assert ("admin", "login-unlock", "done") in gate.actions()
    assert ("admin", "login-unlock", "refused") not in gate.actions()


def test_a_lockout_ends_by_itself_after_its_minutes(gate):
    for _ in range(5):
        with pytest.raises(AccessDenied):
            gate.gate().authenticate("rev", "wrong password", "view")
    with pytest.raises(AccessDenied, match="locked"):
        gate.gate().authenticate("rev", PASSWORD, "view")
    gate.clock.ahead_ns += 15 * 60 * 10**9 + 1
    assert gate.gate().authenticate("rev", PASSWORD, "view").name == "rev"


def test_after_two_failures_a_try_comes_too_soon_and_is_not_checked(tmp_path, monkeypatch):
    gate = Gate(tmp_path, Throttle(max_failures=10, lockout_s=60, delay_s=1.0))
    for _ in range(2):
        with pytest.raises(AccessDenied, match="unknown or the password is wrong"):
            gate.gate().authenticate("rev", "wrong password", "view")
    with pytest.raises(AccessDenied, match="try again in"):
        gate.gate().authenticate("rev", PASSWORD, "view")
    gate.clock.ahead_ns += 2 * 10**9
    assert gate.gate().authenticate("rev", PASSWORD, "view").name == "rev"


def test_an_unknown_user_name_costs_a_password_hash_as_a_wrong_password_does(gate, monkeypatch):
    hashed = []
    real = access.password_matches
    monkeypatch.setattr(access, "password_matches", lambda password, stored: hashed.append(stored) or real(password, stored))
    for name in ("rev", "nobody"):
        with pytest.raises(AccessDenied, match=f"user '{name}' is unknown or the password is wrong"):
            gate.gate().authenticate(name, "wrong password", "view")
    assert len(hashed) == 2 and all(stored.startswith("$argon2id$") for stored in hashed)


def scrypt_hash(password: str) -> str:
    """A password hashed as the station did before Argon2id."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**15, r=8, p=1, maxmem=64 << 20)
    return f"scrypt${2**15}$8$1${salt.hex()}${digest.hex()}"


def stored_password(gate: Gate, name: str) -> str:
    with gate.engine.connect() as connection:
        return connection.scalar(sa.select(access.users.c.password).where(access.users.c.name == name))


def test_passwords_are_argon2id_and_an_old_scrypt_hash_is_rehashed_at_sign_in(gate):
    assert stored_password(gate, "rev").startswith("$argon2id$")
    with gate.engine.begin() as connection:
        connection.execute(access.users.update().where(access.users.c.name == "rev").values(password=scrypt_hash(PASSWORD)))
    with pytest.raises(AccessDenied):
        gate.gate().authenticate("rev", "wrong password", "view")
    assert stored_password(gate, "rev").startswith("scrypt$")
    assert gate.gate().login("rev", PASSWORD).name == "rev"
    assert stored_password(gate, "rev").startswith("$argon2id$")
    assert gate.gate().login("rev", PASSWORD).name == "rev"
    gate.gate().set_password(gate.admin, "rev", "another long password")
    assert stored_password(gate, "rev").startswith("$argon2id$")


def test_a_reason_a_write_up_a_case_name_too_long_are_refused_in_one_sentence(gate):
    rev = gate.gate().user("rev")
    with pytest.raises(AccessError, match=r"^a reason has at most 1000 characters \(this one has 1001\)\.$"):
        gate.gate().require_reason(rev, "view", "x" * 1001, ["s"])
    assert gate.gate().require_reason(rev, "view", "x" * 1000, ["s"]) == "x" * 1000
    catalogue = Catalogue(gate.engine)
    with pytest.raises(CatalogueError, match=r"^a case name has at most 200 characters"):
        catalogue.open_case("2026-1", "案" * 201, "", actor="admin")
    with pytest.raises(CatalogueError, match=r"^a reason has at most 1000 characters"):
        catalogue.hold("y" * 1001, actor="admin", session="s")
    exports = Exports(gate.gate(), footage=None)        # refused before any footage is looked at
    with pytest.raises(AccessError, match=r"^a destination has at most 200 characters"):
        exports.request(rev, "session", "s", reason="court order", recipient="rev", destination="某" * 201)
    with pytest.raises(AccessError, match=r"^a recipient's name has at most 200 characters"):
        exports.handover(gate.admin, 1, "某" * 201)
    assert not [e for e in entries(gate.engine) if e.body["action"] in ("view", "case-opened", "hold-placed",
                                                                          "export-request", "export-handover")]


def station(archive: Path, *args: str, user: str | None = None, password: str = PASSWORD) -> subprocess.CompletedProcess:
    env = {**os.environ, "BODYCAM_PASSWORD": password}
    command = [sys.executable, "-m", "station", *args, "--archive", str(archive)] + (["--user", user] if user else [])
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def test_the_command_line_lifts_a_lockout_and_refuses_an_overlong_write_up(tmp_path):
    from station.services import dock_init
    archive = tmp_path / "archive"
    dock_init(archive)
    env = {**os.environ, "BODYCAM_NEW_PASSWORD": PASSWORD}
    for name, role, actor in (("admin", "administrator", []), ("rev", "reviewer", ["--user", "admin"])):
        subprocess.run([sys.executable, "-m", "station", "user", "add", name, "--role", role, "--archive", str(archive),
                        *actor], env={**env, "BODYCAM_PASSWORD": PASSWORD}, check=True, capture_output=True)
    for _ in range(5):
        assert station(archive, "user", "list", user="rev", password="wrong password").returncode == 1
    locked = station(archive, "pending", user="rev")
    assert locked.returncode == 1 and "locked" in locked.stderr and locked.stderr.count("\n") == 1
    assert station(archive, "user", "unlock", "rev", user="admin").returncode == 0
    assert station(archive, "pending", user="rev").returncode == 0
    long = station(archive, "writeup", "s1", "--reason", "other", "--text", "z" * 10001, user="rev")
    assert long.returncode == 1 and "a write-up has at most 10000 characters" in long.stderr
