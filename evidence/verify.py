"""Checking footage against its seals, on a device spool or a dock archive.

Exactly the checks of docs/evidence-format.md ("Verifying"), in its order. Every segment
gets one state, and every session a list of problems:

- ``OK``: the file is exactly what its manifest sealed, the manifest is signed by the
  session's key and sits where the chain says; also a video the device freed after a dock
  receipted exactly its sealed hash ("released after upload").
- ``RECOVERED``: as OK, for a segment sealed after a power cut from its completed
  fragments; bytes after the sealed end are named, and are never evidence.
- ``TAMPERED``: the bytes differ from what was sealed (the fragment is named), the file is
  truncated or extended, its index differs, a recovered file's unsealed tail holds a
  complete fragment, or a record does not parse strictly or its signature fails.
- ``MISSING``: the chain names a segment (or the session's close record names a last
  segment) that is not there.
- ``OUT-OF-ORDER``: a sealed segment sits in the wrong place: renamed, swapped, or not
  linked to the one before it.
- ``UNSIGNED``: a file with no manifest.
- ``UNKNOWN-KEY``: signed by a key that is not trusted (not given with ``--key``, or not
  the key that opened the session).
- ``FOREIGN``: validly signed, but for another device or another session: inserted from
  elsewhere.

Across sessions, a key's records (with its identity records) must link by ``seq`` and
``prev``, no ``seq`` may stand for two records (a fork), a key names one serial, the identity
records are numbered in order, a chain head must name what is there (and a device's head may
not be ahead of its records), and without ``--key`` a serial signed by two keys is a problem.
The rule numbers in comments (V6, V8 …) are the document's.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from evidence import EvidenceError
from evidence.boxes import fragments
from evidence.files import sha256_file
from evidence.keys import key_id, key_text, load_public_key
from evidence.paths import DataDir
from evidence.receipts import receipt_dock
from evidence.records import (
    IDENTITY_GLOB,
    INDEX_SUFFIX,
    MANIFEST_SUFFIX,
    SESSION_CLOSE,
    SESSION_OPEN,
    SignedRecord,
    read_record,
)

GOOD = ("OK", "RECOVERED")
DEVICE_HEAD = "chain.json"                              # DataDir.chain's name
ARCHIVED_HEAD = re.compile(r"head-[0-9a-f]{16}\.json")  # a head an archive kept, in chain/<key id>/


@dataclass
class SegmentVerdict:
    name: str
    state: str
    detail: str = ""
    seq: int | None = None


@dataclass
class SessionVerdict:
    folder: Path
    session: str
    segments: list[SegmentVerdict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    closed: str = ""
    device: str = ""
    open_record: SignedRecord | None = None
    close_record: SignedRecord | None = None
    chain: list[SignedRecord] = field(default_factory=list)     # its manifests of step 5

    @property
    def ok(self) -> bool:
        return not self.problems and all(s.state in GOOD for s in self.segments)

    def as_json(self) -> dict[str, Any]:
        return {"session": self.session, "folder": str(self.folder), "device": self.device, "ok": self.ok,
                "closed": self.closed, "problems": self.problems,
                "segments": [vars(s) for s in self.segments]}


def find_sessions(paths: Iterable[Path]) -> list[Path]:
    """Every folder below ``paths`` that holds a session's records or segments."""
    found = set()
    for path in paths:
        candidates = [path, *path.rglob("*")] if path.is_dir() else [path.parent]
        for folder in candidates:
            if folder.is_dir() and ((folder / SESSION_OPEN).exists() or any(folder.glob("seg-*.mp4"))
                                    or any(folder.glob("*" + MANIFEST_SUFFIX))):
                found.add(folder)
    return sorted(found)


# Where a video absent from its folder may be kept instead (a dock's central store): given the
# folder, the video's name, its sealed "file" member and the SHA-256 of the bytes the caller
# already read from there (or None: read them), (whether the bytes kept there match the seal, a
# sentence saying where and which version was read), or None if it is not kept there.
Elsewhere = Callable[[Path, str, dict[str, Any], "str | None"], "tuple[bool, str] | None"]


