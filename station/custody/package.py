"""The export package: the sealed originals byte for byte and everything needed to check them.

Layout (docs/export-package.md)::

    export-NNNNNN/
      README.txt                 how to verify it without our software
      record-form.pdf            同步录音录像摄录情况记录表, filled in
      verification.txt / .json   the archive's verification of the sessions
      footage/<session>/         session-open.json, seg-NNNNNN.mp4 (+ .manifest, .idx), session-close.json
      footage/<session>/seg-NNNNNN.c2pa   the C2PA manifest of each video (sidecar)
      keys/devices/<id>.pub      the devices' public keys
      keys/station.pub           the key that signs the audit entries
      keys/station-ca.pem        the trust anchor of the C2PA manifests
      SHA256SUMS                 every file above, README.txt included
      audit.jsonl                this export's audit entries, the last of which lists the files' SHA-256
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from evidence import EvidenceError
from evidence.files import sha256_file
from evidence.keys import key_id, public_pem, read_keys
from evidence.paths import ArchiveDir
from evidence.records import INDEX_SUFFIX, MANIFEST_SUFFIX, SESSION_CLOSE, SESSION_OPEN
from evidence.verify import SessionVerdict, report, verify_session
from station.catalogue.footage import Footage, Segment, Session
from station.custody import recordform
from station.custody.exports import Request
from station.custody.provenance import StationCA, sign_sidecar, station_ca, validate_sidecar
from station.custody.recordform import local_time

README_NAME, SUMS_NAME, AUDIT_NAME = "README.txt", "SHA256SUMS", "audit.jsonl"

README = """\
Export {number} of the bodycam station {station} — 执法记录导出包
=======================================================================

For: {destination}
Reason: {reason}
Requested by {requester}, approved by {approver}, made by {maker} at {made}.

The videos in footage/ are the files the recording device sealed, copied byte for byte:
never re-encoded, never cut. To check them without our software:

