"""Sample inspections (抽检, S8): a supervisor draws sessions at random from a recorded seed and
records a finding for each, signed by the station beside (never inside) the device's records.

A draw is reproducible: the candidates are the catalogued, unpurged sessions of this station's
archive that meet its criteria (unit, officer, period), ordered by SHA-256 of the seed, a line
feed and the session id (``draw_order``); the first ``count`` of them (or ``per_mille``
thousandths of them, rounded up) are the sample. The seed, the criteria, how many candidates there were and the
SHA-256 of their ids in order are stored with the draw and in its audit entry, so the same
seed on the same catalogue can be shown to give the same sessions (:meth:`Inspections.redraw`).

A finding answers the checks the rules name (``CHECKS``), gives a verdict (规范 / 不规范) and a
note; it is a record the dock signs (like a write-up), kept in ``<archive>/inspections/<session>/``
and catalogued here, its hash in the audit trail. :meth:`Inspections.verify` rejects a finding
whose file was changed. Draws and findings are audit entries whose details carry everything
the tables hold, so ``bodycam-station rebuild`` restores them from the journal (``REPLAY``).
"""
from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.engine import Connection, Engine

from evidence import EvidenceError
from evidence.files import atomic_write
from evidence.keys import Signer, key_id
from evidence.paths import ArchiveDir
from evidence.records import SESSION_CLOSE, canonical, read_record, record_hash
from station.catalogue.catalogue import Catalogue, CatalogueError, sessions, station_id, within_limit
from station.custody.access import Access, User
from station.custody.audit import AuditTrail
from station.db import Migration

AREA = "supervision"
FORMAT = "bodycam-station/1"
DOMAIN = b"bodycam-station/1\n"
DRAW, FINDING = "inspection-draw", "inspection-finding"
# The checks of an inspection, by the rule each comes from (docs/inspections.md).
CHECKS = {
    "R5": "执法开始前即开始录制，并告知当事人正在录音录像",
    "R2": "执法全过程记录，无中断",
    "R3R4": "如有中止，有规定的事由并有书面说明",
    "D1": "画面叠加的时间、地点正确",
    "D3": "由领用该设备的民警佩戴使用",
}
ANSWERS = {"yes": "符合", "no": "不符合", "n/a": "不适用"}
VERDICTS = {"compliant": "规范", "noncompliant": "不规范"}