def verify_paths(paths: Iterable[Path], trusted: set[bytes] | None = None, elsewhere: Elsewhere | None = None,
                 progress: Callable[[int, int, str], None] | None = None) -> list[SessionVerdict]:
    """Verify every session found below ``paths``; ``trusted`` pins the acceptable public keys;
    ``progress(done, total, session)`` after each session."""
    paths = list(paths)
    folders = find_sessions(paths)
    verdicts = []
    for folder in folders:
        verdicts.append(verify_session(folder, trusted, elsewhere))
        if progress:
            progress(len(verdicts), len(folders), folder.name)
    identities = identity_records(paths)
    _check_between_sessions(verdicts, identities)
    _check_identity_numbering(verdicts, identities)
    _check_heads(verdicts, identities, chain_heads(paths))
    if trusted is None:
        _check_keys_per_serial(verdicts, identities)
    return verdicts


def verify_session(folder: Path, trusted: set[bytes] | None = None,
                   elsewhere: Elsewhere | None = None, digests: Mapping[str, str] | None = None) -> SessionVerdict:
    """Verify the session in ``folder``. ``digests`` gives the SHA-256 (hex) of files of the folder
    known already, by name (the dock's, hashed as they arrived): those are not read again."""
    known = digests or {}
    verdict = SessionVerdict(folder, folder.name)
    opened = _load(folder / SESSION_OPEN, verdict, "session-open")
    if opened is None:
        return _verify_orphans(folder, verdict)
    verdict.open_record, verdict.device = opened, opened.body["device"]
    if trusted is not None and opened.public_key not in trusted:
        verdict.problems.append(f"the session was opened with key {key_id(opened.public_key)}, which is not trusted")
    if opened.body["session"] != folder.name:
        verdict.problems.append(f"the session-open record belongs to session {opened.body['session']}")
    closed = _load(folder / SESSION_CLOSE, verdict, "session-close")
    verdict.close_record = closed
    file_hashes = {p.name: known.get(p.name) or sha256_file(p).hexdigest() for p in folder.glob("seg-*.mp4")}
    records = _segment_records(folder, verdict)
    claimed: set[str] = set()
    chain: list[SignedRecord] = []
    for manifest_path, record in records:
        name = manifest_path.name[:-len(MANIFEST_SUFFIX)]
        if name in file_hashes:
            claimed.add(name)
        if record is None:
            verdict.segments.append(SegmentVerdict(name, "TAMPERED", "its manifest's signature does not hold"))
            continue
        verdict.segments.append(_check_segment(folder, name, record, opened, trusted, file_hashes, claimed, known,
                                               elsewhere))
        if record.body["type"] == "segment" and record.public_key == opened.public_key \
                and record.body["session"] == opened.body["session"]:
            chain.append(record)
    for name in sorted(set(file_hashes) - claimed):
        verdict.segments.append(SegmentVerdict(name, "UNSIGNED", "no manifest seals this file"))
    verdict.chain = chain
    _check_chain(verdict, opened, chain, closed)
    verdict.segments.sort(key=lambda s: s.name)
    return verdict


def _verify_orphans(folder: Path, verdict: SessionVerdict) -> SessionVerdict:
    for path in sorted(folder.glob("seg-*.mp4")):
        verdict.segments.append(SegmentVerdict(path.name, "UNSIGNED", "the session has no readable open record"))
    return verdict


def _load(path: Path, verdict: SessionVerdict, kind: str) -> SignedRecord | None:
    """The session's ``kind`` record (rules V1, V2): valid, and of that type, or None with the problem noted."""
    if not path.exists():
        verdict.problems.append(f"MISSING {kind} record")
        return None
    try:
        record = read_record(path)
    except EvidenceError as exc:
        verdict.problems.append(f"TAMPERED {kind} record: {exc}")
        return None
    if record.body["type"] != kind:
        verdict.problems.append(f"TAMPERED {kind} record: it is a {record.body['type']} record")
        return None
    return record


