"""Access with a reason, export approval, the signed audit trail and the export package, on real
recordings pulled over the link into a real archive. The record form is read back with poppler's
pdftotext and rendered with pdftoppm; the C2PA sidecars with c2pa-python; the audit trail with a
verifier written from docs/audit-format.md alone."""
from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from evidence.keys import FileSigner, public_pem
from evidence.paths import ArchiveDir
from station import db
from station.catalogue.catalogue import Catalogue
from station.catalogue.footage import CatalogueFootage, read_session
from station.catalogue.rebuild import rebuild
from station.custody import audit, package
from station.custody.access import Access, AccessDenied, AccessError, User
from station.custody.audit import AuditTrail
from station.custody.exports import Exports
from station.custody.provenance import station_ca, validate_sidecar
from station.custody.recordform import local_time
from station.services import ensure_schema, pull
from sync.ptywire import PtyWire
from tests.conftest import copy_archive, record
from tests.postgres import postgres_server, postgres_url  # noqa: F401
from tests.test_dock_archive import device_serving, enrolled_copy

SHANGHAI = ZoneInfo("Asia/Shanghai")

PASSWORD = "long enough password"
OFFICER = {"name": "张三", "police_number": "012345"}
UNIT = {"name": "某市交通运输局", "number": "110101000001"}


@pytest.fixture(scope="module")
def pulled(tmp_path_factory) -> Path:
    """A dock archive holding two real sessions (2 segments, then 1) pulled over a pty pair."""
    base = tmp_path_factory.mktemp("pulled")
    recorded = base / "recorded"
    record(recorded, 3, officer=OFFICER, unit=UNIT)
    record(recorded, 1, officer=OFFICER, unit=UNIT)
    device, archive = enrolled_copy(recorded, base)
    with PtyWire() as wire, device_serving(device, wire):
        assert not pull(archive, wire.b).failed
    return archive


class Desk:
    """A station with its users: admin, two reviewers, two supervisors, a custodian. With ``url``
    (PostgreSQL) its database is there, the catalogue rebuilt into it from the archive."""

    def __init__(self, archive: Path, url: str | None = None) -> None:
        self.archive = archive
        self.engine = db.connect(db.database_url(archive, url))
        ensure_schema(self.engine)
        self.signer = FileSigner(ArchiveDir(archive).key)
        self.access = Access(self.engine, AuditTrail(self.engine, self.signer, "test"))
        self.catalogue = Catalogue(self.engine)
        if url is not None:
            assert not rebuild(self.catalogue, archive).problems
        self.footage = CatalogueFootage(self.catalogue, archive)
        self.exports = Exports(self.access, self.footage)
        admin = self.access.add_user(None, "admin", "管理员", "administrator", PASSWORD)
        for name, full, role in (("rev", "李四", "reviewer"), ("rev2", "周七", "reviewer"), ("sup", "王五", "supervisor"),
                                 ("sup2", "赵六", "supervisor"), ("cus", "钱八", "custodian")):
            self.access.add_user(admin, name, full, role, PASSWORD)
        self.sessions = sorted(entry["session"] for entry in self.catalogue.search())

    def user(self, name: str) -> User:
        return self.access.authenticate(name, PASSWORD, "test")

    def count(self) -> int:
        return len(list(audit.entries(self.engine)))

    def last(self) -> dict:
        return list(audit.entries(self.engine))[-1].body

    def build(self):
        return functools.partial(package.build, archive=self.archive, footage=self.footage, station_zone=SHANGHAI)


@pytest.fixture
def desk(pulled, tmp_path) -> Desk:
    archive = tmp_path / "archive"
    copy_archive(pulled, archive)
    return Desk(archive)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_desk(request, pulled, tmp_path) -> Desk:
    """A desk on the archive's SQLite file, and one on a real PostgreSQL (tests/postgres.py)."""
    archive = tmp_path / "archive"
    copy_archive(pulled, archive)
    return Desk(archive, request.getfixturevalue("postgres_url") if request.param == "postgresql" else None)