metadata = sa.MetaData()
draws = sa.Table(
    "inspection_draws", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("seed", sa.String(128), nullable=False),
    sa.Column("criteria", sa.Text, nullable=False),            # JSON: unit, officer, since_ns, until_ns, count, share
    sa.Column("candidates", sa.Integer, nullable=False),       # how many sessions met the criteria
    sa.Column("candidates_sha256", sa.String(64), nullable=False),   # of their ids in draw order, one a line
    sa.Column("sessions", sa.Text, nullable=False),            # the sample, space-separated, in draw order
    sa.Column("drawn_by", sa.String(64), nullable=False),
    sa.Column("drawn_ns", sa.BigInteger, nullable=False),
)
findings = sa.Table(
    "inspection_findings", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("draw", sa.Integer, sa.ForeignKey("inspection_draws.id"), nullable=False),
    sa.Column("session", sa.String(128), nullable=False),
    sa.Column("station", sa.String(16), nullable=False),
    sa.Column("file", sa.Text, nullable=False),                # the signed station record, in the archive
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("checks", sa.Text, nullable=False),              # JSON: rule -> yes | no | n/a
    sa.Column("verdict", sa.String(16), nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("inspected_by", sa.String(64), nullable=False),
    sa.Column("inspected_ns", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("draw", "session"),
)


def _create_v1(connection: Connection) -> None:
    metadata.create_all(connection)


MIGRATIONS = [Migration(1, "sample inspections: draws and their findings", _create_v1)]


@dataclass(frozen=True)
class Criteria:
    """Which sessions a draw picks from, and how many it picks: ``count`` of them, or ``per_mille``
    thousandths of them rounded up (integers only: every value is signed into the audit trail)."""

    unit: str | None = None             # unit number or name
    officer: str | None = None          # police number or name
    since_ns: int | None = None         # started at or after
    until_ns: int | None = None         # started before
    count: int | None = None
    per_mille: int | None = None

    def __post_init__(self) -> None:
        if (self.count is None) == (self.per_mille is None):
            raise CatalogueError("a draw takes either a count of sessions or a share of them")
        if self.count is not None and self.count < 1:
            raise CatalogueError("a draw takes at least one session")
        if self.per_mille is not None and not 0 < self.per_mille <= 1000:
            raise CatalogueError("a share is more than 0 ‰ and at most 1000 ‰ (e.g. 50 ‰ for 5 %)")

    def size(self, candidates: int) -> int:
        if self.count is not None:
            return min(self.count, candidates)
        return -(-self.per_mille * candidates // 1000)

    def as_json(self) -> dict[str, Any]:
        return {"unit": self.unit, "officer": self.officer, "since_ns": self.since_ns, "until_ns": self.until_ns,
                "count": self.count, "per_mille": self.per_mille}


def draw_order(seed: str, session_ids: Sequence[str]) -> list[str]:
    """The documented order of a draw: by SHA-256 of the seed, a line feed and the session id (UTF-8)."""
    return sorted(session_ids, key=lambda session: hashlib.sha256(f"{seed}\n{session}".encode()).hexdigest())


def candidates_digest(ordered: Sequence[str]) -> str:
    return hashlib.sha256("".join(f"{session}\n" for session in ordered).encode()).hexdigest()


class Inspections:
    """Draws and findings over ``catalogue`` (whose ``clock`` stamps them), gated by ``access``,
    each an entry of ``trail``, findings signed with the dock's ``signer`` and kept in ``archive``."""

    def __init__(self, catalogue: Catalogue, access: Access, trail: AuditTrail, signer: Signer, archive: Path) -> None:
        self.catalogue, self.access, self.trail, self.signer = catalogue, access, trail, signer
        self.engine: Engine = catalogue.engine
        self.archive = Path(archive)

    # -- draws ----------------------------------------------------------------------------
    def candidates(self, criteria: Criteria) -> list[str]:
        """The ids of the sessions a draw with ``criteria`` picks from."""
        query = sa.select(sessions.c.session).where(sessions.c.station == station_id(self.archive),
                                                    sessions.c.purged_ns.is_(None))
        if criteria.unit:
            query = query.where(sa.or_(sessions.c.unit_number == criteria.unit, sessions.c.unit == criteria.unit))
        if criteria.officer:
            query = query.where(sa.or_(sessions.c.police_number == criteria.officer,
                                       sessions.c.officer == criteria.officer))
        if criteria.since_ns is not None:
            query = query.where(sessions.c.started_ns >= criteria.since_ns)
        if criteria.until_ns is not None:
            query = query.where(sessions.c.started_ns < criteria.until_ns)
        with self.engine.connect() as connection:
            return list(connection.scalars(query))

    def sample(self, seed: str, criteria: Criteria) -> tuple[list[str], list[str]]:
        """(the candidates in draw order, the sample): what a draw with ``seed`` gives on the catalogue now."""
        ordered = draw_order(seed, self.candidates(criteria))
        return ordered, ordered[:criteria.size(len(ordered))]

    def draw(self, user: User, criteria: Criteria, seed: str | None = None) -> dict[str, Any]:
        """A supervisor draws a sample; ``seed`` (default: 128 random bits, in hex) is stored with it."""
        self.access.require(user, "inspect", action=DRAW)
        seed = seed.strip() if seed and seed.strip() else secrets.token_hex(16)
        within_limit("reason", seed)
        ordered, picked = self.sample(seed, criteria)
        if not picked:
            raise CatalogueError("no session meets the draw's criteria")
        row = {"seed": seed, "criteria": json.dumps(criteria.as_json(), sort_keys=True), "candidates": len(ordered),
               "candidates_sha256": candidates_digest(ordered), "sessions": " ".join(picked),
               "drawn_by": user.name, "drawn_ns": self.catalogue.clock()}
        with self.engine.begin() as connection:
            number = connection.execute(draws.insert().values(**row)).inserted_primary_key[0]
        self.trail.record(user.name, DRAW, role=user.role, footage=picked,
                          detail={"draw": number, **row, "criteria": criteria.as_json()})
        return self.get_draw(number)

    def get_draw(self, number: int) -> dict[str, Any]:
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(draws).where(draws.c.id == number)).first()
        if row is None:
            raise CatalogueError(f"there is no inspection draw {number}")
        return _draw(row)

    def all_draws(self) -> list[dict[str, Any]]:
        with self.engine.connect() as connection:
            return [_draw(row) for row in connection.execute(sa.select(draws).order_by(draws.c.id))]

    def redraw(self, number: int) -> bool:
        """Whether drawing again with the stored seed and criteria gives the same candidates and sample."""
        stored = self.get_draw(number)
        ordered, picked = self.sample(stored["seed"], Criteria(**stored["criteria"]))
        return candidates_digest(ordered) == stored["candidates_sha256"] and picked == stored["sessions"]

    # -- findings -------------------------------------------------------------------------
    def record_finding(self, user: User, number: int, session: str, checks: dict[str, str], verdict: str,
                       note: str) -> dict[str, Any]:
        """A supervisor's finding on one session of draw ``number``: signed, stored, catalogued, audited."""
        self.access.require(user, "inspect", action=FINDING, footage=[session])
        drawn = self.get_draw(number)
        if session not in drawn["sessions"]:
            raise CatalogueError(f"session {session} is not in inspection draw {number}")
        if set(checks) != set(CHECKS) or not set(checks.values()) <= set(ANSWERS):
            raise CatalogueError(f"a finding answers every check ({', '.join(CHECKS)}) with one of "
                                 f"{', '.join(ANSWERS)}")
        if verdict not in VERDICTS:
            raise CatalogueError(f"a verdict is one of {', '.join(VERDICTS)}, not {verdict!r}")
        if verdict == "compliant" and "no" in checks.values():
            raise CatalogueError("a finding with a failed check cannot be 规范 (compliant)")
        within_limit("write-up", note)
        if self.finding(number, session) is not None:
            raise CatalogueError(f"session {session} of draw {number} has its finding already")
        found = self.catalogue.session(session)
        body = self._body(user, number, found, checks, verdict, note)
        path = ArchiveDir(self.archive).inspections / session / f"finding-{number:06d}-{body['inspected_ns']}.json"
        stored = {"record": body, "public_key": self.signer.public_key.hex(),
                  "signature": self.signer.sign(DOMAIN + canonical(body)).hex()}
        atomic_write(path, json.dumps(stored, ensure_ascii=False, sort_keys=True, indent=1).encode() + b"\n", 0o444)
        row = {"draw": number, "session": session, "station": self.signer.key_id,
               "file": path.relative_to(self.archive).as_posix(), "hash": record_hash(body),
               "checks": json.dumps(checks, sort_keys=True), "verdict": verdict, "note": note,
               "inspected_by": user.name, "inspected_ns": body["inspected_ns"]}
        with self.engine.begin() as connection:
            connection.execute(findings.insert().values(**row))
        self.trail.record(user.name, FINDING, role=user.role, footage=[session], reason=note or None,
                          detail={**row, "checks": checks})
        return body

    def _body(self, user: User, number: int, found: dict[str, Any], checks: dict[str, str], verdict: str,
              note: str) -> dict[str, Any]:
        closed = self.archive / found["folder"] / SESSION_CLOSE
        return {"format": FORMAT, "type": FINDING, "key_id": self.signer.key_id, "draw": number,
                "session": found["session"], "device": found["device"], "officer": found["police_number"],
                "unit": found["unit_number"], "session_close": read_record(closed).hash if closed.exists() else None,
                "checks": checks, "verdict": verdict, "note": note, "inspected_by": user.name,
                "inspected_ns": self.catalogue.clock()}

    def finding(self, number: int, session: str) -> dict[str, Any] | None:
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(findings).where(findings.c.draw == number,
                                                               findings.c.session == session)).first()
        return None if row is None else _finding(row)

    def verify(self) -> list[tuple[dict[str, Any], str | None]]:
        """Each catalogued finding and why it is rejected (None: its file is the one the station signed)."""
        with self.engine.connect() as connection:
            rows = [_finding(row) for row in connection.execute(sa.select(findings).order_by(findings.c.id))]
        return [(row, self.problem(row)) for row in rows]

    def problem(self, row: dict[str, Any]) -> str | None:
        """Why the finding ``row`` is rejected, or None."""
        path = self.archive / row["file"]
        try:
            body = read(path, self.signer.public_key)
        except (EvidenceError, OSError) as exc:
            return str(exc)
        if record_hash(body) != row["hash"]:
            return f"{path} is not the finding the station recorded (its hash differs from the audit trail's)"
        return None

    def check(self, user: User) -> tuple[list[tuple[dict[str, Any], str | None]], list[tuple[dict[str, Any], bool]]]:
        """Every finding with why it is rejected (None: intact), and every draw with whether its seed
        gives the same sessions again; the check is an audit entry naming what failed."""
        self.access.require(user, "inspect", action="inspection-verify")
        findings_checked = self.verify()
        draws_checked = [(drawn, self.redraw(drawn["id"])) for drawn in self.all_draws()]
        self.trail.record(user.name, "inspection-verify", role=user.role, detail={
            "findings": len(findings_checked), "rejected": [row["id"] for row, problem in findings_checked if problem],
            "draws": len(draws_checked), "not_reproduced": [drawn["id"] for drawn, same in draws_checked if not same]})
        return findings_checked, draws_checked

    # -- the ledger -----------------------------------------------------------------------
    def ledger(self, user: User) -> list[dict[str, Any]]:
        """Every sampled session of every draw with its finding (if any) and whether that verifies,
        by unit, officer and draw: the inspection ledger (检查台账). Reading it is an audit entry."""
        self.access.require(user, "inspect", action="inspection-ledger")
        problems = {row["id"]: problem for row, problem in self.verify()}
        entries = []
        for drawn in self.all_draws():
            for session in drawn["sessions"]:
                found = self.catalogue.session(session) or {}
                finding = self.finding(drawn["id"], session)
                entries.append({
                    "unit": found.get("unit", ""), "unit_number": found.get("unit_number", ""),
                    "officer": found.get("officer", ""), "police_number": found.get("police_number", ""),
                    "device": found.get("device", ""), "started_ns": found.get("started_ns"),
                    "draw": drawn["id"], "seed": drawn["seed"], "drawn_by": drawn["drawn_by"],
                    "drawn_ns": drawn["drawn_ns"], "session": session, "finding": finding,
                    "problem": problems.get(finding["id"]) if finding else None})
        self.trail.record(user.name, "inspection-ledger", role=user.role)
        return sorted(entries, key=lambda e: (e["unit_number"], e["police_number"], e["draw"], e["session"]))


def verdict_counts(catalogue: Catalogue, unit: str | None, since_ns: int, until_ns: int) -> dict[str, int]:
    """The findings recorded from ``since_ns`` until ``until_ns`` on sessions of ``unit`` (its
    number; None: every unit), by verdict: what the usage report says of the inspections."""
    query = (sa.select(findings.c.verdict, sa.func.count())
             .select_from(findings.join(sessions, sessions.c.session == findings.c.session))
             .where(findings.c.inspected_ns >= since_ns, findings.c.inspected_ns < until_ns)
             .group_by(findings.c.verdict))
    if unit is not None:
        query = query.where(sessions.c.unit_number == unit)
    with catalogue.engine.connect() as connection:
        return {verdict: count for verdict, count in connection.execute(query)}


def _draw(row: Any) -> dict[str, Any]:
    return {**row._mapping, "criteria": json.loads(row.criteria), "sessions": row.sessions.split()}


def _finding(row: Any) -> dict[str, Any]:
    return {**row._mapping, "checks": json.loads(row.checks)}


def read(path: Path, dock_key: bytes) -> dict[str, Any]:
    """The body of a stored finding, after checking that ``dock_key`` signed it."""
    try:
        stored = json.loads(path.read_bytes())
        body, public_key, signature = stored["record"], bytes.fromhex(stored["public_key"]), \
            bytes.fromhex(stored["signature"])
        if body["format"] != FORMAT or body["type"] != FINDING or public_key != dock_key:
            raise EvidenceError(f"{path} is not an inspection finding signed by dock {key_id(dock_key)}")
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, DOMAIN + canonical(body))
    except (ValueError, KeyError, TypeError, InvalidSignature) as exc:
        raise EvidenceError(f"{path} is not a valid inspection finding: {exc!r}") from exc
    return body


def _replay_draw(connection: Connection, detail: dict[str, Any]) -> None:
    """Draws come back in their order into an empty table, so each takes its number again
    (the sequence of a PostgreSQL table advancing as it does)."""
    number = connection.execute(draws.insert().values(
        criteria=json.dumps(detail["criteria"], sort_keys=True),
        **{name: detail[name] for name in ("seed", "candidates", "candidates_sha256", "sessions", "drawn_by",
                                           "drawn_ns")})).inserted_primary_key[0]
    if number != detail["draw"]:
        raise CatalogueError(f"inspection draw {detail['draw']} came back as number {number}: the table was not empty")


def _replay_finding(connection: Connection, detail: dict[str, Any]) -> None:
    connection.execute(findings.insert().values(
        checks=json.dumps(detail["checks"], sort_keys=True),
        **{name: detail[name] for name in ("draw", "session", "station", "file", "hash", "verdict", "note",
                                           "inspected_by", "inspected_ns")}))


# What a replay of the journal does for this area's entries (station.custody.journal.replay).
REPLAY: dict[str, Callable[[Connection, dict[str, Any]], None]] = {DRAW: _replay_draw, FINDING: _replay_finding}