def _segment_records(folder: Path, verdict: SessionVerdict) -> list[tuple[Path, SignedRecord | None]]:
    records = []
    for path in sorted(folder.glob("*" + MANIFEST_SUFFIX)):
        try:
            records.append((path, read_record(path)))
        except EvidenceError:
            records.append((path, None))
    return records


def _check_segment(folder: Path, name: str, record: SignedRecord, opened: SignedRecord, trusted: set[bytes] | None,
                   file_hashes: dict[str, str], claimed: set[str], known: Mapping[str, str],
                   elsewhere: Elsewhere | None = None) -> SegmentVerdict:
    body = record.body
    seq = body.get("seq")
    if body.get("type") != "segment":
        return SegmentVerdict(name, "TAMPERED", f"a {body.get('type')} record stands in a segment's place", seq)
    if record.public_key != opened.public_key:
        if body["device"] != opened.body["device"]:
            return SegmentVerdict(name, "FOREIGN", f"sealed by device {body['device']}, not {opened.body['device']}", seq)
        return SegmentVerdict(name, "UNKNOWN-KEY", f"signed by key {body['key_id']}, not the session's "
                                                   f"key {opened.body['key_id']}", seq)
    if trusted is not None and record.public_key not in trusted:
        return SegmentVerdict(name, "UNKNOWN-KEY", f"signed by key {body['key_id']}, which is not trusted", seq)
    if body["session"] != opened.body["session"]:
        return SegmentVerdict(name, "FOREIGN", f"sealed for session {body['session']}", seq)
    sealed = body["file"]
    if sealed["name"] != name:
        return SegmentVerdict(name, "OUT-OF-ORDER", f"renamed: it was sealed as {sealed['name']}", seq)
    if f"seg-{body['segment']:06d}.mp4" != name:
        return SegmentVerdict(name, "OUT-OF-ORDER", f"it was sealed as segment {body['segment']}", seq)
    recovered = "recovered" in body.get("flags", [])
    path = folder / name
    if path.exists() and _matches(path, sealed, recovered, file_hashes[name]):
        problem = _index_problem(folder / (name + INDEX_SUFFIX), body.get("index"), known)
        if problem:
            return SegmentVerdict(name, "TAMPERED", problem, seq)
        extra = path.stat().st_size - sealed["size"]
        if not extra:
            return SegmentVerdict(name, "RECOVERED" if recovered else "OK", "", seq)
        fragments = complete_fragments(path, sealed["size"])
        if fragments:
            return SegmentVerdict(name, "TAMPERED", f"{extra} bytes after the sealed end hold {fragments} complete "
                                                   f"fragment(s) that no seal covers (a player shows them)", seq)
        return SegmentVerdict(name, "RECOVERED", f"{extra} bytes after the sealed end hold no complete fragment: "
                                                 f"cut by the power loss, not evidence", seq)
    moved = [other for other, digest in file_hashes.items() if digest == sealed["sha256"] and other != name]
    if moved:
        claimed.add(moved[0])
        return SegmentVerdict(name, "OUT-OF-ORDER", f"its video is now {moved[0]} (files swapped or renamed)", seq)
    if not path.exists():
        dock = _released_by(folder, name, sealed["sha256"], record.public_key)
        if dock:
            return SegmentVerdict(name, "OK", f"released after upload (receipt from dock {dock})", seq)
        kept = elsewhere(folder, name, sealed, known.get(name)) if elsewhere else None
        if kept:
            matches, where = kept
            problem = _index_problem(folder / (name + INDEX_SUFFIX), body.get("index"), known) if matches else None
            if problem:
                return SegmentVerdict(name, "TAMPERED", problem, seq)
            return SegmentVerdict(name, ("RECOVERED" if recovered else "OK") if matches else "TAMPERED", where, seq)
        return SegmentVerdict(name, "MISSING", "the video file was deleted; its manifest remains", seq)
    return SegmentVerdict(name, "TAMPERED", _which_part(path, body), seq)


