"""The export package: the sealed originals byte for byte and everything needed to check them.

Layout (docs/export-package.md)::

    export-NNNNNN/
      README.txt                 how to verify it without our software
      record-form.pdf            同步录音录像摄录情况记录表, filled in
      retrieval-slip.pdf         行政执法全过程记录调用单: who asked, why, for whom, which footage, who approved
      verification.txt / .json   the archive's verification of the sessions
      footage/<session>/         session-open.json, seg-NNNNNN.mp4 (+ .manifest, .idx), session-close.json
      footage/<session>/seg-NNNNNN.c2pa   the C2PA manifest of each video (sidecar)
      clear/<session>/seg-NNNNNN.mp4      an encrypted session's clear copies, by decryption alone
      keys/content/<session>.json         an encrypted session's content key, for the recipient
      keys/devices/<id>.pub      the devices' public keys
      keys/station.pub           the key that signs the audit entries
      keys/station-ca.pem        the trust anchor of the C2PA manifests
      SHA256SUMS                 every file above, README.txt included
      audit.jsonl                this export's audit entries, the last of which lists the files' SHA-256
"""
from __future__ import annotations

import functools
import hashlib
import json
import shutil
from collections.abc import Callable
from datetime import tzinfo
from pathlib import Path

from evidence import EvidenceError
from evidence.cenc import clear_copy
from evidence.files import sha256_file
from evidence.keys import key_id, public_pem, read_keys
from evidence.paths import ArchiveDir
from evidence.records import INDEX_SUFFIX, MANIFEST_SUFFIX, SESSION_CLOSE, SESSION_OPEN
from evidence.verify import SessionVerdict, report, verify_session
from station.catalogue.footage import Footage, Segment, Session
from station.custody import recordform, retrievalslip
from station.custody.contentkeys import AgencyKeys, content_keys
from station.custody.exports import SLIP_NAME, Request
from station.custody.provenance import StationCA, sign_sidecar, station_ca, validate_sidecar
from station.custody.recordform import local_time
from station.words import labels
from station.words.zone import system_zone

README_NAME, SUMS_NAME, AUDIT_NAME = "README.txt", "SHA256SUMS", "audit.jsonl"
C2PA_STATES = {"Trusted": "可信且有效", "Valid": "有效（签名者不在信任列表）", "Invalid": "无效"}

README = """\
Export {number} of the bodycam station {station} — 执法记录导出包
=======================================================================

For: {destination}
Reason: {reason}
Requested by {requester}, approved by {approver}, made by {maker} at {made}.

提供对象：{destination}
调取事由：{reason}
申请人：{requester}；审批人：{approver}；制作人：{maker}；制作时间：{made}。
本包中的视频为执法记录仪签名封存的原始文件，逐字节复制，未剪辑、未转码。校验方法见下文
（第 1–5 步）；校验结果见 verification.txt（中英文），记录表见 record-form.pdf。

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
   recording included), the end the last frame of the last one. retrieval-slip.pdf is the
   retrieval slip (调用单): who asked for this footage, why and for whom, who approved it.

{encrypted}Files:
{files}
"""

ENCRYPTED = """6. Encrypted sessions (ISO/IEC 23001-7 Common Encryption, scheme cenc): the originals in
   footage/ are the encrypted files the device sealed (steps 1 to 3 check them as they
   are). keys/content/<session>.json holds the session's content key ("key", hex) and key
   id ("kid"). clear/<session>/seg-NNNNNN.mp4 is the clear copy made by decryption alone
   (no sample re-encoded); record-form.pdf gives its SHA-256 beside the original's. Any
   Common Encryption reader gives the same samples from the original and the key, e.g.
   `ffmpeg -decryption_key <key> -i footage/<session>/seg-NNNNNN.mp4 -c copy clear.mp4`
   with an FFmpeg whose libavformat is 62 or later (FFmpeg's muxer writes its own boxes,
   so compare the decoded frames, `-f framemd5`, rather than the files' bytes).

"""


