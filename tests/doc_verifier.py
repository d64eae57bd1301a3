"""A verifier written from docs/evidence-format.md alone, as a third party would: JSON, SHA-256
and an Ed25519 library, nothing of the project. Rule numbers (P7, V6.5 …) are the document's.

``verify(paths, pinned)`` returns {session folder: (segment states by file name, problems)}
and whether verification passes.
"""
from __future__ import annotations

import hashlib
import json
import re
from itertools import pairwise
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

DOMAIN = b"bodycam-evidence/1\n"
RECEIPT = b"bodycam-dock/1 receipt\n"
# Rule P7's table: "s" string, "i" integer, "h" 64 lowercase hex digits, "?x" x or null, "[x" a list
# of x, a dict an object with exactly those members, a name ending in "*" a member that may be absent.
OFFICER = {"police_number": "s", "name": "s"}
UNIT = {"number": "s", "name": "s"}
CLOCK = {"status": "s", "reason*": "s"}
FRAME = {"n": "i", "pts": "i", "mono": "i", "wall": "i"}
FIX = {"lat": "i", "lon": "i", "utc": "i"}
FILE = {"name": "s", "size": "i", "sha256": "h"}
CHAINED = {"format": "s", "type": "s", "device": "s", "key_id": "s", "seq": "i", "prev": "h"}
TYPES = {
    "identity": {**CHAINED, "officer": OFFICER, "unit": UNIT, "firmware": "s", "reason": "s", "signed_wall": "i"},
    "session-open": {**CHAINED, "session": "s", "started_wall": "i", "officer": OFFICER, "unit": UNIT,
                     "firmware": "s", "clock": CLOCK, "link": ("?", {"previous_session": "s", "gap_ms": "i"}),
                     "pre_event_ms": "i",
                     "encryption*": {"scheme": "s", "kid": "s", "agency_key": "s", "wrapped_key": "s"}},
    "segment": {**CHAINED, "session": "s", "segment": "i", "file": FILE,
                "parts": ("[", {"type": "s", "number": "i", "offset": "i", "size": "i", "sha256": "h"}),
                "index": FILE, "frames": {"count": "i", "first": ("?", FRAME), "last": ("?", FRAME)},
                "flags": ("[", "s"), "markers": ("[", {"n": "i", "pts": "i", "wall": "i", "label": "s"}),
                "place*": {"first": ("?", FIX), "last": ("?", FIX)}, "sealed_wall": "i", "officer": OFFICER,
                "unit": UNIT, "firmware": "s", "clock": CLOCK},
    "session-close": {**CHAINED, "session": "s", "segments": "i", "last_segment": ("?", "h"), "reason": "s",
                      "flags": ("[", "s"), "ended_wall": "i"},
    "chain-head": {"format": "s", "type": "s", "device": "s", "key_id": "s", "seq": "i", "head": "h",
                   "written_wall": "i"},
}
HEX = re.compile(r"[0-9a-f]+")
SEGMENT = re.compile(r"seg-([0-9]{6})\.mp4")
IDENTITY = re.compile(r"identity-([0-9]{6})\.json")
HEAD = re.compile(r"head-[0-9a-f]{16}\.json")
ZEROS = "0" * 64


def typed(value, kind) -> bool:
    """Rule P7: whether ``value`` is of ``kind`` (the table above)."""
    if isinstance(kind, tuple):
        if kind[0] == "?":
            return value is None or typed(value, kind[1])
        return isinstance(value, list) and all(typed(item, kind[1]) for item in value)
    if isinstance(kind, dict):
        if not isinstance(value, dict):
            return False
        names = {name.rstrip("*"): item for name, item in kind.items()}
        needed = {name for name in kind if not name.endswith("*")}
        return needed <= set(value) <= set(names) and all(typed(value[name], names[name]) for name in value)
    if kind == "i":
        return type(value) is int
    if kind == "h":
        return isinstance(value, str) and len(value) == 64 and HEX.fullmatch(value) is not None
    return isinstance(value, str)


def values_hold(body) -> bool:
    """Rules P8 to P11."""
    if body["seq"] < 1 or (body["seq"] == 1 and "prev" in body and body["prev"] != ZEROS):
        return False
    if body["type"] == "segment":
        offset = 0
        for part in body["parts"]:
            if part["offset"] != offset:
                return False
            offset += part["size"]
        if offset != body["file"]["size"]:
            return False
    if body["type"] == "identity":
        return (re.fullmatch(r"[0-9A-Za-z]{7}", body["device"]) is not None
                and re.fullmatch(r"[0-9]{6}", body["officer"]["police_number"]) is not None
                and re.fullmatch(r"[0-9]{12}", body["unit"]["number"]) is not None
                and 0 < len(body["officer"]["name"]) <= 32 and 0 < len(body["unit"]["name"]) <= 32
                and body["reason"] in ("provisioned", "re-assignment"))
    return True