def complete_fragments(path: Path, start: int) -> int:
    """How many whole fragments the file holds from byte ``start`` on (:mod:`evidence.boxes`)."""
    with open(path, "rb") as fh:
        fh.seek(start)
        return len(fragments(fh.read()))


def _released_by(folder: Path, name: str, sha256: str, device_key: bytes) -> str | None:
    """The dock that receipted exactly this video, when the device freed it (``<data_dir>/receipts``)."""
    return receipt_dock(DataDir(folder.parent.parent), f"{folder.name}/{name}", sha256, device_key)


def _matches(path: Path, sealed: dict[str, Any], recovered: bool, whole: str) -> bool:
    size = path.stat().st_size
    if size == sealed["size"]:
        return whole == sealed["sha256"]
    if not (recovered and size > sealed["size"]):
        return False
    # A recovered file may go on past what was sealed: only its sealed prefix counts.
    return sha256_file(path, sealed["size"]).hexdigest() == sealed["sha256"]


def _which_part(path: Path, body: dict[str, Any]) -> str:
    data = path.read_bytes()
    parts = body.get("parts", [])
    for part in parts:
        chunk = data[part["offset"]:part["offset"] + part["size"]]
        if len(chunk) < part["size"]:
            return (f"truncated at byte {len(data)}: {part['type']} {part['number']} and after are cut "
                    f"({body['file']['size'] - len(data)} bytes missing)")
        if hashlib.sha256(chunk).hexdigest() != part["sha256"]:
            where = "the header (init)" if part["type"] == "init" else f"{part['type']} {part['number']}"
            return f"{where} differs from what was sealed (bytes {part['offset']}..{part['offset'] + part['size']})"
    if len(data) > body["file"]["size"]:
        return f"{len(data) - body['file']['size']} bytes were added after the sealed end"
    return "the file differs from what was sealed"


def _index_problem(path: Path, sealed: dict[str, Any] | None, known: Mapping[str, str]) -> str:
    if sealed is None:
        return ""
    if sealed.get("name") != path.name:
        return f"its manifest seals the frame index {sealed.get('name')}, not {path.name}"
    if not path.exists():
        return "its frame index was deleted"
    if path.stat().st_size != sealed["size"] or \
            (known.get(path.name) or sha256_file(path).hexdigest()) != sealed["sha256"]:
        return "its frame index differs from what was sealed"
    return ""


def _check_chain(verdict: SessionVerdict, opened: SignedRecord, chain: list[SignedRecord],
                 closed: SignedRecord | None) -> None:
    by_number = {r.body["segment"]: r for r in chain}
    named = {s.name: s for s in verdict.segments}
    expected_count = max([*by_number, closed.body["segments"] if closed else 0], default=0)
    previous = opened
    for number in range(1, expected_count + 1):
        record = by_number.get(number)
        name = f"seg-{number:06d}.mp4"
        if record is None:
            if name not in named:
                verdict.segments.append(SegmentVerdict(name, "MISSING", "the chain names it; it was deleted"))
            previous = None
            continue
        segment = named[record.body["file"]["name"]] if record.body["file"]["name"] in named else None
        if previous is not None and record.body["prev"] != previous.hash and segment and segment.state in GOOD:
            segment.state, segment.detail = "OUT-OF-ORDER", "it does not follow the segment before it in the chain"
        previous = record
    if closed is None:
        verdict.closed = "not closed"
        return
    verdict.closed = closed.body["reason"]
    last = by_number.get(closed.body["segments"])
    if last is not None and (closed.body["last_segment"] != last.hash or closed.body["prev"] != last.hash):
        verdict.problems.append("the close record's last segment is not the last segment found")
    if closed.body["segments"] == 0 and closed.body["prev"] != opened.hash:
        verdict.problems.append("the close record does not follow the open record")
    if any(number > closed.body["segments"] for number in by_number):
        verdict.problems.append(f"segments were sealed after the close record, which names {closed.body['segments']}")
    if closed.public_key != opened.public_key or closed.body["session"] != opened.body["session"]:
        verdict.problems.append("the close record belongs to another key or session")


