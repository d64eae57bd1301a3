"""docs/evidence-format.md is exact: real records match its tables, and its recipe verifies them."""
from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from evidence.records import MEMBERS
from evidence.verify import verify_paths
from tests import doc_verifier
from tests.conftest import record

DOC = (Path(__file__).parent.parent / "docs" / "evidence-format.md").read_text(encoding="utf-8")


def documented_fields(heading: str) -> set[str]:
    section = DOC.split(f"### {heading}", 1)[1].split("\n### ", 1)[0].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z_]+)` \|", section, re.MULTILINE))


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("doc")
    progress = record(data_dir, 2.5)
    return progress.folder


def stored(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("file, heading", [
    ("session-open.json", "Session open (`type` = `session-open`)"),
    ("seg-000001.mp4.manifest", "Segment manifest (`type` = `segment`)"),
    ("session-close.json", "Session close (`type` = `session-close`)"),
    ("../../device/identity/identity-000001.json", "Identity (`type` = `identity`)"),
    ("../../device/chain.json", "Chain head (`type` = `chain-head`)"),
])
def test_every_field_is_documented_and_every_documented_field_is_there(session, file, heading):
    """The session is recorded in clear: its open record has every documented field but ``encryption``
    (tests/test_encrypted_recording.py checks an encrypted session's)."""
    body = stored(session / file)["record"]
    expected = documented_fields("Common fields") | documented_fields(heading)
    assert set(body) == expected - {"encryption"} and MEMBERS[body["type"]] == expected


def test_the_stored_record_members_are_the_documented_ones(session):
    members = set(re.findall(r"^\| `([a-z_]+)` \|", DOC.split("## A stored record", 1)[1].split("\n## ", 1)[0],
                             re.MULTILINE))
    assert set(stored(session / "session-open.json")) == members


def test_a_third_party_following_the_doc_verifies_the_chain(session):
    """Only json, hashlib and an Ed25519 library, as the document promises."""
    domain = re.search(r"domain string `([^`]+)`", DOC).group(1).replace("\\n", "\n").encode()
    assert len(domain) == 19

    def check(path: Path) -> tuple[dict, str]:
        data = stored(path)
        body = data["record"]
        canonical = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")
        public = bytes.fromhex(data["public_key"])
        assert body["key_id"] == hashlib.sha256(public).hexdigest()[:16]
        Ed25519PublicKey.from_public_bytes(public).verify(bytes.fromhex(data["signature"]), domain + canonical)
        return body, hashlib.sha256(canonical).hexdigest()

    opened, previous = check(session / "session-open.json")
    manifests = sorted(session.glob("*.manifest"))
    assert len(manifests) == 2
    for number, path in enumerate(manifests, start=1):
        body, digest = check(path)
        assert body["segment"] == number and body["prev"] == previous and body["session"] == session.name
        video = (session / body["file"]["name"]).read_bytes()
        assert len(video) == body["file"]["size"]
        assert hashlib.sha256(video).hexdigest() == body["file"]["sha256"]
        offset = 0
        for part in body["parts"]:
            assert part["offset"] == offset
            assert hashlib.sha256(video[offset:offset + part["size"]]).hexdigest() == part["sha256"]
            offset += part["size"]
        assert offset == len(video)
        index = (session / body["index"]["name"]).read_bytes()
        assert hashlib.sha256(index).hexdigest() == body["index"]["sha256"]
        previous = digest
    closed, _ = check(session / "session-close.json")
    assert closed["prev"] == previous == closed["last_segment"]
    assert closed["segments"] == 2


# --- a verifier written from the document alone, on every case the project knows --------------

def flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.chmod(0o644)
    path.write_bytes(bytes(data))


def resign(path: Path, signer, change) -> None:
    from evidence.records import sign

    body = stored(path)["record"]
    change(body)
    path.chmod(0o644)
    path.write_bytes(sign(body, signer).to_bytes())


def first_session(data_dir: Path) -> Path:
    return sorted((data_dir / "spool").iterdir())[0]


def untouched(data_dir, tmp_path):
    pass


def byte_flipped_in_a_video(data_dir, tmp_path):
    flip(first_session(data_dir) / "seg-000001.mp4", 5000)


def byte_flipped_in_a_manifest(data_dir, tmp_path):
    path = first_session(data_dir) / "seg-000002.mp4.manifest"
    text = path.read_text()
    path.chmod(0o644)
    path.write_text(text.replace('"count": ', '"count": 1', 1))


def video_truncated(data_dir, tmp_path):
    path = first_session(data_dir) / "seg-000001.mp4"
    path.chmod(0o644)
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size // 2)


def middle_segment_deleted(data_dir, tmp_path):
    folder = first_session(data_dir)
    for name in ("seg-000001.mp4", "seg-000001.mp4.idx", "seg-000001.mp4.manifest"):
        (folder / name).unlink()


def video_deleted(data_dir, tmp_path):
    (first_session(data_dir) / "seg-000002.mp4").unlink()


def last_segment_and_close_deleted(data_dir, tmp_path):
    folder = first_session(data_dir)
    for name in ("seg-000002.mp4", "seg-000002.mp4.idx", "seg-000002.mp4.manifest", "session-close.json"):
        (folder / name).unlink()


def videos_swapped(data_dir, tmp_path):
    folder = first_session(data_dir)
    one, two = folder / "seg-000001.mp4", folder / "seg-000002.mp4"
    one.rename(folder / "swap")
    two.rename(one)
    (folder / "swap").rename(two)


def index_edited(data_dir, tmp_path):
    flip(first_session(data_dir) / "seg-000001.mp4.idx", 10)


def unsigned_file_added(data_dir, tmp_path):
    (first_session(data_dir) / "seg-000003.mp4").write_bytes(b"not sealed")


def extra_member_resigned(data_dir, tmp_path):
    from evidence.keys import FileSigner

    signer = FileSigner(data_dir / "device" / "device.key")
    resign(first_session(data_dir) / "seg-000001.mp4.manifest", signer, lambda body: body.update(note="x"))


def member_named_twice(data_dir, tmp_path):
    path = first_session(data_dir) / "seg-000001.mp4.manifest"
    text = path.read_text()
    path.chmod(0o644)
    path.write_text(text.replace('"record": {', '"record": {"seq": 1, ', 1))


def session_copied_to_a_new_folder(data_dir, tmp_path):
    folder = first_session(data_dir)
    shutil.copytree(folder, folder.with_name(folder.name + "-copy"))


def first_session_deleted(data_dir, tmp_path):
    shutil.rmtree(first_session(data_dir))


def identity_deleted(data_dir, tmp_path):
    (data_dir / "device" / "identity" / "identity-000001.json").unlink()


def identity_edited(data_dir, tmp_path):
    path = data_dir / "device" / "identity" / "identity-000001.json"
    text = path.read_text()
    path.chmod(0o644)
    path.write_text(text.replace('"police_number": "', '"police_number": "9', 1))


def key_swapped(data_dir, tmp_path):
    """The last session signed anew, and chained, with another key: only step 7 names it."""
    from evidence.keys import FileSigner

    forger = FileSigner.generate(tmp_path / "forger.key")
    folder = sorted((data_dir / "spool").iterdir())[-1]
    previous = None
    for path in [folder / "session-open.json", *sorted(folder.glob("*.manifest")), folder / "session-close.json"]:
        def change(body, previous=previous):
            body["key_id"] = forger.key_id
            if previous:
                body["prev"] = previous
            if body["type"] == "session-close":
                body["last_segment"] = previous
        resign(path, forger, change)
        previous = doc_verifier.read(path)[2]


def forged_tail(data_dir, tmp_path):
    from tests.test_custody import cut_by_power, record as record_again

    record_again(data_dir, 2.5, recording={"segment_seconds": 10})
    video = cut_by_power(data_dir, keep=1, torn=0)
    record_again(data_dir, 1)
    body = stored(video.with_name(video.name + ".manifest"))["record"]
    fragment = next(p for p in body["parts"] if p["type"] == "fragment")
    data = video.read_bytes()
    video.chmod(0o644)
    video.write_bytes(data[:body["file"]["size"]] + data[fragment["offset"]:fragment["offset"] + fragment["size"]])


def torn_tail(data_dir, tmp_path):
    from tests.test_custody import cut_by_power, record as record_again

    record_again(data_dir, 2.5, recording={"segment_seconds": 10})
    cut_by_power(data_dir, keep=1, torn=700)
    record_again(data_dir, 1)


def released_after_docking(data_dir, tmp_path):
    from tests.test_custody import dock, enrol

    archive = tmp_path / "archive"
    enrol(data_dir, archive)
    assert not dock(data_dir, archive).failed
    assert not list((data_dir / "spool").glob("*/seg-*.mp4"))


CASES = [untouched, byte_flipped_in_a_video, byte_flipped_in_a_manifest, video_truncated, middle_segment_deleted,
         video_deleted, last_segment_and_close_deleted, videos_swapped, index_edited, unsigned_file_added,
         extra_member_resigned, member_named_twice, session_copied_to_a_new_folder, first_session_deleted,
         identity_deleted, identity_edited, key_swapped, forged_tail, torn_tail, released_after_docking]
PASSING = {untouched, identity_deleted, torn_tail, released_after_docking}   # see "The chain"


@pytest.fixture(scope="module")
def two_sessions(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("two") / "data"
    record(data_dir, 2.5)
    record(data_dir, 1)
    return data_dir


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.__name__)
@pytest.mark.parametrize("pinned", [True, False], ids=["pinned", "unpinned"])
def test_the_document_alone_verifies_every_case_as_bodycam_verify_does(two_sessions, tmp_path, case, pinned):
    from evidence.keys import load_public_key

    data_dir = tmp_path / "data"
    shutil.copytree(two_sessions, data_dir)
    case(data_dir, tmp_path)
    keys = {load_public_key((data_dir / "device" / "device.pub").read_text())} if pinned else None
    spool = data_dir / "spool"
    ours = verify_paths([spool], keys)
    theirs, passes = doc_verifier.verify([spool], keys)
    assert {v.folder: {s.name: s.state for s in v.segments} for v in ours} == \
        {folder: states for folder, (states, _) in theirs.items()}
    assert {v.folder: bool(v.problems) for v in ours} == {folder: bool(p) for folder, (_, p) in theirs.items()}
    expected = case in PASSING and not (case is key_swapped and not pinned)
    assert passes == expected == (bool(ours) and all(v.ok for v in ours))


def test_the_document_alone_names_a_fork_the_witness_kept_in_the_archive(tmp_path):
    """A rollback refused at the dock: the archive holds both branches; the document's step 6 names the fork."""
    from tests.test_custody import dock, enrol, sessions

    device, archive = tmp_path / "device", tmp_path / "archive"
    record(device, 1)
    head = (device / "device" / "chain.json").read_bytes()
    record(device, 1)
    enrol(device, archive)
    assert not dock(device, archive).failed
    for folder in sessions(device)[1:]:
        shutil.rmtree(folder)
    (device / "device" / "chain.json").write_bytes(head)
    record(device, 1)
    record(device, 1)
    assert dock(device, archive).failed
    theirs, passes = doc_verifier.verify([archive])
    assert not passes and any("fork" in problems for _, problems in theirs.values())
    assert not all(v.ok for v in verify_paths([archive]))


def test_the_documented_types_of_top_level_members_are_the_checked_ones():
    """Rule P7's table names, for each scalar type, exactly the members the parser holds to it."""
    from evidence.records import HASH, SHAPES, Nullable

    table = DOC.split("- **P7.**", 1)[1].split("- **P8.**", 1)[0]
    documented = {kind: set(re.findall(r"`([a-z_]+)`", members))
                  for kind, members in re.findall(r"^  \| (string|integer|hash|hash, or null) \| (.+) \|$", table,
                                                  re.MULTILINE)}
    checked: dict[str, set[str]] = {}
    names = [(str, "string"), (int, "integer"), (HASH, "hash"), (Nullable(HASH), "hash, or null")]
    for shape in SHAPES.values():
        for member, kind in shape.items():
            for scalar, name in names:
                if kind == scalar:
                    checked.setdefault(name, set()).add(member)
    assert documented == checked
