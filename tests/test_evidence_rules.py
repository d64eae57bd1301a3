"""Every rule of docs/evidence-format.md, broken one at a time: `bodycam verify` and the verifier
written from the document alone (tests/doc_verifier.py) give the expected verdict, and the same.

Each case takes a copy of one device (two sessions, a re-assignment between them) and breaks
exactly the rule it is named after; a record it changes is signed again, and so is every record
after it (``prev``, ``last_segment``, the chain head), so that no other link breaks.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from evidence.keys import FileSigner, load_public_key
from evidence.paths import DataDir
from evidence.records import (
    DOMAIN,
    IDENTITY_GLOB,
    MANIFEST_SUFFIX,
    SESSION_CLOSE,
    SESSION_OPEN,
    read_record,
    record_hash,
    sign,
)
from evidence.verify import run_verify
from firmware.provision import provision
from tests import doc_verifier
from tests.conftest import record, small_context
from tests.test_custody import cut_by_power, dock, enrol

REASSIGNED = {"device": "BC00001", "police_number": "654321", "officer": "Second", "unit_number": "000000000001",
              "unit": "Unit two"}


@pytest.fixture(scope="module")
def device(tmp_path_factory) -> Path:
    """Identity 1, session 1 (two segments), identity 2 (a re-assignment), session 2 (one segment)."""
    data_dir = tmp_path_factory.mktemp("rules") / "data"
    record(data_dir, 2.5)
    provision(small_context(data_dir), REASSIGNED)
    record(data_dir, 1)
    return data_dir


# --- changing a device as a forger would ------------------------------------------------------

def folders(data_dir: Path) -> DataDir:
    return DataDir(data_dir)


def sessions(data_dir: Path) -> list[Path]:
    return sorted(p for p in folders(data_dir).spool.iterdir() if p.is_dir())


def chain_files(data_dir: Path) -> list[Path]:
    found = sorted(folders(data_dir).identity.glob(IDENTITY_GLOB))
    for folder in sessions(data_dir):
        found += [p for p in folder.iterdir() if p.name.endswith(MANIFEST_SUFFIX) or p.name in (SESSION_OPEN,
                                                                                                    SESSION_CLOSE)]
    return found


def stored(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def write(path: Path, data: bytes) -> None:
    if path.exists():
        path.chmod(0o644)
    path.write_bytes(data)


def device_signer(data_dir: Path) -> FileSigner:
    return FileSigner(folders(data_dir).key)


def resign(data_dir: Path, path: Path, change: Callable[[dict], None], signer: FileSigner | None = None) -> None:
    """Change the record at ``path`` and sign it (by default with the device's key); then sign
    every later record of the device again so that it names the changed one, and move the head."""
    body = stored(path)["record"]
    seq = body["seq"]
    change(body)
    write(path, sign(body, signer or device_signer(data_dir)).to_bytes())
    relink_after(data_dir, seq)


def chain_records(data_dir: Path) -> dict[int, Path]:
    """The device's records by their seq (as stored, valid or not)."""
    return {stored(path)["record"]["seq"]: path for path in chain_files(data_dir)}


def relink_after(data_dir: Path, seq: int) -> None:
    own = device_signer(data_dir)
    records = chain_records(data_dir)
    for later in sorted(s for s in records if s > seq):
        body = stored(records[later])["record"]
        if later - 1 in records:
            body["prev"] = record_hash(stored(records[later - 1])["record"])
            if body["type"] == "session-close" and body["last_segment"] is not None:
                body["last_segment"] = body["prev"]
        write(records[later], sign(body, own).to_bytes())
    move_head(data_dir, own)


def move_head(data_dir: Path, signer: FileSigner) -> None:
    """The chain head, signed by ``signer``, naming the newest record."""
    records = chain_records(data_dir)
    head = stored(folders(data_dir).chain)["record"]
    head.update(seq=max(records), head=record_hash(stored(records[max(records)])["record"]), key_id=signer.key_id)
    write(folders(data_dir).chain, sign(head, signer).to_bytes())


def sign_text(data_dir: Path, path: Path, text: str) -> None:
    """Store the body ``text`` as it is (not canonical JSON), signed over exactly its bytes."""
    signer = device_signer(data_dir)
    public = signer.public_key
    signature = signer.sign(DOMAIN + text.encode("utf-8"))
    write(path, f'{{"public_key": "{public.hex()}", "record": {text}, "signature": "{signature.hex()}"}}'.encode())


def first(data_dir: Path) -> Path:
    return sessions(data_dir)[0]


def last(data_dir: Path) -> Path:
    return sessions(data_dir)[-1]


def manifest(data_dir: Path, number: int = 2) -> Path:
    return first(data_dir) / f"seg-{number:06d}.mp4{MANIFEST_SUFFIX}"


def identity(data_dir: Path, number: int) -> Path:
    return folders(data_dir).identity / f"identity-{number:06d}.json"


def forger(tmp_path: Path) -> FileSigner:
    """Another Ed25519 key, the same one throughout a case."""
    path = tmp_path / "forger.key"
    return FileSigner(path) if path.exists() else FileSigner.generate(path)


# --- the cases: each names the rule it breaks; None when it breaks none ---------------------------

def untouched(data_dir, tmp_path):
    pass


def head_one_record_behind(data_dir, tmp_path):
    """C3: a power cut between storing a record and moving the head."""
    head = stored(folders(data_dir).chain)["record"]
    newest = next(p for p in chain_files(data_dir) if read_record(p).body["seq"] == head["seq"] - 1)
    head.update(seq=head["seq"] - 1, head=read_record(newest).hash)
    write(folders(data_dir).chain, sign(head, device_signer(data_dir)).to_bytes())


def oldest_end_removed(data_dir, tmp_path):
    """C4: everything before the second session removed: a chain that starts later."""
    shutil.rmtree(first(data_dir))
    for path in folders(data_dir).identity.glob(IDENTITY_GLOB):
        path.unlink()


def torn_tail(data_dir, tmp_path):
    """V3.5: a recovered segment's tail holds no whole fragment."""
    record(data_dir, 2.5, recording={"segment_seconds": 10})
    cut_by_power(data_dir, keep=1, torn=700)
    record(data_dir, 1)


def released_after_docking(data_dir, tmp_path):
    """V3.7 with R1 to R3: freed videos with their receipts."""
    archive = tmp_path / "archive"
    enrol(data_dir, archive)
    assert not dock(data_dir, archive).failed
    assert not list(folders(data_dir).spool.glob("*/seg-*.mp4"))


def not_json(data_dir, tmp_path):
    write(manifest(data_dir), b"\xff not json")


def member_named_twice(data_dir, tmp_path):
    path = manifest(data_dir)
    write(path, path.read_bytes().replace(b'"record": {', b'"record": {"seq": 1, ', 1))


def outer_member_added(data_dir, tmp_path):
    data = stored(manifest(data_dir))
    write(manifest(data_dir), json.dumps({**data, "note": "x"}).encode())


def signature_in_capitals(data_dir, tmp_path):
    data = stored(manifest(data_dir))
    write(manifest(data_dir), json.dumps({**data, "signature": data["signature"].upper()}).encode())


def another_format(data_dir, tmp_path):
    resign(data_dir, manifest(data_dir), lambda body: body.update(format="bodycam-evidence/2"))


def body_member_added(data_dir, tmp_path):
    resign(data_dir, manifest(data_dir), lambda body: body.update(note="x"))


def nested_member_mistyped(data_dir, tmp_path):
    resign(data_dir, manifest(data_dir), lambda body: body["frames"].update(count=str(body["frames"]["count"])))


def nested_member_added(data_dir, tmp_path):
    resign(data_dir, manifest(data_dir), lambda body: body["officer"].update(rank="sergeant"))


def seq_zero(data_dir, tmp_path):
    resign(data_dir, first(data_dir) / SESSION_OPEN, lambda body: body.update(seq=0))


def float_signed(data_dir, tmp_path):
    path = first(data_dir) / SESSION_OPEN
    body = stored(path)["record"]
    text = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    assert '"pre_event_ms":0,' in text
    sign_text(data_dir, path, text.replace('"pre_event_ms":0,', '"pre_event_ms":0.0,'))


def first_prev_not_zeros(data_dir, tmp_path):
    resign(data_dir, identity(data_dir, 1), lambda body: body.update(prev="1" * 64))


def parts_with_a_gap(data_dir, tmp_path):
    def shift(body):
        body["parts"][1]["offset"] += 1
    resign(data_dir, manifest(data_dir), shift)


def police_number_not_digits(data_dir, tmp_path):
    resign(data_dir, identity(data_dir, 1), lambda body: body["officer"].update(police_number="12ab"))


def open_record_deleted(data_dir, tmp_path):
    (first(data_dir) / SESSION_OPEN).unlink()


def close_record_as_open_record(data_dir, tmp_path):
    write(first(data_dir) / SESSION_OPEN, (first(data_dir) / SESSION_CLOSE).read_bytes())


def session_copied_to_a_new_folder(data_dir, tmp_path):
    shutil.copytree(last(data_dir), last(data_dir).with_name(last(data_dir).name + "-copy"))


def close_record_deleted(data_dir, tmp_path):
    (first(data_dir) / SESSION_CLOSE).unlink()


def open_record_as_close_record(data_dir, tmp_path):
    write(first(data_dir) / SESSION_CLOSE, (first(data_dir) / SESSION_OPEN).read_bytes())


def byte_flipped_in_a_manifest(data_dir, tmp_path):
    path = manifest(data_dir)
    write(path, path.read_bytes().replace(b'"count": ', b'"count": 1', 1))


def manifest_of_another_key(data_dir, tmp_path):
    resign(data_dir, manifest(data_dir), lambda body: body.update(key_id=forger(tmp_path).key_id),
           forger(tmp_path))


def manifest_of_another_device(data_dir, tmp_path):
    signer = forger(tmp_path)
    resign(data_dir, manifest(data_dir), lambda body: body.update(key_id=signer.key_id, device="BC99999"), signer)


def manifest_of_another_session(data_dir, tmp_path):
    resign(data_dir, manifest(data_dir), lambda body: body.update(session=last(data_dir).name))


def segment_renamed(data_dir, tmp_path):
    folder = first(data_dir)
    for suffix in ("", ".idx", MANIFEST_SUFFIX):
        (folder / f"seg-000002.mp4{suffix}").rename(folder / f"seg-000003.mp4{suffix}")


def index_edited(data_dir, tmp_path):
    path = first(data_dir) / "seg-000001.mp4.idx"
    data = bytearray(path.read_bytes())
    data[10] ^= 1
    write(path, bytes(data))


def recovered_with_tail(data_dir: Path, tail: Callable[[bytes], bytes]) -> None:
    """A recovered segment whose bytes after the sealed end are ``tail(a whole fragment)``."""
    record(data_dir, 2.5, recording={"segment_seconds": 10})
    video = cut_by_power(data_dir, keep=1, torn=0)
    record(data_dir, 1)
    body = stored(video.with_name(video.name + MANIFEST_SUFFIX))["record"]
    part = next(p for p in body["parts"] if p["type"] == "fragment")
    data = video.read_bytes()
    write(video, data[:body["file"]["size"]] + tail(data[part["offset"]:part["offset"] + part["size"]]))


def moof_and_mdat(fragment: bytes) -> tuple[bytes, bytes]:
    moof_size = int.from_bytes(fragment[:4], "big")
    return fragment[:moof_size], fragment[moof_size:]


def forged_tail(data_dir, tmp_path):
    """V3.5: a whole fragment after the sealed end, which a player would show."""
    recovered_with_tail(data_dir, lambda fragment: fragment)


def tail_mdat_of_size_zero(data_dir, tmp_path):
    """V3.5: a box of size 0 ("to the end") is never whole: no complete fragment."""
    def tail(fragment):
        moof, mdat = moof_and_mdat(fragment)
        return moof + bytes(4) + mdat[4:]
    recovered_with_tail(data_dir, tail)


def tail_mdat_of_64_bit_size_below_16(data_dir, tmp_path):
    """V3.5: a 64-bit size below its 16-byte header stops the reading."""
    def tail(fragment):
        moof, mdat = moof_and_mdat(fragment)
        return moof + (1).to_bytes(4, "big") + b"mdat" + (8).to_bytes(8, "big") + mdat[8:]
    recovered_with_tail(data_dir, tail)


def tail_fragment_with_64_bit_size(data_dir, tmp_path):
    """V3.5: a whole fragment whose mdat has a 64-bit size is a complete fragment all the same."""
    def tail(fragment):
        moof, mdat = moof_and_mdat(fragment)
        return moof + (1).to_bytes(4, "big") + b"mdat" + (len(mdat) + 8).to_bytes(8, "big") + mdat[8:]
    recovered_with_tail(data_dir, tail)


def videos_swapped(data_dir, tmp_path):
    folder = first(data_dir)
    one, two = folder / "seg-000001.mp4", folder / "seg-000002.mp4"
    one.rename(folder / "swap")
    two.rename(one)
    (folder / "swap").rename(two)


def video_deleted(data_dir, tmp_path):
    (first(data_dir) / "seg-000002.mp4").unlink()


def receipt_with_a_member_added(data_dir, tmp_path):
    released_after_docking(data_dir, tmp_path)
    path = folders(data_dir).receipts / first(data_dir).name / "seg-000001.mp4.receipt"
    write(path, json.dumps({**stored(path), "note": "x"}).encode())


def receipt_in_capitals(data_dir, tmp_path):
    released_after_docking(data_dir, tmp_path)
    path = folders(data_dir).receipts / first(data_dir).name / "seg-000001.mp4.receipt"
    receipt = stored(path)
    write(path, json.dumps({**receipt, "dock_key": receipt["dock_key"].upper()}).encode())


def receipt_of_a_dock_not_enrolled(data_dir, tmp_path):
    released_after_docking(data_dir, tmp_path)
    for path in folders(data_dir).docks.glob("*.pub"):
        path.unlink()


def byte_flipped_in_a_video(data_dir, tmp_path):
    path = first(data_dir) / "seg-000001.mp4"
    data = bytearray(path.read_bytes())
    data[5000] ^= 1
    write(path, bytes(data))


def video_truncated(data_dir, tmp_path):
    path = first(data_dir) / "seg-000001.mp4"
    write(path, path.read_bytes()[:path.stat().st_size // 2])


def unsigned_file_added(data_dir, tmp_path):
    (first(data_dir) / "seg-000003.mp4").write_bytes(b"not sealed")


def middle_segment_deleted(data_dir, tmp_path):
    for suffix in ("", ".idx", MANIFEST_SUFFIX):
        (first(data_dir) / f"seg-000001.mp4{suffix}").unlink()


def manifest_prev_broken(data_dir, tmp_path):
    resign(data_dir, manifest(data_dir), lambda body: body.update(prev="2" * 64))


def close_names_another_last_segment(data_dir, tmp_path):
    resign(data_dir, first(data_dir) / SESSION_CLOSE, lambda body: body.update(last_segment="3" * 64))


def close_of_another_session(data_dir, tmp_path):
    resign(data_dir, first(data_dir) / SESSION_CLOSE, lambda body: body.update(session=last(data_dir).name))


def records_signed_twice(data_dir, tmp_path):
    """A rollback on the device, the removed session put back: two records for each seq."""
    removed = last(data_dir)
    shutil.move(removed, tmp_path / removed.name)
    move_head(data_dir, device_signer(data_dir))
    record(data_dir, 1)
    shutil.move(tmp_path / removed.name, removed)


def first_session_deleted(data_dir, tmp_path):
    shutil.rmtree(first(data_dir))


def identity_after_a_gap(data_dir, tmp_path):
    resign(data_dir, identity(data_dir, 2), lambda body: body.update(prev="4" * 64))


def identity_of_another_serial(data_dir, tmp_path):
    resign(data_dir, identity(data_dir, 2), lambda body: body.update(device="BC00002"))


def identity_edited(data_dir, tmp_path):
    path = identity(data_dir, 1)
    write(path, path.read_bytes().replace(b'"police_number": "', b'"police_number": "9', 1))


def identity_numbering_gap(data_dir, tmp_path):
    identity(data_dir, 2).rename(identity(data_dir, 3))


def session_signed_with_another_key(data_dir, tmp_path):
    signer = forger(tmp_path)
    folder = last(data_dir)
    for path in [folder / SESSION_OPEN, *sorted(folder.glob("*" + MANIFEST_SUFFIX)), folder / SESSION_CLOSE]:
        resign(data_dir, path, lambda body: body.update(key_id=signer.key_id), signer)
    move_head(data_dir, signer)


def identity_signed_with_another_key(data_dir, tmp_path):
    signer = forger(tmp_path)
    body = stored(identity(data_dir, 2))["record"]
    body.update(key_id=signer.key_id, seq=1000, prev=hashlib.sha256(b"elsewhere").hexdigest())
    write(identity(data_dir, 3), sign(body, signer).to_bytes())


def head_garbage(data_dir, tmp_path):
    write(folders(data_dir).chain, b"garbage")


def head_names_another_record(data_dir, tmp_path):
    head = stored(folders(data_dir).chain)["record"]
    head.update(head="5" * 64)
    write(folders(data_dir).chain, sign(head, device_signer(data_dir)).to_bytes())


def newest_session_removed_head_kept(data_dir, tmp_path):
    shutil.rmtree(last(data_dir))


def no_session(data_dir, tmp_path):
    for folder in sessions(data_dir):
        shutil.rmtree(folder)


def refused_docking_forked(data_dir, tmp_path) -> list[Path]:
    """W3: the device rolled back after a docking and recording again: the archive keeps what
    the refused docking offered under refused/, and the fork is named."""
    archive = tmp_path / "archive"
    head = folders(data_dir).chain.read_bytes()
    record(data_dir, 1)
    enrol(data_dir, archive)
    assert not dock(data_dir, archive).failed
    shutil.rmtree(last(data_dir))
    shutil.rmtree(folders(data_dir).receipts / last(data_dir).name, ignore_errors=True)
    write(folders(data_dir).chain, head)
    record(data_dir, 1)
    record(data_dir, 1)
    assert dock(data_dir, archive).failed
    assert list((archive / "refused").iterdir())
    return [archive]


# (case, the rule it breaks or None, passes unpinned, passes pinned); the rule is the document's number
CASES = [
    (untouched, None, True, True),
    (head_one_record_behind, None, True, True),
    (oldest_end_removed, None, True, True),
    (torn_tail, None, True, True),
    (released_after_docking, None, True, True),
    (not_json, "P1", False, False),
    (member_named_twice, "P2", False, False),
    (outer_member_added, "P3", False, False),
    (signature_in_capitals, "P4", False, False),
    (another_format, "P5", False, False),
    (body_member_added, "P6", False, False),
    (nested_member_mistyped, "P7", False, False),
    (nested_member_added, "P7", False, False),
    (seq_zero, "P8", False, False),
    (float_signed, "P9", False, False),
    (first_prev_not_zeros, "P10", False, False),
    (parts_with_a_gap, "P11", False, False),
    (police_number_not_digits, "P12", False, False),
    (open_record_deleted, "V1", False, False),
    (close_record_as_open_record, "V1", False, False),
    (session_signed_with_another_key, "V1.1 pinned, V7 unpinned", False, False),
    (session_copied_to_a_new_folder, "V1.2", False, False),
    (close_record_deleted, "V2", False, False),
    (open_record_as_close_record, "V2", False, False),
    (byte_flipped_in_a_manifest, "V3.1", False, False),
    (manifest_of_another_key, "V3.2", False, False),
    (manifest_of_another_device, "V3.2", False, False),
    (manifest_of_another_session, "V3.3", False, False),
    (segment_renamed, "V3.4", False, False),
    (index_edited, "V3.5", False, False),
    (forged_tail, "V3.5", False, False),
    (tail_mdat_of_size_zero, None, True, True),
    (tail_mdat_of_64_bit_size_below_16, None, True, True),
    (tail_fragment_with_64_bit_size, "V3.5", False, False),
    (videos_swapped, "V3.6", False, False),
    (video_deleted, "V3.7", False, False),
    (receipt_with_a_member_added, "R1", False, False),
    (receipt_in_capitals, "R1", False, False),
    (receipt_of_a_dock_not_enrolled, "R3", False, False),
    (byte_flipped_in_a_video, "V3.8", False, False),
    (video_truncated, "V3.8", False, False),
    (unsigned_file_added, "V4", False, False),
    (middle_segment_deleted, "V5.1", False, False),
    (manifest_prev_broken, "V5.2", False, False),
    (close_names_another_last_segment, "V5.3", False, False),
    (close_of_another_session, "V5.4", False, False),
    (records_signed_twice, "V6.1", False, False),
    (first_session_deleted, "V6.2", False, False),
    (identity_after_a_gap, "V6.2", False, False),
    (identity_of_another_serial, "V6.3", False, False),
    (identity_edited, "V6.4", False, False),
    (identity_numbering_gap, "V6.5", False, False),
    (identity_signed_with_another_key, "V7 (unpinned only)", False, True),
    (head_garbage, "V8.1", False, False),
    (head_names_another_record, "V8.2", False, False),
    (newest_session_removed_head_kept, "V8.3", False, False),
    (no_session, "V9, V10", False, False),
    (refused_docking_forked, "W3", False, False),
]


def verdicts(data_dir: Path, tmp_path: Path, case, pinned: bool, capsys) -> tuple[dict, dict]:
    """(bodycam verify's JSON report and exit status, the document verifier's verdicts and pass)."""
    paths = case(data_dir, tmp_path) or [folders(data_dir).spool]
    keys = [str(folders(data_dir).public_key)] if pinned else []
    capsys.readouterr()
    status = run_verify(paths, keys, as_json=True)
    report = json.loads(capsys.readouterr().out)
    theirs, passes = doc_verifier.verify(paths, {load_public_key(folders(data_dir).public_key.read_text())}
                                         if pinned else None)
    ours = {"passes": status == 0 and report["ok"],
            "sessions": {s["folder"]: ({g["name"]: g["state"] for g in s["segments"]}, bool(s["problems"]))
                         for s in report["sessions"]}}
    document = {"passes": passes, "sessions": {str(folder): (states, bool(problems))
                                               for folder, (states, problems) in theirs.items()}}
    return ours, document


@pytest.mark.parametrize("case, rule, unpinned, pinned", CASES, ids=[case.__name__ for case, *_ in CASES])
@pytest.mark.parametrize("with_key", [False, True], ids=["unpinned", "pinned"])
def test_each_rule_broken_alone_both_verifiers_agree(device, tmp_path, capsys, case, rule, unpinned, pinned,
                                                    with_key):
    data_dir = tmp_path / "data"
    shutil.copytree(device, data_dir)
    ours, document = verdicts(data_dir, tmp_path, case, with_key, capsys)
    assert ours == document
    assert ours["passes"] is (pinned if with_key else unpinned)


def test_a_broken_link_at_an_identity_record_is_a_problem_of_every_session_of_its_key(device, tmp_path, capsys):
    """V6: an identity record after a gap involves no session, yet who carried the device is in doubt."""
    data_dir = tmp_path / "data"
    shutil.copytree(device, data_dir)
    ours, document = verdicts(data_dir, tmp_path, identity_after_a_gap, False, capsys)
    assert ours == document
    assert len(ours["sessions"]) == 2 and all(problems for _, problems in ours["sessions"].values())


def test_verify_on_a_spool_with_no_session_exits_1_saying_so(device, tmp_path):
    """V10, through the `bodycam verify` command line."""
    data_dir = tmp_path / "data"
    shutil.copytree(device, data_dir)
    no_session(data_dir, tmp_path)
    done = subprocess.run([sys.executable, "-m", "firmware", "verify", str(folders(data_dir).spool)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1 and done.stdout.startswith("no recordings found")