@dataclass(frozen=True)
class _Link:
    """A record that links one session (or identity record) to the device's records before it."""

    record: SignedRecord
    verdict: SessionVerdict | None      # the session it belongs to; None for an identity record
    name: str


def _device_roots(path: Path) -> list[Path]:
    """Where the device's own records are for a path given (rule F3): for a spool, also ``../device``."""
    return [path, path.parent / "device"] if path.name == "spool" else [path]


def _read_all(found: Iterable[Path]) -> list[tuple[Path, SignedRecord | None]]:
    records = []
    for path in sorted(found):
        try:
            records.append((path, read_record(path)))
        except EvidenceError:
            records.append((path, None))
    return records


def identity_records(paths: Iterable[Path]) -> list[tuple[Path, SignedRecord | None]]:
    """The device identity records below ``paths`` (for a spool: in ``../device/identity``), each
    with its record, or None when it does not parse or its signature fails."""
    return _read_all({found for path in paths for root in _device_roots(Path(path)) if root.is_dir()
                      for found in root.rglob(IDENTITY_GLOB)})


def chain_heads(paths: Iterable[Path]) -> list[tuple[Path, SignedRecord | None]]:
    """The chain heads below ``paths`` (rule V8): a device's ``device/chain.json`` (for a spool:
    ``../device/chain.json``) and the heads an archive kept, ``chain/<key id>/head-<16 hex>.json``."""
    found = set()
    for path in paths:
        for root in (r for r in _device_roots(Path(path)) if r.is_dir()):
            found |= {p for p in root.rglob(DEVICE_HEAD) if p.parent.name == "device"}
            found |= {p for p in root.rglob("head-*.json") if ARCHIVED_HEAD.fullmatch(p.name)
                      and p.parent.parent.name == "chain"}
    return _read_all(found)


def _sessions_of(verdicts: list[SessionVerdict], public_key: bytes) -> list[SessionVerdict]:
    return [v for v in verdicts if v.open_record is not None and v.open_record.public_key == public_key]


def _check_between_sessions(verdicts: list[SessionVerdict],
                            identities: list[tuple[Path, SignedRecord | None]]) -> None:
    """Rule V6: across one key's records ordered by ``seq``, each session's open record (and each
    identity record) must follow the record before it -- the previous session's close record or
    an identity record -- no ``seq`` may stand for two different records (a fork), and all name
    one serial. A link of an identity record is a problem of every session of its key."""
    by_key: dict[bytes, list[_Link]] = {}
    for verdict in verdicts:
        for record in (verdict.open_record, verdict.close_record):
            if record is not None:
                by_key.setdefault(record.public_key, []).append(_Link(record, verdict, record.body["type"]))
    for path, record in identities:
        if record is not None and record.body["type"] == "identity":
            by_key.setdefault(record.public_key, []).append(_Link(record, None, path.name))
        else:               # changed by hand, or not an identity record: who carried the device is in doubt
            _everyone(verdicts, f"TAMPERED identity record {path.name}: it is not a valid identity record")
    for links in by_key.values():
        links.sort(key=lambda link: (link.record.body["seq"], link.record.body["type"] != "session-close"))
        for before, after in zip(links, links[1:]):
            seq = after.record.body["seq"]
            if before.record.body["seq"] == seq:
                if before.record.hash != after.record.hash:
                    for link in (before, after):
                        _problem(verdicts, link, f"FORK: record {seq} of device {link.record.body['device']} was "
                                                 f"signed twice with different contents")
                continue
            if after.record.body["type"] in ("session-open", "identity") and \
                    before.record.body["type"] in ("session-close", "identity") and \
                    after.record.body["prev"] != before.record.hash:
                _problem(verdicts, after, f"MISSING records between {_name(before)} and this one")
        serials = sorted({link.record.body["device"] for link in links})
        if len(serials) > 1:
            for link in links:
                _problem(verdicts, link, f"key {links[0].record.body['key_id']} signed records of more than one "
                                         f"device ({', '.join(serials)}): a device's serial never changes")