class NotARecord(Exception):
    pass


def _pairs(pairs):
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        raise NotARecord("a member named twice")
    return dict(pairs)


def _no_float(_text):
    raise NotARecord("a floating-point number")


def canonical(body) -> bytes:
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def read(path: Path):
    """(body, public key, hash) of a valid record, or None ("A stored record")."""
    try:
        stored = json.loads(path.read_bytes().decode("utf-8"), object_pairs_hook=_pairs, parse_float=_no_float)
        if not isinstance(stored, dict) or set(stored) != {"record", "public_key", "signature"}:
            return None
        body, key, signature = stored["record"], stored["public_key"], stored["signature"]
        if not (isinstance(key, str) and len(key) == 64 and HEX.fullmatch(key)
                and isinstance(signature, str) and len(signature) == 128 and HEX.fullmatch(signature)):
            return None
        if not isinstance(body, dict) or body.get("format") != "bodycam-evidence/1":
            return None
        if not isinstance(body.get("type"), str) or body["type"] not in TYPES:
            return None
        if not typed(body, TYPES[body["type"]]) or not values_hold(body):
            return None
        public = bytes.fromhex(key)
        if body["key_id"] != hashlib.sha256(public).hexdigest()[:16]:
            return None
        Ed25519PublicKey.from_public_bytes(public).verify(bytes.fromhex(signature), DOMAIN + canonical(body))
    except (OSError, UnicodeDecodeError, ValueError, NotARecord, InvalidSignature):
        return None
    return body, public, hashlib.sha256(canonical(body)).hexdigest()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def complete_fragment_after(data: bytes) -> bool:
    """Step 3.5: a whole moof box directly followed by a whole mdat box."""
    position, previous = 0, None
    while position + 8 <= len(data):
        size, kind = int.from_bytes(data[position:position + 4], "big"), data[position + 4:position + 8]
        header = 16 if size == 1 else 8
        if size == 1 and position + 16 <= len(data):
            size = int.from_bytes(data[position + 8:position + 16], "big")
        if size < header or position + size > len(data):
            return False
        if kind == b"mdat" and previous == b"moof":
            return True
        previous, position = kind, position + size
    return False


def pem_key(text: str) -> bytes:
    key = serialization.load_pem_public_key(text.encode())
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def released(folder: Path, name: str, sealed_sha256: str, device_key: bytes) -> bool:
    """"Receipts and the released state": on a device, ``<data dir>/receipts/<session>/<file>.receipt``."""
    data_dir = folder.parent.parent
    item = f"{folder.name}/{name}"
    try:
        receipt = json.loads((data_dir / "receipts" / folder.name / (name + ".receipt")).read_text())
        if set(receipt) != {"item", "sha256", "dock_key", "signature", "time_ns"} \
                or type(receipt["time_ns"]) is not int or not isinstance(receipt["item"], str) \
                or not all(isinstance(receipt[name], str) and len(receipt[name]) == size and HEX.fullmatch(receipt[name])
                           for name, size in (("sha256", 64), ("dock_key", 64), ("signature", 128))):
            return False
        docks = {pem_key(p.read_text()) for p in (data_dir / "device" / "docks").glob("*.pub")}
        dock = bytes.fromhex(receipt["dock_key"])
        if receipt["item"] != item or receipt["sha256"] != sealed_sha256 or dock not in docks:
            return False
        Ed25519PublicKey.from_public_bytes(dock).verify(
            bytes.fromhex(receipt["signature"]),
            RECEIPT + device_key + bytes.fromhex(sealed_sha256) + item.encode("utf-8"))
        return True
    except (OSError, ValueError, KeyError, TypeError, InvalidSignature):
        return False