def view(desk: Desk, user: User, session: str, reason: str | None) -> None:
    """What ``bodycam-station view`` does, through the same gate."""
    desk.access.require(user, "view", action="view", footage=[session], reason=reason)
    reason = desk.access.require_reason(user, "view", reason, [session])
    desk.access.require_visible(user, "view", [session], reason)
    desk.access.audit.record(user.name, "view", role=user.role, footage=[session], reason=reason)


def one_entry(desk: Desk, act, **expected) -> dict:
    """Run ``action``; exactly one new audit entry must follow, matching ``expected``."""
    before = desk.count()
    try:
        act()
    except AccessDenied:
        pass
    assert desk.count() == before + 1
    entry = desk.last()
    assert {key: entry[key] for key in expected} == expected
    return entry


def test_a_reviewer_without_a_reason_is_refused_and_each_attempt_is_one_entry(desk):
    rev, session = desk.user("rev"), desk.sessions[0]
    with pytest.raises(AccessDenied, match="view needs a reason"):
        view(desk, rev, session, "  ")
    entry = one_entry(desk, lambda: view(desk, rev, session, None), action="view", outcome="refused", actor="rev")
    assert entry["detail"]["why"] == "view needs a reason (who asked for it and why)."
    one_entry(desk, lambda: view(desk, rev, session, "投诉核查：当事人投诉"), action="view", outcome="done",
              reason="投诉核查：当事人投诉", footage=[session], role="reviewer")
    one_entry(desk, lambda: view(desk, desk.user("admin"), session, "curious"), action="view", outcome="refused")
    one_entry(desk, lambda: desk.access.authenticate("rev", "wrong password!", "view"), action="login",
              outcome="refused", actor="rev")


def test_a_confidential_session_is_invisible_to_a_plain_reviewer(desk):
    secret, other = desk.sessions
    sup, rev = desk.user("sup"), desk.user("rev")
    one_entry(desk, lambda: desk.access.mark_confidential(rev, secret, "secret", "涉密"), outcome="refused")
    one_entry(desk, lambda: desk.access.mark_confidential(sup, secret, "secret", "涉及国家秘密"),
              action="mark-confidential", outcome="done", footage=[secret])
    assert desk.access.visible(rev, desk.sessions) == [other]
    assert desk.access.visible(sup, desk.sessions) == desk.sessions
    with pytest.raises(AccessDenied, match=f"no session {secret} that a reviewer may see"):
        view(desk, rev, secret, "投诉核查")
    view(desk, sup, secret, "监督抽查")
    with pytest.raises(AccessDenied):
        desk.exports.request(rev, "session", secret, reason="移送法院", recipient="rev", destination="法院")
    desk.access.clear_confidential(sup, secret, "已解密")
    view(desk, rev, secret, "投诉核查")


def test_an_export_needs_another_supervisor_s_approval_and_is_made_once_by_its_recipient(desk, tmp_path):
    rev, rev2, sup, sup2 = (desk.user(n) for n in ("rev", "rev2", "sup", "sup2"))
    session = desk.sessions[0]
    with pytest.raises(AccessDenied, match="needs a reason"):
        desk.exports.request(rev, "session", session, reason=None, recipient="rev", destination="某区人民法院")
    wanted = desk.exports.request(rev, "session", session, reason="移送法院", recipient="rev",
                                  destination="某区人民法院")
    one_entry(desk, lambda: desk.exports.make(rev, wanted.id, tmp_path / "out", desk.build()),
              action="export-make", outcome="refused")
    entry = one_entry(desk, lambda: desk.exports.decide(rev, wanted.id, True), action="export-approve",
                      outcome="refused")
    assert entry["detail"]["why"] == "a reviewer may not approve or refuse exports: it takes a supervisor."
    own = desk.exports.request(sup, "session", session, reason="自查", recipient="sup", destination="纪委")
    entry = one_entry(desk, lambda: desk.exports.decide(sup, own.id, True), action="export-approve",
                      outcome="refused", actor="sup")
    assert "another supervisor must decide it" in entry["detail"]["why"]
    refused = desk.exports.request(rev, "session", session, reason="看看", recipient="rev", destination="个人")
    desk.exports.decide(sup, refused.id, False, "事由不足")
    with pytest.raises(AccessDenied, match="refused, not approved"):
        desk.exports.make(rev, refused.id, tmp_path / "out", desk.build())
    one_entry(desk, lambda: desk.exports.decide(sup2, wanted.id, True), action="export-approve", outcome="done")
    with pytest.raises(AccessDenied, match="approved already"):
        desk.exports.decide(sup, wanted.id, False, "改变主意")
    one_entry(desk, lambda: desk.exports.make(rev2, wanted.id, tmp_path / "out", desk.build()), outcome="refused")
    made = desk.exports.make(rev, wanted.id, tmp_path / "out", desk.build())
    assert desk.last()["action"] == "export-make" and made.is_dir()
    with pytest.raises(AccessDenied, match="made, not approved"):
        desk.exports.make(rev, wanted.id, tmp_path / "again", desk.build())
    assert not (tmp_path / "again" / made.name).exists()
    one_entry(desk, lambda: desk.exports.handover(desk.user("cus"), wanted.id, "孙九（某区人民法院）"),
              action="export-handover", outcome="done")
    ledger = {row.id: row for row in desk.exports.ledger(desk.user("cus"))}
    row = ledger[wanted.id]
    assert (row.state, row.requester, row.decided_by, row.recipient, row.taken_by) == \
        ("made", "rev", "sup2", "rev", "孙九（某区人民法院）")
    assert ledger[refused.id].state == "refused" and ledger[own.id].state == "requested"