def _check_identity_numbering(verdicts: list[SessionVerdict],
                              identities: list[tuple[Path, SignedRecord | None]]) -> None:
    """Rule V6.4: in ``device/identity/`` and an archive's ``chain/<key id>/``, the identity
    records are numbered 1, 2, 3 ... without a gap, in the order of their ``seq``."""
    by_folder: dict[Path, list[tuple[Path, SignedRecord | None]]] = {}
    for path, record in identities:
        if path.parent.name == "identity" or path.parent.parent.name == "chain":
            by_folder.setdefault(path.parent, []).append((path, record))
    for folder, files in by_folder.items():
        numbers = [int(path.name[len("identity-"):-len(".json")]) for path, _ in files]
        seqs = [record.body["seq"] for _, record in files if record is not None]
        if numbers != list(range(1, len(files) + 1)):
            _everyone(verdicts, f"MISSING identity records in {folder}: it holds numbers "
                                f"{', '.join(map(str, numbers))}, not 1 to {len(files)}")
        elif seqs != sorted(set(seqs)):
            _everyone(verdicts, f"identity records in {folder} are not numbered in the order of their seq")


def _check_heads(verdicts: list[SessionVerdict], identities: list[tuple[Path, SignedRecord | None]],
                 heads: list[tuple[Path, SignedRecord | None]]) -> None:
    """Rule V8: a chain head must be a valid ``chain-head`` record; it must not name a record of
    its key that is there with another hash; and a device's own head must not be ahead of the
    newest record of its key found (its newest records were removed)."""
    for path, head in heads:
        if head is None or head.body["type"] != "chain-head":
            _everyone(verdicts, f"TAMPERED chain head {path}: it is not a valid chain-head record")
            continue
        sessions = _sessions_of(verdicts, head.public_key)
        records = [record for _, record in identities if record is not None and record.body["type"] == "identity"]
        records += [record for verdict in sessions for record in (verdict.open_record, verdict.close_record,
                                                                   *verdict.chain) if record is not None]
        found: dict[int, set[str]] = {}
        for record in records:
            if record.public_key == head.public_key:
                found.setdefault(record.body["seq"], set()).add(record.hash)
        seq = head.body["seq"]
        if seq in found and head.body["head"] not in found[seq]:
            problem = f"FORK: the chain head {path} names another record {seq} than the one found"
        elif path.name == DEVICE_HEAD and seq > max(found, default=0):
            problem = (f"MISSING records at the newest end: the chain head {path} names record {seq}, the newest "
                       f"found of its key is {max(found, default=0)}")
        else:
            continue
        for verdict in sessions or verdicts:
            verdict.problems.append(problem)


def _name(link: _Link) -> str:
    return f"session {link.verdict.session}" if link.verdict else f"identity record {link.name}"


def _problem(verdicts: list[SessionVerdict], link: _Link, text: str) -> None:
    """A problem of the session of ``link``; for an identity record, of every session of its key."""
    for verdict in [link.verdict] if link.verdict is not None else _sessions_of(verdicts, link.record.public_key):
        if text not in verdict.problems:
            verdict.problems.append(text)


def _everyone(verdicts: list[SessionVerdict], text: str) -> None:
    for verdict in verdicts:
        verdict.problems.append(text)