def session(folder: Path, pinned: set[bytes] | None):
    """Steps 1 to 5 for one folder: (states, problems, open, close)."""
    states: dict[str, str] = {}
    problems: list[str] = []
    videos = {p.name: p.read_bytes() for p in folder.glob("seg-*.mp4")}
    opened = read(folder / "session-open.json")
    if opened is None or opened[0]["type"] != "session-open":
        return {name: "UNSIGNED" for name in videos}, ["open record"], None, None
    open_body, open_key, open_hash = opened
    if pinned is not None and open_key not in pinned:
        problems.append("open key not pinned")
    if open_body["session"] != folder.name:
        problems.append("session is not the folder")
    closed = read(folder / "session-close.json")
    if closed is not None and closed[0]["type"] != "session-close":
        closed = None
    if closed is None:
        problems.append("close record")
    claimed: set[str] = set()
    chain: dict[int, tuple[dict, str]] = {}
    for manifest in sorted(folder.glob("seg-*.mp4.manifest")):
        name = manifest.name[:-len(".manifest")]
        if name in videos:
            claimed.add(name)
        record = read(manifest)
        states[name] = segment_state(folder, name, record, opened, pinned, videos, claimed)
        if record and record[0]["type"] == "segment" and record[1] == open_key \
                and record[0]["session"] == open_body["session"]:
            chain[record[0]["segment"]] = (record[0], record[2])
    for name in videos:
        if name not in claimed:
            states[name] = "UNSIGNED"
    # step 5
    count = max([*chain, closed[0]["segments"] if closed else 0], default=0)
    previous = open_hash
    for number in range(1, count + 1):
        name = f"seg-{number:06d}.mp4"
        if number not in chain:
            if name not in states:
                states[name] = "MISSING"
            previous = None
            continue
        body, digest = chain[number]
        if previous is not None and body["prev"] != previous and states.get(body["file"]["name"]) in ("OK", "RECOVERED"):
            states[body["file"]["name"]] = "OUT-OF-ORDER"
        previous = digest
    if closed is not None:
        close_body, close_key = closed[0], closed[1]
        n = close_body["segments"]
        if n in chain and (close_body["last_segment"] != chain[n][1] or close_body["prev"] != chain[n][1]):
            problems.append("close does not name the last segment")
        if n == 0 and close_body["prev"] != open_hash:
            problems.append("close does not follow the open record")
        if any(number > n for number in chain):
            problems.append("segments after the close")
        if close_key != open_key or close_body["session"] != open_body["session"]:
            problems.append("close of another key or session")
    return states, problems, opened, closed


def segment_state(folder, name, record, opened, pinned, videos, claimed) -> str:
    """Step 3: the first rule that applies."""
    if record is None or record[0]["type"] != "segment":
        return "TAMPERED"
    body, key, _ = record
    open_body, open_key, _ = opened
    if key != open_key:
        return "FOREIGN" if body["device"] != open_body["device"] else "UNKNOWN-KEY"
    if pinned is not None and key not in pinned:
        return "UNKNOWN-KEY"
    if body["session"] != open_body["session"]:
        return "FOREIGN"
    match = SEGMENT.fullmatch(name)
    if body["file"]["name"] != name or not match or body["segment"] != int(match.group(1)):
        return "OUT-OF-ORDER"
    sealed, recovered = body["file"], "recovered" in body["flags"]
    data = videos.get(name)
    if data is not None and (
            (len(data) == sealed["size"] and sha256(data) == sealed["sha256"])
            or (recovered and len(data) > sealed["size"] and sha256(data[:sealed["size"]]) == sealed["sha256"])):
        index = folder / (name + ".idx")
        if body["index"]["name"] != name + ".idx" or not index.exists():
            return "TAMPERED"
        index_data = index.read_bytes()
        if len(index_data) != body["index"]["size"] or sha256(index_data) != body["index"]["sha256"]:
            return "TAMPERED"
        if len(data) > sealed["size"] and complete_fragment_after(data[sealed["size"]:]):
            return "TAMPERED"
        return "RECOVERED" if recovered else "OK"
    for other, other_data in videos.items():
        if other != name and sha256(other_data) == sealed["sha256"]:
            claimed.add(other)
            return "OUT-OF-ORDER"
    if data is None:
        return "OK" if released(folder, name, sealed["sha256"], key) else "MISSING"
    return "TAMPERED"


def device_roots(path: Path) -> list[Path]:
    """Rule F3: for a spool, the device's own records are in ../device."""
    return [path, path.parent / "device"] if path.name == "spool" else [path]


def identity_records(paths: list[Path]) -> list[tuple[Path, object]]:
    found = set()
    for path in paths:
        for root in device_roots(path):
            if root.is_dir():
                found |= {p for p in root.rglob("identity-*.json") if IDENTITY.fullmatch(p.name)}
    return [(p, read(p)) for p in sorted(found)]


def heads(paths: list[Path]) -> list[tuple[Path, object]]:
    """Rule V8: device/chain.json, and an archive's chain/<key id>/head-<16 hex>.json."""
    found = set()
    for path in paths:
        for root in device_roots(path):
            if root.is_dir():
                found |= {p for p in root.rglob("chain.json") if p.parent.name == "device"}
                found |= {p for p in root.rglob("head-*.json") if HEAD.fullmatch(p.name) and p.parent.parent.name == "chain"}
    return [(p, read(p)) for p in sorted(found)]