def build(work: Path, wanted: Request, chosen: list[tuple[Session, list[Segment]]], *, archive: Path,
          footage: Footage, requester: str, approver: str, maker: str, made_ns: int,
          agency: AgencyKeys | None = None, station_zone: tzinfo | None = None,
          progress: Callable[[int, int, str], None] | None = None) -> dict[str, str]:
    """Write the package into ``work``; returns each file's SHA-256 by its path in the package.
    ``requester``, ``approver`` and ``maker`` are people's names as the record form shows them;
    ``agency`` unwraps encrypted sessions' content keys, each with the key its open record names (an
    encrypted session without that key is refused);
    its times are in ``station_zone`` (default: the PC's own); ``progress(done, total, file)`` after
    each segment copied and signed."""
    station_zone = station_zone or system_zone()
    local = functools.partial(local_time, station_zone=station_zone)
    folder = ArchiveDir(archive)
    ca = station_ca(archive)
    trusted = read_keys(folder.devices)
    verdicts: list[SessionVerdict] = []
    clear_hashes: dict[tuple[str, str], str] = {}
    copies: dict[Path, Path] = {}                 # each archived video's copy in the package
    total, copied = sum(len(segments) for _, segments in chosen), 0
    for session, segments in chosen:
        target = work / "footage" / session.id
        target.mkdir(parents=True)
        for name in (SESSION_OPEN, SESSION_CLOSE):
            if (session.folder / name).exists():
                shutil.copyfile(session.folder / name, target / name)
        keys = content_keys(session.folder, agency or {})
        copied_digests: dict[str, str] = {}
        for segment in segments:
            copied_digests[segment.video.name] = _copy_segment(footage, segment, target, ca,
                                                               {"export": wanted.id, "destination": wanted.destination})
            copies[segment.video] = target / segment.video.name
            if keys:
                clear_hashes[(session.id, segment.video.name)] = _clear_segment(target / segment.video.name,
                                                                                work / "clear" / session.id, keys)
            copied += 1
            if progress:
                progress(copied, total, f"{session.id}/{segment.video.name}")
        if keys:
            _write_content_keys(work / "keys" / "content" / f"{session.id}.json", session.id, keys)
        verdicts.append(verify_session(session.folder, trusted or None, footage.elsewhere, digests=copied_digests))
        key = session.opened.public_key
        (work / "keys" / "devices").mkdir(parents=True, exist_ok=True)
        (work / "keys" / "devices" / f"{key_id(key)}.pub").write_text(public_pem(key))
    signer_public = folder.public_key.read_bytes()
    (work / "keys" / "station.pub").write_bytes(signer_public)
    (work / "keys" / "station-ca.pem").write_bytes(ca.ca_pem)
    _verification(work, verdicts, chosen, ca.ca_pem)
    place = "；".join(p for p in (wanted.place, *(footage.place(s.id) for s, _ in chosen)) if p) or "设备未记录定位"
    during = f"（{local(wanted.start_ns)} 至 {local(wanted.end_ns)}）" if wanted.scope == "range" else ""
    form = recordform.fill(chosen, place=place, clear_hashes=clear_hashes,
                           open_file=lambda video: open(copies[video], "rb"), request={
        "target": f"{labels.label('scope', wanted.scope, 'zh')} {wanted.target}{during}",
        "reason": wanted.reason, "destination": wanted.destination, "requester": requester,
        "approver": approver, "maker": maker, "made": local(made_ns), "number": f"{wanted.id:06d}"},
        station_zone=station_zone)
    recordform.write_pdf(form, work / "record-form.pdf")
    retrievalslip.write(work / SLIP_NAME, wanted, chosen, requester=requester, approver=approver, maker=maker,
                        made_ns=made_ns, station_zone=station_zone)
    names = sorted([_name(path, work) for path in work.rglob("*") if path.is_file()] + [README_NAME])
    (work / README_NAME).write_text(README.format(
        number=f"{wanted.id:06d}", station=hashlib.sha256(signer_public).hexdigest()[:16],
        destination=wanted.destination, reason=wanted.reason, requester=requester, approver=approver,
        maker=maker, made=local(made_ns), encrypted=ENCRYPTED if clear_hashes else "",
        files="\n".join(f"  {name}" for name in [*names, SUMS_NAME, AUDIT_NAME])), encoding="utf-8")
    hashes = {_name(path, work): sha256_file(path).hexdigest()
              for path in sorted(work.rglob("*"), key=lambda path: _name(path, work)) if path.is_file()}
    (work / SUMS_NAME).write_text("".join(f"{digest}  {name}\n" for name, digest in hashes.items()))
    return hashes


