"""The evidence format: signed records that seal segments and sessions into one chain.

This module is the single place that defines the bytes that are signed and hashed; the
device uses it to seal and the dock and ``bodycam verify`` use it to check. The format is
described for third parties in ``docs/evidence-format.md``.

A record is a JSON object. Its *canonical bytes* are the UTF-8 JSON with keys sorted, no
insignificant white space and non-ASCII characters kept as they are; every value is a
string, an integer, a boolean, null, a list or an object (never a float). The device
signs ``DOMAIN + canonical bytes`` with Ed25519, and a record's *hash* is the SHA-256 of
its canonical bytes. Each record names the hash of the record before it (``prev``) and
carries a sequence number that never repeats, so removing, inserting or reordering any
record breaks the chain visibly.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from evidence import EvidenceError
from evidence.keys import Signer, key_id

FORMAT = "bodycam-evidence/1"
DOMAIN = b"bodycam-evidence/1\n"
GENESIS = "0" * 64
MANIFEST_SUFFIX = ".manifest"
SESSION_OPEN = "session-open.json"
SESSION_CLOSE = "session-close.json"
INDEX_SUFFIX = ".idx"
CHAIN_HEAD = "chain-head.json"          # the device's signed head, offered first to a dock
IDENTITY_GLOB = "identity-[0-9][0-9][0-9][0-9][0-9][0-9].json"

# The members of each record type's body (docs/evidence-format.md): no more, no fewer, except
# that a member in OPTIONAL may be absent (records sealed before it was added).
CHAINED = {"format", "type", "device", "key_id", "seq", "prev"}
MEMBERS = {
    "session-open": CHAINED | {"session", "started_wall", "officer", "unit", "firmware", "clock", "link",
                               "pre_event_ms"},
    "segment": CHAINED | {"session", "segment", "file", "parts", "index", "frames", "flags", "markers",
                          "place", "sealed_wall", "officer", "unit", "firmware", "clock"},
    "session-close": CHAINED | {"session", "segments", "last_segment", "reason", "flags", "ended_wall"},
    "identity": CHAINED | {"officer", "unit", "firmware", "reason", "signed_wall"},
    "chain-head": {"format", "type", "device", "key_id", "seq", "head", "written_wall"},
}
OPTIONAL = {"segment": {"place"}}


def place_text(fix: Any) -> str | None:
    """A sealed GNSS fix (a segment manifest's ``place.first`` or ``place.last``) as
    ``"lat,lon"`` in degrees with six decimals, exactly as sealed; None when it is not a fix."""
    if not isinstance(fix, dict) or not all(type(fix.get(key)) is int for key in ("lat", "lon")):
        return None
    return ",".join(f"{'-' if value < 0 else ''}{abs(value) // 10**6}.{abs(value) % 10**6:06d}"
                    for value in (fix["lat"], fix["lon"]))


def identity_name(number: int) -> str:
    """The file of the device's ``number``-th identity record (1: provisioning)."""
    return f"identity-{number:06d}.json"


def canonical(body: dict[str, Any]) -> bytes:
    """The exact bytes that are signed and hashed."""
    _reject_floats(body)
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _reject_floats(value: Any) -> None:
    if isinstance(value, float):
        raise EvidenceError("evidence records hold no floating-point numbers (their text is not canonical)")
    if isinstance(value, dict):
        for item in value.values():
            _reject_floats(item)
    elif isinstance(value, list):
        for item in value:
            _reject_floats(item)


def record_hash(body: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(body)).hexdigest()


@dataclass(frozen=True)
class SignedRecord:
    """A record as stored: its body, the signature and the key that made it."""

    body: dict[str, Any]
    signature: bytes
    public_key: bytes

    @property
    def hash(self) -> str:
        return record_hash(self.body)

    def to_bytes(self) -> bytes:
        stored = {"record": self.body, "public_key": self.public_key.hex(), "signature": self.signature.hex()}
        return json.dumps(stored, ensure_ascii=False, sort_keys=True, indent=1).encode("utf-8") + b"\n"


def sign(body: dict[str, Any], signer: Signer) -> SignedRecord:
    return SignedRecord(body, signer.sign(DOMAIN + canonical(body)), signer.public_key)


STORED_MEMBERS = {"record", "public_key", "signature"}
HEX = re.compile(r"[0-9a-f]*")


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """JSON objects whose member names repeat are refused: a reader could take either value."""
    members = dict(pairs)
    if len(members) != len(pairs):
        names = [name for name, _ in pairs]
        raise EvidenceError(f"the member {next(n for n in names if names.count(n) > 1)!r} appears twice")
    return members


def _hex(text: Any, size: int, what: str) -> bytes:
    if not isinstance(text, str) or len(text) != 2 * size or not HEX.fullmatch(text):
        raise EvidenceError(f"not a signed record: {what} must be {2 * size} lowercase hex digits")
    return bytes.fromhex(text)


def parse(data: bytes) -> SignedRecord:
    """Read a stored record and check its signature against the key it names.

    Parsing is strict (docs/evidence-format.md): exactly the three stored members, no member
    name twice in any object, no floating-point number. Raises ``EvidenceError`` if the text
    is not such a record or the signature does not hold; whether the key is *trusted* is for
    the caller to decide.
    """
    try:
        stored = json.loads(data.decode("utf-8"), object_pairs_hook=_unique_members)
    except (UnicodeDecodeError, ValueError) as exc:
        raise EvidenceError(f"not a signed record: {exc}") from exc
    if not isinstance(stored, dict) or set(stored) != STORED_MEMBERS:
        raise EvidenceError(f"not a signed record: its members must be exactly {sorted(STORED_MEMBERS)}")
    body = stored["record"]
    public_key = _hex(stored["public_key"], 32, "public_key")
    signature = _hex(stored["signature"], 64, "signature")
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise EvidenceError(f"not a {FORMAT} record")
    expected = MEMBERS.get(body["type"]) if isinstance(body.get("type"), str) else None
    if expected is None:
        raise EvidenceError(f"{body.get('type')!r} is not a record type of {FORMAT}")
    required = expected - OPTIONAL.get(body["type"], set())
    if not required <= set(body) <= expected:
        extra, missing = sorted(set(body) - expected), sorted(required - set(body))
        raise EvidenceError(f"a {body['type']} record with " + "; ".join(
            f"{what} {', '.join(names)}" for what, names in (("extra members", extra), ("missing members", missing))
            if names))
    if not isinstance(body["seq"], int) or isinstance(body["seq"], bool) or body["seq"] < 1:
        raise EvidenceError("a record's seq must be a positive integer")
    message = DOMAIN + canonical(body)
    if body.get("key_id") != key_id(public_key):
        raise EvidenceError("the record's key_id does not name the key that signed it")
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError) as exc:
        raise EvidenceError("the signature does not match the record") from exc
    return SignedRecord(body, signature, public_key)


def read_record(path: Path) -> SignedRecord:
    try:
        return parse(path.read_bytes())
    except OSError as exc:
        raise EvidenceError(f"cannot read {path}: {exc.strerror}") from exc