def approved_package(desk: Desk, out: Path, **request) -> Path:
    rev = desk.user("rev")
    wanted = desk.exports.request(rev, request.pop("scope", "session"), request.pop("target", desk.sessions[0]),
                                  reason="移送人民法院作为证据", recipient="rev", destination="某区人民法院",
                                  place="人民路与解放路路口", **request)
    desk.exports.decide(desk.user("sup"), wanted.id, True)
    return desk.exports.make(rev, wanted.id, out, desk.build())


def test_the_package_holds_the_originals_byte_for_byte_and_what_proves_them(desk, tmp_path):
    made = approved_package(desk, tmp_path / "out")
    session = read_session(desk.footage.folder(desk.sessions[0]))
    copies = sorted((made / "footage" / session.id).glob("seg-*.mp4"))
    assert [p.name for p in copies] == [s.video.name for s in session.segments] and len(copies) == 2
    assert all(copy.read_bytes() == (session.folder / copy.name).read_bytes() for copy in copies)
    for name in ("session-open.json", "session-close.json", "seg-000001.mp4.manifest", "seg-000002.mp4.idx"):
        assert (made / "footage" / session.id / name).read_bytes() == (session.folder / name).read_bytes()
    sums = dict(line.split("  ")[::-1] for line in (made / "SHA256SUMS").read_text().splitlines())
    assert all(hashlib.sha256((made / name).read_bytes()).hexdigest() == digest for name, digest in sums.items())
    lines = [json.loads(line) for line in (made / "audit.jsonl").read_text().splitlines()]
    assert [line["entry"]["action"] for line in lines] == ["export-request", "export-approve", "export-make"]
    assert lines[-1]["entry"]["detail"]["files"] == sums
    assert doc_verify(lines, (made / "keys" / "station.pub").read_text(), whole=False) == []
    assert "OK: 2 OK" in (made / "verification.txt").read_text()
    chinese = (made / "verification.txt").read_text().split("校验结果（中文）：\n")[1].splitlines()
    assert chinese[0].startswith("会话 ") and "：通过；停止原因：" in chinese[0]
    assert [line.split()[1] for line in chinese[1:3]] == ["完好", "完好"]
    assert "提供对象：某区人民法院" in (made / "README.txt").read_text()
    assert "README.txt" in os.listdir(made) and "sha256sum -c SHA256SUMS" in (made / "README.txt").read_text()


def test_a_time_range_exports_whole_segments_only(desk, tmp_path):
    session = read_session(desk.footage.folder(desk.sessions[0]))
    second = session.segments[1]
    made = approved_package(desk, tmp_path / "out", scope="range", target=session.id,
                            start_ns=second.first_wall, end_ns=second.last_wall)
    assert [p.name for p in (made / "footage" / session.id).glob("seg-*.mp4")] == [second.video.name]
    with pytest.raises(AccessError, match="no footage in that time range"):
        desk.exports.request(desk.user("rev"), "range", session.id, reason="移送法院", recipient="rev",
                             destination="法院", start_ns=second.last_wall + 10**9, end_ns=second.last_wall + 10**10)
    assert (made / "footage" / session.id / second.video.name).read_bytes() == second.video.read_bytes()


def pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout


def test_the_record_form_reads_back_every_field_in_chinese_and_renders(desk, tmp_path):
    made = approved_package(desk, tmp_path / "out")
    text = pdf_text(made / "record-form.pdf")
    rows = {line.split(None, 1)[0]: line.split(None, 1)[1].strip() for line in text.splitlines()
            if len(line.split(None, 1)) == 2}
    session = read_session(desk.footage.folder(desk.sessions[0]))
    opened, walls = session.opened.body, [w for s in session.segments for w in (s.first_wall, s.last_wall)]
    assert "同步录音录像摄录情况记录表" in text
    assert rows["执法人员姓名"] == rows["摄录人员姓名"] == "张三（警号 012345）"
    assert rows["单位"] == "某市交通运输局（110101000001）"
    assert rows["摄录起止时间"] == f"{local_time(min(walls), SHANGHAI)} 至 {local_time(max(walls), SHANGHAI)}"
    start = datetime.fromtimestamp(min(walls) // 10**9, ZoneInfo("Asia/Shanghai"))
    assert rows["摄录起止时间"].startswith(start.strftime("%Y-%m-%d %H:%M:%S+08:00 至"))   # Beijing time, its offset
    assert "+0000" not in text and re.search(r"本站时区\s+UTC\+08:00", text)
    assert rows["摄录地点"] == "人民路与解放路路口"
    assert re.search(rf"案件 / 会话\s+录像 {desk.sessions[0]}\n", text)  # the scope by its label
    assert rows["设备品牌型号"] == f"bodycam 执法记录仪，序列号 {opened['device']}，固件 {opened['firmware']}"
    assert rows["录音录像格式"] == "MP4（分片 fMP4），视频 H.264，音频 AAC"
    assert rows["录音录像长度"] == "00:00:03（3.0 秒）"
    assert rows["分段数量"].startswith("2 段")
    assert (rows["调取事由"], rows["提供对象"]) == ("移送人民法院作为证据", "某区人民法院")
    assert (rows["申请人"], rows["审批人"], rows["制作人"]) == ("李四（rev）", "王五（sup）", "李四（rev）")
    for segment in session.segments:
        sealed = segment.manifest.body["file"]
        assert f"{sealed['name']}" in text and sealed["sha256"] in text
    assert "执法人员签名" in text and "本单位领导签字" in text and "（本单位印章）" in text
    fonts = subprocess.run(["pdffonts", str(made / "record-form.pdf")], check=True, capture_output=True,
                           text=True).stdout
    assert "NotoSansCJKSC" in fonts and all(line.split()[-5] == "yes" for line in fonts.splitlines()[2:])
    subprocess.run(["pdftoppm", "-r", "40", "-gray", "-f", "1", "-l", "1", str(made / "record-form.pdf"),
                    str(tmp_path / "page")], check=True)
    page = next(tmp_path.glob("page*.pgm")).read_bytes()
    magic, width, height, _depth, pixels = page.split(maxsplit=4)
    dark = sum(1 for value in pixels if value < 128)
    assert magic == b"P5" and int(width) < int(height) and 0.01 < dark / len(pixels) < 0.3  # ink on a portrait page


def test_the_c2pa_sidecar_validates_against_the_station_ca_and_fails_after_a_flipped_byte(desk, tmp_path):
    made = approved_package(desk, tmp_path / "out")
    ca_pem = (made / "keys" / "station-ca.pem").read_bytes()
    video = min((made / "footage").glob("*/seg-*.mp4"))
    sidecar = video.with_suffix(".c2pa").read_bytes()
    result = validate_sidecar(video, sidecar, ca_pem)
    assert result.trusted, result.failures
    seal = next(a for a in result.manifest["assertions"] if a["label"] == "cn.bodycam.evidence.seal")["data"]
    assert seal == json.loads(video.with_name(video.name + ".manifest").read_text())
    assert [i["title"] for i in result.manifest["ingredients"]] == [video.name]
    strange = station_ca(tmp_path / "another-station").ca_pem
    assert validate_sidecar(video, sidecar, strange).state != "Trusted"
    flipped = tmp_path / video.name
    data = bytearray(video.read_bytes())
    data[len(data) // 2] ^= 0x01
    flipped.write_bytes(bytes(data))
    broken = validate_sidecar(flipped, sidecar, ca_pem)
    assert broken.state == "Invalid" and "assertion.bmffHash.mismatch" in broken.failures


# -- the audit trail, checked by `audit verify` and by a verifier written from docs/audit-format.md alone --------

def doc_verify(lines: list[dict], station_pem: str, whole: bool = True) -> list[int]:
    """The seq numbers (or positions) where docs/audit-format.md's three checks fail."""
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    trusted = load_pem_public_key(station_pem.encode())
    bad, previous = [], None
    for line in lines:
        body, key = line["entry"], bytes.fromhex(line["public_key"])
        text = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")
        try:
            if key != trusted.public_bytes_raw() or body["key_id"] != hashlib.sha256(key).hexdigest()[:16]:
                raise InvalidSignature
            Ed25519PublicKey.from_public_bytes(key).verify(bytes.fromhex(line["signature"]), b"bodycam-audit/1\n" + text)
        except InvalidSignature:
            bad.append(body["seq"])
        if whole:
            expected_seq = previous[0] + 1 if previous else 1
            expected_prev = previous[1] if previous else "0" * 64
            if body["seq"] != expected_seq or body["prev"] != expected_prev:
                bad.append(expected_seq)
        previous = (body["seq"], hashlib.sha256(text).hexdigest())
    return bad


def exported(desk: Desk, tmp_path: Path) -> list[dict]:
    path = tmp_path / "trail.jsonl"
    audit.write_jsonl(path, audit.entries(desk.engine))
    return [json.loads(line) for line in path.read_text().splitlines()]


def busy_trail(desk: Desk) -> None:
    rev = desk.user("rev")
    for reason in ("投诉核查", "信访", "案件研判", "监督抽查"):
        view(desk, rev, desk.sessions[0], reason)


def tamper(desk: Desk, statement: str, **values) -> None:
    """What someone with the database's own tools could do: lift the guard, change the rows."""
    with desk.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            for table in ("audit_trail", "audit_footage"):
                connection.execute(sa.text(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}"))
        else:
            for name in ("audit_trail_no_update", "audit_trail_no_delete", "audit_footage_no_delete"):
                connection.execute(sa.text(f"DROP TRIGGER IF EXISTS {name}"))
        connection.execute(sa.text(statement), values)


def station_pem(desk: Desk) -> str:
    return ArchiveDir(desk.archive).public_key.read_text()


def test_an_intact_trail_verifies_and_the_database_refuses_edits(any_desk, tmp_path):
    busy_trail(any_desk)
    assert audit.verify(any_desk.engine, {any_desk.signer.public_key}) == []
    assert doc_verify(exported(any_desk, tmp_path), station_pem(any_desk)) == []
    for statement in ("UPDATE audit_trail SET body = body WHERE seq = 3", "DELETE FROM audit_trail WHERE seq = 3"):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), any_desk.engine.begin() as connection:
            connection.execute(sa.text(statement))


def test_an_edited_entry_is_named(any_desk, tmp_path):
    busy_trail(any_desk)
    with any_desk.engine.connect() as connection:
        row = connection.execute(sa.text("SELECT body FROM audit_trail WHERE seq = 8")).scalar()
    tamper(any_desk, "UPDATE audit_trail SET body = :body WHERE seq = 8", body=row.replace("信访", "例行"))
    problems = audit.verify(any_desk.engine, {any_desk.signer.public_key})
    assert problems[0] == "entry 8: its signature does not hold: edited after it was signed"
    assert 8 in doc_verify(exported(any_desk, tmp_path), station_pem(any_desk))


def test_a_deleted_entry_is_named(any_desk, tmp_path):
    busy_trail(any_desk)
    tamper(any_desk, "DELETE FROM audit_footage WHERE seq = 8")
    tamper(any_desk, "DELETE FROM audit_trail WHERE seq = 8")
    problems = audit.verify(any_desk.engine, {any_desk.signer.public_key})
    assert problems == ["entry 8 is missing: entry 9 comes after entry 7"]
    assert doc_verify(exported(any_desk, tmp_path), station_pem(any_desk)) == [8]


def test_reordered_entries_are_named(any_desk, tmp_path):
    busy_trail(any_desk)
    with any_desk.engine.connect() as connection:
        rows = {seq: (body, sig) for seq, body, sig in connection.execute(
            sa.text("SELECT seq, body, signature FROM audit_trail WHERE seq IN (8, 9)"))}
    for seq, other in ((8, 9), (9, 8)):
        tamper(any_desk, "UPDATE audit_trail SET body = :body, signature = :sig WHERE seq = :seq",
               body=rows[other][0], sig=rows[other][1], seq=seq)
    problems = audit.verify(any_desk.engine, {any_desk.signer.public_key})
    assert "entry 8 holds the body of entry 9: reordered or moved" in problems
    lines = exported(any_desk, tmp_path)
    assert [line["entry"]["seq"] for line in lines][7:9] == [9, 8] and 8 in doc_verify(lines, station_pem(any_desk))



def test_two_stations_appending_to_one_postgresql_trail_at_once_keep_one_unbroken_chain(pulled, tmp_path, postgres_url):
    engine = db.connect(postgres_url)
    ensure_schema(engine)
    signers = [FileSigner(ArchiveDir(pulled).key), FileSigner.generate(tmp_path / "other-dock.key")]
    trails = [AuditTrail(engine, signer, f"station {n}") for n, signer in enumerate(signers)]
    start = threading.Barrier(len(trails))

    def append(trail: AuditTrail) -> None:
        start.wait()
        for n in range(25):
            trail.record("rev", "search", role="reviewer", detail={"n": n})

    workers = [threading.Thread(target=append, args=(trail,)) for trail in trails]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    stored = list(audit.entries(engine))
    assert [entry.seq for entry in stored] == list(range(1, 51))
    assert sorted(entry.body["source"] for entry in stored) == ["station 0"] * 25 + ["station 1"] * 25
    assert audit.verify(engine, {signer.public_key for signer in signers}) == []
    assert audit.verify(engine, {signers[0].public_key})[0].endswith("which is not trusted")
    engine.dispose()


# -- the command line ----------------------------------------------------------------------------------------------

def station(archive: Path, *args: str, user: str | None = None, password: str = PASSWORD,
            new_password: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BODYCAM_")}
    env.update({"BODYCAM_PASSWORD": password, **({"BODYCAM_NEW_PASSWORD": new_password} if new_password else {})})
    command = [sys.executable, "-m", "station", *args, "--archive", str(archive), *(["--user", user] if user else [])]
    return subprocess.run(command, check=False, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)


def test_the_commands_take_the_acting_user_refuse_in_one_sentence_and_never_show_a_password(pulled, tmp_path):
    archive = tmp_path / "archive"
    copy_archive(pulled, archive)
    sessions = sorted(p.name for p in archive.glob("[0-9]*/*/*/*/*/*/*"))
    assert station(archive, "user", "add", "admin", "--role", "reviewer", new_password=PASSWORD).returncode == 1
    assert station(archive, "user", "add", "admin", "--role", "administrator", "--full-name", "管理员",
                   new_password=PASSWORD).returncode == 0
    assert station(archive, "user", "add", "rev", "--role", "reviewer", user="admin", new_password=PASSWORD).returncode == 0
    assert station(archive, "user", "add", "sup", "--role", "supervisor", user="admin", new_password=PASSWORD).returncode == 0
    refused = station(archive, "view", sessions[0], user="rev")
    assert refused.returncode == 1 and refused.stderr == "bodycam-station: view needs a reason (who asked for it and why).\n"
    wrong = station(archive, "view", sessions[0], "--reason", "投诉", user="rev", password="not the password")
    assert wrong.returncode == 1 and wrong.stderr.count("\n") == 1 and "Traceback" not in wrong.stderr
    nobody = station(archive, "view", sessions[0], "--reason", "投诉")
    assert nobody.returncode == 1 and "--user" in nobody.stderr
    seen = station(archive, "view", sessions[0], "--reason", "投诉核查", user="rev")
    assert seen.returncode == 0 and "OK" in seen.stdout
    assert station(archive, "export", "request", "--session", sessions[0], "--reason", "移送法院", "--recipient", "rev",
                   "--for", "某区人民法院", user="rev").returncode == 0
    assert station(archive, "export", "make", "1", "--out", str(tmp_path / "out"), user="rev").returncode == 1
    assert station(archive, "export", "approve", "1", user="sup").returncode == 0
    assert station(archive, "export", "make", "1", "--out", str(tmp_path / "out"), user="rev").returncode == 0
    verified = station(archive, "audit", "verify", user="admin")
    assert verified.returncode == 0 and "intact" in verified.stdout
    shown = station(archive, "audit", "show", "--json", user="admin")
    lines = [json.loads(line) for line in shown.stdout.splitlines()]
    assert [(l["entry"]["action"], l["entry"]["outcome"]) for l in lines] == [
        ("user-add", "done"), ("user-add", "done"), ("user-add", "done"), ("view", "refused"), ("login", "refused"),
        ("view", "done"), ("export-request", "done"), ("export-make", "refused"), ("export-approve", "done"),
        ("export-make", "done"), ("audit-verify", "done")]
    assert doc_verify(lines, ArchiveDir(archive).public_key.read_text()) == []
    everything = b"".join(p.read_bytes() for p in archive.glob("catalogue.sqlite*")) + shown.stdout.encode()
    assert PASSWORD.encode() not in everything  # the password is stored only as its Argon2id hash


def test_the_catalogue_commands_are_done_by_the_authenticated_user_as_their_role_allows_and_audited(desk):
    archive, (secret, other) = desk.archive, desk.sessions
    desk.access.mark_confidential(desk.user("sup"), secret, "secret", "涉及国家秘密")
    searched = station(archive, "search", "--json", user="rev")
    assert searched.returncode == 0
    assert [json.loads(line)["session"] for line in searched.stdout.splitlines()] == [other]
    assert (desk.last()["action"], desk.last()["actor"], desk.last()["footage"]) == ("search", "rev", [other])
    searched = station(archive, "search", "--json", user="sup")
    assert {json.loads(line)["session"] for line in searched.stdout.splitlines()} == {secret, other}
    refused = station(archive, "hold", "--session", other, "--reason", "法院保全", user="rev")
    assert refused.returncode == 1
    assert refused.stderr == ("bodycam-station: a reviewer may not place or release legal holds: "
                              "it takes a supervisor.\n")
    assert (desk.last()["action"], desk.last()["outcome"], desk.last()["footage"]) == ("hold-placed", "refused", [other])
    by = station(archive, "hold", "--session", other, "--reason", "法院保全", "--by", "someone", user="sup")
    assert by.returncode == 1 and "--by" in by.stderr and "Traceback" not in by.stderr
    assert station(archive, "hold", "--session", other, "--reason", "法院保全", user="sup").returncode == 0
    held = desk.last()
    assert (held["action"], held["actor"], held["role"], held["footage"], held["reason"]) == \
        ("hold-placed", "sup", "supervisor", [other], "法院保全")
    assert desk.catalogue.holds(other)[0]["placed_by"] == "sup"
    device = desk.catalogue.session(other)["device"]
    assert station(archive, "assign", device, "012345", user="rev").returncode == 1
    assert station(archive, "assign", device, "012345", user="cus").returncode == 0
    assert (desk.last()["action"], desk.last()["actor"]) == ("device-assigned", "cus")
    new_device = desk.archive.parent / "new-device.pub"
    new_device.write_text(public_pem(FileSigner.generate(desk.archive.parent / "new-device.key").public_key))
    assert station(archive, "enroll", "--device-key", str(new_device), user="rev").returncode == 1
    assert station(archive, "enroll", "--device-key", str(new_device), user="admin").returncode == 0
    assert (desk.last()["action"], desk.last()["actor"], desk.last()["outcome"]) == ("enroll", "admin", "done")
    nobody = station(archive, "search")
    assert nobody.returncode == 1 and "--user" in nobody.stderr
    assert station(archive, "show", secret, user="rev").stderr == \
        f"bodycam-station: no session {secret} that a reviewer may see.\n"
    assert audit.verify(desk.engine, {desk.signer.public_key}) == []