1. Every file but SHA256SUMS itself and audit.jsonl (this README included):
   `sha256sum -c SHA256SUMS`. The last line of audit.jsonl (signed by the station) lists the
   same SHA-256 values in "detail" -> "files", so no file, these instructions included, can
   be changed, added or removed unnoticed. Public keys (keys/*.pub) are PEM
   "PUBLIC KEY" blocks (SubjectPublicKeyInfo) of Ed25519 keys.
2. Each video against the device's seal: footage/<session>/seg-NNNNNN.mp4.manifest is a
   JSON object {{"record": ..., "public_key": hex, "signature": hex}}. The signature is
   Ed25519 over the 19 bytes "bodycam-evidence/1\\n" followed by the record's canonical JSON
   (keys sorted, separators "," and ":", UTF-8, no escapes of non-ASCII). The public key
   must be the device's, in keys/devices/. record.file.sha256 and record.file.size must
   match the video; record.prev is the SHA-256 of the canonical JSON of the record before
   it (session-open.json for segment 1), so a removed or reordered segment shows.
3. The C2PA manifest of each video is its sidecar seg-NNNNNN.c2pa. Any C2PA validator
   given keys/station-ca.pem as its trust anchor must report it trusted and valid. Its
   hard binding (c2pa.hash.bmff) hashes the video except the boxes C2PA's rules leave out
   (ftyp, mfra, and any top-level uuid, free and skip box): the device's seal (2.) covers
   every byte. Its assertion "cn.bodycam.evidence.seal" carries that seal whole.
4. audit.jsonl: one JSON object a line, {{"entry": ..., "public_key": hex, "signature": hex}};
   the signature is Ed25519 with keys/station.pub over "bodycam-audit/1\\n" followed by the
   entry's canonical JSON. These are the request, approval and making of this export, done
   (refused attempts and the later hand-over are in the station's trail only); their "seq"
   numbers place them in the station's whole audit trail.
5. verification.txt (and verification.json) is the station's verification of the sessions
   in its archive and the C2PA validation of the copies; record-form.pdf is the record form,
   to be signed and sealed. Its times are the station's local time with the UTC offset
   written; the start is the first frame of the first exported segment (the pre-event
   recording included), the end the last frame of the last one.

Files:
{files}
"""


def build(work: Path, wanted: Request, chosen: list[tuple[Session, list[Segment]]], *, archive: Path,
          footage: Footage, requester: str, approver: str, maker: str, made_ns: int) -> dict[str, str]:
    """Write the package into ``work``; returns each file's SHA-256 by its path in the package.
    ``requester``, ``approver`` and ``maker`` are people's names as the record form shows them."""
    folder = ArchiveDir(archive)
    ca = station_ca(archive)
    trusted = read_keys(folder.devices)
    verdicts: list[SessionVerdict] = []
    for session, segments in chosen:
        target = work / "footage" / session.id
        target.mkdir(parents=True)
        for name in (SESSION_OPEN, SESSION_CLOSE):
            if (session.folder / name).exists():
                shutil.copyfile(session.folder / name, target / name)
        for segment in segments:
            _copy_segment(footage, segment, target, ca, {"export": wanted.id, "destination": wanted.destination})
        verdicts.append(verify_session(session.folder, trusted or None, footage.elsewhere))
        key = session.opened.public_key
        (work / "keys" / "devices").mkdir(parents=True, exist_ok=True)
        (work / "keys" / "devices" / f"{key_id(key)}.pub").write_text(public_pem(key))
    signer_public = folder.public_key.read_bytes()
    (work / "keys" / "station.pub").write_bytes(signer_public)
    (work / "keys" / "station-ca.pem").write_bytes(ca.ca_pem)
    _verification(work, verdicts, chosen, ca.ca_pem)
    place = "；".join(p for p in (wanted.place, *(footage.place(s.id) for s, _ in chosen)) if p) or "设备未记录定位"
    form = recordform.fill(chosen, place=place, open_file=footage.open, request={
        "target": f"{wanted.scope} {wanted.target}" + (f"（{local_time(wanted.start_ns)} 至 {local_time(wanted.end_ns)}）"
                                                      if wanted.scope == "range" else ""),
        "reason": wanted.reason, "destination": wanted.destination, "requester": requester,
        "approver": approver, "maker": maker, "made": local_time(made_ns), "number": f"{wanted.id:06d}"})
    recordform.write_pdf(form, work / "record-form.pdf")
    names = sorted([_name(path, work) for path in work.rglob("*") if path.is_file()] + [README_NAME])
    (work / README_NAME).write_text(README.format(
        number=f"{wanted.id:06d}", station=hashlib.sha256(signer_public).hexdigest()[:16],
        destination=wanted.destination, reason=wanted.reason, requester=requester, approver=approver,
        maker=maker, made=local_time(made_ns),
        files="\n".join(f"  {name}" for name in [*names, SUMS_NAME, AUDIT_NAME])), encoding="utf-8")
    hashes = {_name(path, work): sha256_file(path).hexdigest()
              for path in sorted(work.rglob("*"), key=lambda path: _name(path, work)) if path.is_file()}
    (work / SUMS_NAME).write_text("".join(f"{digest}  {name}\n" for name, digest in hashes.items()))
    return hashes


def _name(path: Path, work: Path) -> str:
    return path.relative_to(work).as_posix()


def _copy_segment(footage: Footage, segment: Segment, target: Path, ca: StationCA, about: dict) -> None:
    """The segment's video (from the archive, or the central store where it was freed), its
    manifest and index, and its C2PA sidecar."""
    sealed = segment.manifest.body["file"]
    video = target / segment.video.name
    with footage.open(segment.video) as source, open(video, "wb") as copy:
        shutil.copyfileobj(source, copy, 1024 * 1024)
    if video.stat().st_size != sealed["size"] or sha256_file(video).hexdigest() != sealed["sha256"]:
        raise EvidenceError(f"{segment.video} is not what its manifest sealed: nothing is exported")
    for suffix in (MANIFEST_SUFFIX, INDEX_SUFFIX):
        source = segment.video.with_name(segment.video.name + suffix)
        if source.exists():
            shutil.copyfile(source, target / source.name)
    seal = (target / (video.name + MANIFEST_SUFFIX)).read_bytes()
    video.with_suffix(".c2pa").write_bytes(sign_sidecar(video, seal, ca, about))


def _verification(work: Path, verdicts: list[SessionVerdict], chosen: list[tuple[Session, list[Segment]]],
                  ca_pem: bytes) -> None:
    """verification.txt and .json (docs/export-package.md): the archive's verdicts and the
    copies' C2PA validation, every path relative to the package (the station's own stay out)."""
    lines = report(verdicts, pinned=True)
    exported = sorted(f"footage/{session.id}/{segment.video.name}" for session, segments in chosen
                      for segment in segments)
    lines.append("")
    lines.append("in this export, checked on the copies:")
    checked = []
    for name in exported:
        video = work / name
        result = validate_sidecar(video, video.with_suffix(".c2pa").read_bytes(), ca_pem)
        lines.append(f"  {name}  C2PA {result.state}" + (f" ({', '.join(result.failures)})" if result.failures else ""))
        checked.append({"file": name, "sidecar": _name(video.with_suffix(".c2pa"), work), "state": result.state,
                        "failures": result.failures})
    (work / "verification.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    sessions = [{"session": v.session, "folder": f"footage/{v.session}", "device": v.device, "ok": v.ok,
                 "closed": v.closed, "problems": v.problems,
                 "segments": [{"name": s.name, "state": s.state, "detail": s.detail, "seq": s.seq}
                              for s in v.segments]} for v in verdicts]
    (work / "verification.json").write_text(json.dumps({"sessions": sessions, "exported": exported, "c2pa": checked},
                                                       ensure_ascii=False, indent=1), encoding="utf-8")