def _name(path: Path, work: Path) -> str:
    return path.relative_to(work).as_posix()


def _copy_segment(footage: Footage, segment: Segment, target: Path, ca: StationCA, about: dict) -> str:
    """The segment's video (from the archive, or the central store where it was freed), its
    manifest and index, and its C2PA sidecar; the video's SHA-256, checked against its seal (the
    session's verification then takes it rather than reading the video again)."""
    sealed = segment.manifest.body["file"]
    video = target / segment.video.name
    with footage.open(segment.video) as source, open(video, "wb") as copy:
        shutil.copyfileobj(source, copy, 1024 * 1024)
    digest = sha256_file(video).hexdigest()
    if video.stat().st_size != sealed["size"] or digest != sealed["sha256"]:
        raise EvidenceError(f"{segment.video} is not what its manifest sealed: nothing is exported")
    for suffix in (MANIFEST_SUFFIX, INDEX_SUFFIX):
        source = segment.video.with_name(segment.video.name + suffix)
        if source.exists():
            shutil.copyfile(source, target / source.name)
    seal = (target / (video.name + MANIFEST_SUFFIX)).read_bytes()
    video.with_suffix(".c2pa").write_bytes(sign_sidecar(video, seal, ca, about))
    return digest


def _clear_segment(original: Path, target: Path, keys: dict[bytes, bytes]) -> str:
    """Write the clear copy of an encrypted segment's original (already copied into the package and
    checked against its seal); its SHA-256."""
    (key,) = keys.values()
    clear = clear_copy(original.read_bytes(), key)
    target.mkdir(parents=True, exist_ok=True)
    (target / original.name).write_bytes(clear)
    return hashlib.sha256(clear).hexdigest()


def _write_content_keys(path: Path, session: str, keys: dict[bytes, bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    (kid, key), = keys.items()
    path.write_text(json.dumps({"session": session, "scheme": "cenc", "kid": kid.hex(), "key": key.hex()},
                               indent=1) + "\n")


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
    lines += ["", *_chinese_report(verdicts, checked)]
    (work / "verification.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    sessions = [{"session": v.session, "folder": f"footage/{v.session}", "device": v.device, "ok": v.ok,
                 "closed": v.closed, "problems": v.problems,
                 "segments": [{"name": s.name, "state": s.state, "detail": s.detail, "seq": s.seq}
                              for s in v.segments]} for v in verdicts]
    (work / "verification.json").write_text(json.dumps({"sessions": sessions, "exported": exported, "c2pa": checked},
                                                       ensure_ascii=False, indent=1), encoding="utf-8")


def _chinese_report(verdicts: list[SessionVerdict], checked: list[dict]) -> list[str]:
    """The verification report again in Chinese: each state and stop reason by its label, each
    detail in Chinese (``station.words.labels``)."""
    lines = ["校验结果（中文）："]
    for verdict in verdicts:
        closed = labels.label("stop", verdict.closed, "zh") if verdict.closed else "未正常结束"
        outcome = "通过" if verdict.ok else "未通过"
        lines.append(f"会话 {verdict.session}（设备 {verdict.device or '未知'}）：{outcome}；停止原因：{closed}")
        lines += [f"  {s.name:<16} {labels.label('segment', s.state, 'zh')}  {labels.detail(s.detail, 'zh')}".rstrip()
                  for s in verdict.segments]
        lines += [f"  ！{labels.detail(problem, 'zh')}" for problem in verdict.problems]
    lines.append("本包中的副本（C2PA 校验）：")
    lines += [f"  {copy['file']}  {C2PA_STATES.get(copy['state'], copy['state'])}" for copy in checked]
    return lines