def _check_keys_per_serial(verdicts: list[SessionVerdict], identities: list[tuple[Path, SignedRecord | None]]) -> None:
    """Rule V7: a serial has one key. With no key pinned, every session of a serial whose
    sessions or identity records are signed by two keys has a problem (the format has no key
    rotation)."""
    keys: dict[str, set[str]] = {device: set(seen) for device, seen in keys_per_serial(verdicts).items()}
    for _, record in identities:
        if record is not None and record.body["type"] == "identity":
            keys.setdefault(record.body["device"], set()).add(record.body["key_id"])
    for verdict in verdicts:
        if verdict.open_record is not None and len(keys[verdict.device]) > 1:
            verdict.problems.append(f"device {verdict.device} is signed by {len(keys[verdict.device])} keys "
                                    f"({', '.join(sorted(keys[verdict.device]))}): a device has one key; this "
                                    f"session's is {verdict.open_record.body['key_id']}")


def report(verdicts: list[SessionVerdict], pinned: bool) -> list[str]:
    """The lines ``verify`` prints: a summary per session, then each segment and problem."""
    if not verdicts:
        return ["no recordings found"]
    lines = []
    for verdict in verdicts:
        counts: dict[str, int] = {}
        for segment in verdict.segments:
            counts[segment.state] = counts.get(segment.state, 0) + 1
        tally = ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "no segments"
        lines.append(f"session {verdict.session} ({verdict.device or 'unknown device'}): "
                     f"{'OK' if verdict.ok else 'NOT OK'}: {tally}; closed: {verdict.closed or '-'}")
        lines += [f"  {s.name:<16} {s.state:<12} {s.detail}".rstrip() for s in verdict.segments]
        lines += [f"  ! {problem}" for problem in verdict.problems]
    if not pinned:
        lines.append("note: no --key given: each session was checked against the key that opened it; keys seen:")
        for device, keys in sorted(keys_per_serial(verdicts).items()):
            lines.append(f"  device {device}: " + ", ".join(f"key {key} ({n} session{'s' * (n != 1)})"
                                                            for key, n in sorted(keys.items())))
    return lines


def keys_per_serial(verdicts: list[SessionVerdict]) -> dict[str, dict[str, int]]:
    """Device serial -> key id -> how many sessions that key opened."""
    keys: dict[str, dict[str, int]] = {}
    for verdict in verdicts:
        if verdict.open_record is not None:
            seen = keys.setdefault(verdict.device, {})
            seen[verdict.open_record.body["key_id"]] = seen.get(verdict.open_record.body["key_id"], 0) + 1
    return keys


def add_verify_command(commands: argparse._SubParsersAction, help_text: str, paths_help: str,
                       default_paths: list[Path] | None = None,
                       parents: Iterable[argparse.ArgumentParser] = ()) -> argparse.ArgumentParser:
    """``verify PATH... [--key K]... [--json]``, the same on both command lines (the paths may be
    left off where ``default_paths`` are given: the station's configured archive); returns the
    sub-parser, so that a command line can run more checks after the verification."""
    verify = commands.add_parser("verify", help=help_text, parents=list(parents))
    verify.add_argument("paths", type=Path, nargs="*" if default_paths else "+", default=default_paths,
                        help=paths_help)
    verify.add_argument("--key", action="append", default=[],
                        help="trusted device public key (PEM file, hex or base64); may be repeated")
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.set_defaults(run=lambda args: run_verify(args.paths, args.key, args.json))
    return verify


def run_verify(paths: list[Path], keys: list[str], as_json: bool, elsewhere: Elsewhere | None = None,
               progress: Callable[[int, int, str], None] | None = None) -> int:
    """Verify and print the report; exit status 0 only if every session is good."""
    trusted = {load_public_key(key_text(key)) for key in keys} if keys else None
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise EvidenceError(f"verify: no such file or folder: {', '.join(missing)}.")
    verdicts = verify_paths(paths, trusted, elsewhere, progress)
    ok = bool(verdicts) and all(v.ok for v in verdicts)
    if as_json:
        print(json.dumps({"ok": ok, "keys_pinned": trusted is not None, "keys": keys_per_serial(verdicts),
                          "sessions": [v.as_json() for v in verdicts]}, ensure_ascii=False, indent=1))
    else:
        print("\n".join(report(verdicts, trusted is not None)))
    return 0 if ok else 1
