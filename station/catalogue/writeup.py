"""The officer's write-up (R3, R4): the reason and account of a stop, given afterwards at the dock.

Sessions that need one: a stop whose reason is not ``end_of_enforcement`` (``unspecified``
above all: "to be filled in at the dock"), a session cut by a power loss (``interrupted``) and
one that resumed after an interruption (its open record links a previous session). The
write-up is a record the dock signs with its own key (docs/catalogue.md), kept in
``<archive>/writeups/<session>/``, beside the device's records and never inside them: the
device's sealed reason stays as it was, the write-up adds to it.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from evidence import EvidenceError
from evidence.files import atomic_write
from evidence.keys import Signer, key_id, load_public_key
from evidence.paths import ArchiveDir
from evidence.records import SESSION_CLOSE, canonical, read_record, record_hash
from station.catalogue.catalogue import Catalogue, CatalogueError, sessions, within_limit, writeups

FORMAT = "bodycam-station/1"
DOMAIN = b"bodycam-station/1\n"
# The stop reasons of docs/device-service.md an officer may give; "unspecified" is what a write-up replaces.
REASONS = ("end_of_enforcement", "witness_request", "covert_measures", "public_transport", "secrets_privacy",
           "weather", "other", "battery", "storage", "fault", "shutdown", "power loss")


def needs_one() -> sa.ColumnElement[bool]:
    """Whether a closed session needs a write-up: its stop was not the end of enforcement, it was
    interrupted, or it resumed after an interruption."""
    return sa.and_(sessions.c.segments_sealed.is_not(None),
                   sa.or_(sessions.c.stop_code.is_(None), sessions.c.stop_code != "end_of_enforcement",
                          sessions.c.interrupted, sessions.c.previous_session.is_not(None)))


def pending(catalogue: Catalogue, officer: str | None = None) -> list[dict[str, Any]]:
    """Sessions (of ``officer``: police number or name) that need a write-up and have none."""
    query = sa.select(sessions.c.session).where(
        needs_one(), sessions.c.purged_ns.is_(None),
        sessions.c.session.not_in(sa.select(writeups.c.session))).order_by(sessions.c.started_ns)
    if officer is not None:
        query = query.where(sa.or_(sessions.c.police_number == officer, sessions.c.officer == officer))
    with catalogue.engine.connect() as connection:
        names = list(connection.scalars(query))
    return [catalogue.session(name) for name in names]


def write_up(catalogue: Catalogue, archive: Path, session: str, reason: str, text: str, *,
             actor: str, signer: Signer) -> dict[str, Any]:
    """Sign (with the dock's ``signer``) and keep the write-up of ``session`` by ``actor``; returns its body."""
    if reason not in REASONS:
        raise CatalogueError(f"no stop reason {reason!r}: one of {', '.join(REASONS)}")
    if not text.strip():
        raise CatalogueError("a write-up needs its text: what happened and why")
    within_limit("write-up", text)
    found = catalogue.session(session)
    if found is None:
        raise CatalogueError(f"no session {session!r} in the catalogue")
    folders = ArchiveDir(archive)
    closed = folders.root / found["folder"] / SESSION_CLOSE
    body = {"format": FORMAT, "type": "writeup", "key_id": signer.key_id, "session": session,
            "device": found["device"], "officer": found["police_number"], "stop_reason": found["stop_reason"],
            "session_close": read_record(closed).hash if closed.exists() else None,
            "reason": reason, "text": text, "written_by": actor, "written_ns": catalogue.clock()}
    stored = {"record": body, "public_key": signer.public_key.hex(),
              "signature": signer.sign(DOMAIN + canonical(body)).hex()}
    data = json.dumps(stored, ensure_ascii=False, sort_keys=True, indent=1).encode() + b"\n"
    path = folders.writeups / session / f"writeup-{body['written_ns']}.json"
    if path.exists():
        raise CatalogueError(f"{path} exists already")
    atomic_write(path, data, 0o444)
    file(catalogue, archive, path)
    catalogue.hook("write-up", actor, {"session": session, "reason": reason, "file": str(path)})
    return body


def read(path: Path, dock_key: bytes) -> dict[str, Any]:
    """The body of a stored write-up, after checking that ``dock_key`` signed it."""
    try:
        stored = json.loads(path.read_bytes())
        body, public_key, signature = stored["record"], bytes.fromhex(stored["public_key"]), \
            bytes.fromhex(stored["signature"])
        if body["format"] != FORMAT or body["type"] != "writeup" or public_key != dock_key:
            raise EvidenceError(f"{path} is not a write-up signed by dock {key_id(dock_key)}")
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, DOMAIN + canonical(body))
    except (ValueError, KeyError, TypeError, InvalidSignature) as exc:
        raise EvidenceError(f"{path} is not a valid write-up: {exc!r}") from exc
    return body


def file(catalogue: Catalogue, archive: Path, path: Path) -> None:
    """Catalogue a stored write-up (after a write-up, and by a rebuild)."""
    folders = ArchiveDir(archive)
    dock_key = load_public_key(folders.public_key.read_text())
    body = read(path, dock_key)
    with catalogue.engine.begin() as connection:
        connection.execute(writeups.insert().values(
            session=body["session"], station=key_id(dock_key), file=path.relative_to(folders.root).as_posix(),
            hash=record_hash(body), reason=body["reason"], text=body["text"], written_by=body["written_by"],
            written_ns=body["written_ns"]))


def of(catalogue: Catalogue, session: str) -> list[dict[str, Any]]:
    """The write-ups of ``session``, oldest first."""
    with catalogue.engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(
            sa.select(writeups).where(writeups.c.session == session).order_by(writeups.c.written_ns))]
