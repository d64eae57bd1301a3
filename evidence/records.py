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

# The members of each record type's body and the type of each, nested objects included
# (docs/evidence-format.md, rules P6 and P7): an object must have exactly the members listed,
# except one marked MayBeAbsent; a Nullable member may also be null; a list holds items of one shape.
@dataclass(frozen=True)
class MayBeAbsent:
    shape: Any


@dataclass(frozen=True)
class Nullable:
    shape: Any


@dataclass(frozen=True)
class ListOf:
    shape: Any


HASH = "hash"        # 64 lowercase hex digits
OFFICER = {"police_number": str, "name": str}
UNIT = {"number": str, "name": str}
CLOCK = {"status": str, "reason": MayBeAbsent(str)}
FRAME = Nullable({"n": int, "pts": int, "mono": int, "wall": int})
FIX = Nullable({"lat": int, "lon": int, "utc": int})
SEALED_FILE = {"name": str, "size": int, "sha256": HASH}
ENCRYPTION = {"scheme": str, "kid": str, "agency_key": str, "wrapped_key": str}
CHAINED = {"format": str, "type": str, "device": str, "key_id": str, "seq": int, "prev": HASH}
SHAPES: dict[str, dict[str, Any]] = {
    "identity": CHAINED | {"officer": OFFICER, "unit": UNIT, "firmware": str, "reason": str, "signed_wall": int},
    "session-open": CHAINED | {
        "session": str, "started_wall": int, "officer": OFFICER, "unit": UNIT, "firmware": str, "clock": CLOCK,
        "link": Nullable({"previous_session": str, "gap_ms": int}), "pre_event_ms": int,
        "encryption": MayBeAbsent(ENCRYPTION)},
    "segment": CHAINED | {
        "session": str, "segment": int, "file": SEALED_FILE,
        "parts": ListOf({"type": str, "number": int, "offset": int, "size": int, "sha256": HASH}),
        "index": SEALED_FILE, "frames": {"count": int, "first": FRAME, "last": FRAME}, "flags": ListOf(str),
        "markers": ListOf({"n": int, "pts": int, "wall": int, "label": str}),
        "place": MayBeAbsent({"first": FIX, "last": FIX}), "sealed_wall": int, "officer": OFFICER, "unit": UNIT,
        "firmware": str, "clock": CLOCK},
    "session-close": CHAINED | {"session": str, "segments": int, "last_segment": Nullable(HASH), "reason": str,
                                "flags": ListOf(str), "ended_wall": int},
    "chain-head": {"format": str, "type": str, "device": str, "key_id": str, "seq": int, "head": HASH,
                   "written_wall": int},
}
MEMBERS = {kind: set(shape) for kind, shape in SHAPES.items()}


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
SERIAL = re.compile(r"[0-9A-Za-z]{7}")
POLICE_NUMBER = re.compile(r"[0-9]{6}")
UNIT_NUMBER = re.compile(r"[0-9]{12}")
IDENTITY_REASONS = ("provisioned", "re-assignment")


def shape_problem(value: Any, shape: Any, where: str) -> str:
    """Why ``value`` does not have ``shape`` (one of :data:`SHAPES`), or "" when it does."""
    if isinstance(shape, (MayBeAbsent, Nullable)):
        return "" if value is None and isinstance(shape, Nullable) else shape_problem(value, shape.shape, where)
    if shape is HASH:
        return "" if isinstance(value, str) and len(value) == 64 and HEX.fullmatch(value) else \
            f"{where} must be 64 lowercase hex digits"
    if shape in (int, str):
        return "" if type(value) is shape else f"{where} must be {'an integer' if shape is int else 'a string'}"
    if isinstance(shape, ListOf):
        if not isinstance(value, list):
            return f"{where} must be a list"
        return next((p for p in (shape_problem(item, shape.shape, f"{where}[{n}]") for n, item in enumerate(value))
                     if p), "")
    if not isinstance(value, dict):
        return f"{where} must be an object"
    required = {name for name, member in shape.items() if not isinstance(member, MayBeAbsent)}
    extra, missing = sorted(set(value) - set(shape)), sorted(required - set(value))
    if extra or missing:
        return f"{where} with " + "; ".join(f"{what} {', '.join(names)}" for what, names in
                                            (("extra members", extra), ("missing members", missing)) if names)
    return next((p for p in (shape_problem(value[name], shape[name], f"{where}: {name}") for name in sorted(value))
                 if p), "")


def value_problem(body: dict[str, Any]) -> str:
    """The value rules beyond the types (rules P8 and P10 to P12): ``seq``, the first record's ``prev``,
    a segment's parts, and who an identity record names."""
    if body["seq"] < 1:
        return "a record's seq must be a positive integer"
    if body.get("prev") is not None and body["seq"] == 1 and body["prev"] != GENESIS:
        return "the record with seq 1 must have prev 64 zeros"
    if body["type"] == "segment" and not parts_cover(body["parts"], body["file"]["size"]):
        return "a segment's parts must follow each other from offset 0 and add up to file.size"
    if body["type"] == "identity":
        return identity_problem(body)
    return ""


def parts_cover(parts: list[dict[str, Any]], size: int) -> bool:
    offset = 0
    for part in parts:
        if part["offset"] != offset:
            return False
        offset += part["size"]
    return offset == size


def identity_problem(body: dict[str, Any]) -> str:
    """Why an identity record names no valid serial, officer or unit ("" when it does)."""
    checks = [(SERIAL.fullmatch(body["device"]), "device must be 7 letters or digits"),
              (POLICE_NUMBER.fullmatch(body["officer"]["police_number"]), "officer.police_number must be 6 digits"),
              (UNIT_NUMBER.fullmatch(body["unit"]["number"]), "unit.number must be 12 digits"),
              (1 <= len(body["officer"]["name"]) <= 32, "officer.name must be 1 to 32 characters"),
              (1 <= len(body["unit"]["name"]) <= 32, "unit.name must be 1 to 32 characters"),
              (body["reason"] in IDENTITY_REASONS, "reason must be provisioned or re-assignment")]
    return next((f"an identity record's {why}" for ok, why in checks if not ok), "")


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
    shape = SHAPES.get(body["type"]) if isinstance(body.get("type"), str) else None
    if shape is None:
        raise EvidenceError(f"{body.get('type')!r} is not a record type of {FORMAT}")
    problem = shape_problem(body, shape, f"a {body['type']} record") or value_problem(body)
    if problem:
        raise EvidenceError(problem)
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
