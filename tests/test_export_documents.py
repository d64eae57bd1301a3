"""The export package and the audit trail checked by what docs/export-package.md, docs/audit-format.md
and docs/catalogue.md say alone: a checker written from the documents (standard library and an
Ed25519 library), and the documents' own statements where a stranger found them silent or wrong."""
from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from evidence.paths import ArchiveDir
from station import db
from station.catalogue import retention
from station.catalogue.catalogue import DAY_NS, Catalogue, station_id
from station.catalogue.rebuild import rebuild
from station.cli import main as station_main
from station.custody import audit
from station.services import ensure_schema
from tests.conftest import copy_archive
from tests.test_station_access import Desk, approved_package, desk, pdf_text, pulled  # noqa: F401

DOCS = Path(__file__).resolve().parent.parent / "docs"
EXPORT_DOC = (DOCS / "export-package.md").read_text()
AUDIT_DOC = (DOCS / "audit-format.md").read_text()


def raw_key(pem_text: str) -> bytes:
    """A keys/*.pub file as the document describes it: a PEM PUBLIC KEY block (RFC 8410) whose
    DER ends in the 32 raw Ed25519 key bytes."""
    assert pem_text.endswith("-----END PUBLIC KEY-----\n")
    lines = pem_text.strip().splitlines()
    assert lines[0] == "-----BEGIN PUBLIC KEY-----" and lines[-1] == "-----END PUBLIC KEY-----"
    der = base64.b64decode("".join(lines[1:-1]))
    assert len(der) == 44 and der[:12] == bytes.fromhex("302a300506032b6570032100")
    return der[-32:]


def canonical(body: dict) -> bytes:
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def signed(raw: bytes, signature: bytes, domain: bytes, body: dict) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(raw).verify(signature, domain + canonical(body))
        return True
    except InvalidSignature:
        return False