def verify(paths: list[Path], pinned: set[bytes] | None = None):
    folders = sorted({p.parent for path in paths for p in ([path] if path.is_file() else path.rglob("*"))
                      if p.name == "session-open.json" or SEGMENT.fullmatch(p.name) or p.name.endswith(".manifest")})
    results = {folder: session(folder, pinned) for folder in folders}

    def everyone(problem):
        for _, problems, _, _ in results.values():
            problems.append(problem)

    def of_key(key):
        return [problems for _, problems, opened, _ in results.values() if opened is not None and opened[1] == key]

    # step 6
    by_key: dict[bytes, list[tuple[int, str, str, dict, Path | None]]] = {}
    for folder, (_, _, opened, closed) in results.items():
        for record in (opened, closed):
            if record is not None:
                body, key, digest = record
                by_key.setdefault(key, []).append((body["seq"], body["type"], digest, body, folder))
    identities = identity_records(paths)
    for _, record in identities:
        if record is None or record[0]["type"] != "identity":
            everyone("identity record not valid")
            continue
        body, key, digest = record
        by_key.setdefault(key, []).append((body["seq"], "identity", digest, body, None))

    def flag(key, link, problem):
        for problems in ([results[link[4]][1]] if link[4] is not None else of_key(key)):
            problems.append(problem)

    for key, links in by_key.items():
        links.sort(key=lambda link: (link[0], link[1] != "session-close"))
        for before, after in zip(links, links[1:]):
            if before[0] == after[0]:
                if before[2] != after[2]:
                    flag(key, before, "fork")
                    flag(key, after, "fork")
                continue
            if after[1] in ("session-open", "identity") and before[1] in ("session-close", "identity") \
                    and after[3]["prev"] != before[2]:
                flag(key, after, "missing records between")
        if len({link[3]["device"] for link in links}) > 1:
            for problems in of_key(key):
                problems.append("one key, two serials")
    # step 6.4: identity numbering
    folders_of_identities: dict[Path, list] = {}
    for path, record in identities:
        if path.parent.name == "identity" or path.parent.parent.name == "chain":
            folders_of_identities.setdefault(path.parent, []).append((int(IDENTITY.fullmatch(path.name).group(1)), record))
    for entries in folders_of_identities.values():
        numbers = sorted(number for number, _ in entries)
        seqs = [record[0]["seq"] for _, record in sorted(entries, key=lambda e: e[0]) if record is not None]
        if numbers != list(range(1, len(numbers) + 1)) or any(a >= b for a, b in pairwise(seqs)):
            everyone("identity numbering")
    # step 8: chain heads
    for path, head in heads(paths):
        if head is None or head[0]["type"] != "chain-head":
            everyone("chain head not valid")
            continue
        body, key, _ = head
        found = [record for _, record in identities
                 if record is not None and record[0]["type"] == "identity" and record[1] == key]
        for folder, (_, _, opened, closed) in results.items():
            if opened is not None and opened[1] == key:
                found += [record for record in (opened, closed) if record is not None]
                for manifest in folder.glob("seg-*.mp4.manifest"):
                    record = read(manifest)
                    if record and record[0]["type"] == "segment" and record[1] == key \
                            and record[0]["session"] == opened[0]["session"]:
                        found.append(record)
        seen: dict[int, set[str]] = {}
        for record in found:
            seen.setdefault(record[0]["seq"], set()).add(record[2])
        if body["seq"] in seen and body["head"] not in seen[body["seq"]]:
            problem = "head names another record"
        elif path.name == "chain.json" and body["seq"] > max(seen, default=0):
            problem = "head ahead of the records"
        else:
            continue
        for problems in of_key(key) or [p for _, p, _, _ in results.values()]:
            problems.append(problem)
    # step 7
    if pinned is None:
        keys: dict[str, set[bytes]] = {}
        for _, _, opened, _ in results.values():
            if opened is not None:
                keys.setdefault(opened[0]["device"], set()).add(opened[1])
        for _, record in identities:
            if record is not None and record[0]["type"] == "identity":
                keys.setdefault(record[0]["device"], set()).add(record[1])
        for _, problems, opened, _ in results.values():
            if opened is not None and len(keys[opened[0]["device"]]) > 1:
                problems.append("serial signed by two keys")
    verdicts = {folder: (states, problems) for folder, (states, problems, _, _) in results.items()}
    passes = bool(verdicts) and all(not problems and all(s in ("OK", "RECOVERED") for s in states.values())
                                    for states, problems in verdicts.values())
    return verdicts, passes


def content_key(open_record_body: dict, agency_private: bytes) -> bytes:
    """An encrypted session's content key, unwrapped as "Encrypted sessions" says: HPKE base mode,
    DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, ``enc || ciphertext``, and this info."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite

    member = open_record_body["encryption"]
    info = b"bodycam-evidence/1 content key\n" + open_record_body["session"].encode() + b"\n" + member["kid"].encode()
    return Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.AES_128_GCM).decrypt(
        bytes.fromhex(member["wrapped_key"]), X25519PrivateKey.from_private_bytes(agency_private), info=info)