def check_package(made: Path) -> list[str]:
    """What is wrong with the package, by the document alone."""
    problems = []
    sums = {}
    for line in (made / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ", 1)
        sums[name] = digest
        if hashlib.sha256((made / name).read_bytes()).hexdigest() != digest:
            problems.append(f"{name} differs from SHA256SUMS")
    present = {p.relative_to(made).as_posix() for p in made.rglob("*") if p.is_file()}
    problems += [f"{name} is not in SHA256SUMS" for name in sorted(present - set(sums) - {"SHA256SUMS", "audit.jsonl"})]
    station = raw_key((made / "keys" / "station.pub").read_text())
    lines = [json.loads(line) for line in (made / "audit.jsonl").read_text().splitlines()]
    for line in lines:
        if bytes.fromhex(line["public_key"]) != station or not signed(
                station, bytes.fromhex(line["signature"]), b"bodycam-audit/1\n", line["entry"]):
            problems.append(f"audit entry {line['entry']['seq']} is not signed by keys/station.pub")
    if lines[-1]["entry"]["detail"]["files"] != sums:
        problems.append("the making entry's files are not SHA256SUMS")
    devices = {}
    for path in (made / "keys" / "devices").glob("*.pub"):
        key = raw_key(path.read_text())
        devices[key] = path.stem
        if path.stem != hashlib.sha256(key).hexdigest()[:16]:
            problems.append(f"{path.name} is not named by its key id")
    for seal in made.glob("footage/*/seg-*.mp4.manifest"):
        stored = json.loads(seal.read_text())
        video = seal.with_name(seal.name[:-len(".manifest")])
        data = video.read_bytes()
        if bytes.fromhex(stored["public_key"]) not in devices or not signed(
                bytes.fromhex(stored["public_key"]), bytes.fromhex(stored["signature"]), b"bodycam-evidence/1\n",
                stored["record"]):
            problems.append(f"{seal.name} is not signed by a key of keys/devices")
        if (len(data), hashlib.sha256(data).hexdigest()) != (stored["record"]["file"]["size"],
                                                            stored["record"]["file"]["sha256"]):
            problems.append(f"{video.relative_to(made)} is not what the device sealed")
    return problems


def documented_members(table_heading: str) -> set[str]:
    """The member names of a table of docs/export-package.md under ``table_heading``."""
    section = EXPORT_DOC.split(table_heading, 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([^`]+)` \|", section, re.MULTILINE))


def test_readme_is_in_sha256sums_and_the_signed_file_list_so_editing_it_shows(desk, tmp_path):
    made = approved_package(desk, tmp_path / "out")
    assert check_package(made) == []
    sums = (made / "SHA256SUMS").read_text()
    assert sums.endswith("\n") and "  README.txt\n" in sums
    readme = made / "README.txt"
    readme.write_text(readme.read_text().replace("sha256sum -c SHA256SUMS", "nothing to check"))
    assert check_package(made) == ["README.txt differs from SHA256SUMS"]
    assert "`README.txt` included" in EXPORT_DOC


def test_the_c2pa_binding_s_exclusions_are_the_documented_ones_and_the_seal_covers_them(desk, tmp_path):
    from station.custody.provenance import validate_sidecar

    made = approved_package(desk, tmp_path / "out")
    video = min((made / "footage").glob("*/seg-*.mp4"))
    result = validate_sidecar(video, video.with_suffix(".c2pa").read_bytes(),
                              (made / "keys" / "station-ca.pem").read_bytes())
    binding = next(a for a in result.manifest["assertions"] if a["label"].startswith("c2pa.hash.bmff"))
    assert binding["label"] == "c2pa.hash.bmff.v3" and "`c2pa.hash.bmff.v3`" in EXPORT_DOC
    excluded = {exclusion["xpath"] for exclusion in binding["data"]["exclusions"]}
    assert excluded == {"/ftyp", "/mfra", "/uuid", "/free", "/skip"}
    assert all(f"`{xpath}`" in EXPORT_DOC for xpath in excluded)
    assert "covers every byte of the video, its" not in EXPORT_DOC
    data = bytearray(video.read_bytes())
    assert data[4:8] == b"ftyp"
    data[12] ^= 0x01                                          # the ftyp box's minor version
    video.write_bytes(bytes(data))
    changed = validate_sidecar(video, video.with_suffix(".c2pa").read_bytes(),
                               (made / "keys" / "station-ca.pem").read_bytes())
    assert changed.trusted                                    # what the document now says the binding leaves out
    assert f"{video.relative_to(made).as_posix()} is not what the device sealed" in check_package(made)


def test_the_keys_format_is_documented_and_read_by_the_document_alone(desk, tmp_path):
    made = approved_package(desk, tmp_path / "out")
    assert "-----BEGIN PUBLIC KEY-----" in EXPORT_DOC and "RFC 8410" in EXPORT_DOC
    for path in [made / "keys" / "station.pub", *(made / "keys" / "devices").glob("*.pub")]:
        assert len(raw_key(path.read_text())) == 32
    assert check_package(made) == []


def test_the_record_form_says_its_zone_and_that_the_start_is_the_first_frame_pre_event_included(desk, tmp_path,
                                                                                                monkeypatch):
    from station.catalogue.footage import read_session

    monkeypatch.setenv("TZ", "Asia/Shanghai")
    time.tzset()
    try:
        made = approved_package(desk, tmp_path / "out")
    finally:
        monkeypatch.undo()
        time.tzset()
    text = pdf_text(made / "record-form.pdf")
    session = read_session(desk.footage.folder(desk.sessions[0]))
    first = session.segments[0].manifest.body["frames"]["first"]["wall"]
    start = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(first // 10**9 + 8 * 3600))
    assert f"{start}+08:00 至" in text
    pre_event = session.opened.body["pre_event_ms"] / 1000
    flowing = re.sub(r"\s+", "", text)                        # the label sits beside the value's wrapped lines
    assert "时间说明" in flowing and f"本站时区UTC+08:00；起：所导出第一段的第一帧，含按下录制前的预录{pre_event:g}秒；" \
        f"止：最后一段的最后一帧；均为设备签名的分段记录所载时间" in flowing.replace("时间说明", "")
    assert "**first frame**" in EXPORT_DOC and "pre-event recording is included" in EXPORT_DOC


def test_verification_json_holds_the_documented_members_and_no_station_path(desk, tmp_path):
    made = approved_package(desk, tmp_path / "out")
    raw = (made / "verification.json").read_text() + (made / "verification.txt").read_text()
    assert str(desk.archive) not in raw and str(tmp_path) not in raw
    report = json.loads((made / "verification.json").read_text())
    members = documented_members("## `verification.json`")
    assert set(report) == {m for m in members if "." not in m}
    for session in report["sessions"]:
        assert {f"sessions[].{key}" for key in session} == {m for m in members if m.startswith("sessions[].")}
        assert (made / session["folder"]).is_dir() and session["ok"]
        assert all(set(segment) == {"name", "state", "detail", "seq"} for segment in session["segments"])
    assert report["exported"] == sorted(p.relative_to(made).as_posix() for p in made.glob("footage/*/seg-*.mp4"))
    for checked in report["c2pa"]:
        assert (made / checked["file"]).is_file() and (made / checked["sidecar"]).is_file()
        assert (checked["state"], checked["failures"]) == ("Trusted", [])


def test_the_package_s_audit_jsonl_holds_its_request_approval_and_making_done_and_nothing_else(desk, tmp_path):
    rev, sup = desk.user("rev"), desk.user("sup")
    wanted = desk.exports.request(rev, "session", desk.sessions[0], reason="移送法院", recipient="rev",
                                  destination="某区人民法院")
    with pytest.raises(Exception, match="supervisor"):
        desk.exports.decide(rev, wanted.id, True)              # refused: in the station's trail only
    desk.exports.decide(sup, wanted.id, True)
    made = desk.exports.make(rev, wanted.id, tmp_path / "out", desk.build())
    desk.exports.handover(desk.user("cus"), wanted.id, "孙九")
    lines = [json.loads(line)["entry"] for line in (made / "audit.jsonl").read_text().splitlines()]
    whole = [entry.body for entry in audit.entries(desk.engine) if entry.body["seq"] >= lines[0]["seq"]]
    assert [(e["action"], e["outcome"]) for e in whole if e["action"].startswith("export-")] == [
        ("export-request", "done"), ("export-approve", "refused"), ("export-approve", "done"),
        ("export-make", "done"), ("export-handover", "done")]
    assert lines == [e for e in whole if e["outcome"] == "done" and e["action"] in
                     ("export-request", "export-approve", "export-make")]
    assert [(e["action"], e["outcome"]) for e in lines] == [("export-request", "done"), ("export-approve", "done"),
                                                            ("export-make", "done")]
    assert "exactly one `export-request`, one\n`export-approve` and one `export-make`" in EXPORT_DOC


def test_a_purged_session_s_row_survives_a_rebuild_into_an_empty_catalogue(desk):
    far = time.time_ns() + 10 * 365 * DAY_NS
    catalogue = Catalogue(desk.engine, clock=lambda: far)
    station = station_id(desk.archive)
    removed = retention.purge(catalogue, desk.archive, station, actor="cus", why="期满")
    assert removed, "nothing was due"
    before = catalogue.search(purged=True)
    purged = [row for row in before if row["purged_ns"] is not None]
    assert {row["session"] for row in purged} == {a.session for a in removed}
    desk.engine.dispose()
    for path in desk.archive.glob("catalogue.sqlite*"):
        path.unlink()
    engine = db.connect(db.database_url(desk.archive, None))
    ensure_schema(engine)
    again = Catalogue(engine)
    assert rebuild(again, desk.archive).problems == []
    assert again.search(purged=True) == before
    assert [row["session"] for row in again.search()] == [row["session"] for row in before if row["purged_ns"] is None]


def test_audit_verify_runs_on_a_station_without_users_with_the_dock_key_alone(pulled, tmp_path, capsys,
                                                                              monkeypatch):
    archive = tmp_path / "archive"
    copy_archive(pulled, archive)
    monkeypatch.delenv("BODYCAM_USER", raising=False)
    assert station_main(["audit", "verify", "--archive", str(archive)]) == 0
    assert "intact" in capsys.readouterr().out
    engine = db.connect(db.database_url(archive, None))
    with engine.connect() as connection:
        body = json.loads(connection.execute(sa.text("SELECT body FROM audit_trail ORDER BY seq DESC")).scalar())
    assert (body["action"], body["actor"], body["role"], body["outcome"]) == ("audit-verify", None, None, "done")
    assert "without users yet, no one" in AUDIT_DOC


def test_the_audit_trail_s_columns_are_as_documented_and_verify_from_the_rows_alone(desk):
    desk.user("rev")
    assert "| `body` | TEXT |" in AUDIT_DOC and "| `public_key` | VARCHAR(64) |" in AUDIT_DOC \
        and "| `signature` | VARCHAR(128) |" in AUDIT_DOC
    station = raw_key(ArchiveDir(desk.archive).public_key.read_text())
    previous = "0" * 64
    with desk.engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT seq, body, public_key, signature FROM audit_trail "
                                          "ORDER BY seq")).all()
    assert rows
    for seq, body, public_key, signature in rows:
        assert re.fullmatch("[0-9a-f]{64}", public_key) and re.fullmatch("[0-9a-f]{128}", signature)
        entry = json.loads(body)
        assert body.encode("utf-8") == canonical(entry) and entry["seq"] == seq and entry["prev"] == previous
        assert bytes.fromhex(public_key) == station
        assert signed(station, bytes.fromhex(signature), b"bodycam-audit/1\n", entry)
        previous = hashlib.sha256(body.encode("utf-8")).hexdigest()
