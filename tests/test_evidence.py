"""Every segment signed and chained: the tamper matrix, on real recorded segments."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from capture.sealing import Sealer, close_cut_sessions
from evidence.chain import ChainWriter
from evidence.keys import FileSigner
from evidence.records import parse, read_record, sign
from evidence.verify import verify_paths
from firmware.provision import ProvisionError, provision
from tests.conftest import record, small_context


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    """Device A: two sessions (4 and 2 segments); device B and a second key of A: one segment each."""
    root = tmp_path_factory.mktemp("evidence")
    first = record(root / "a", 7)
    second = record(root / "a", 3)
    other_device = record(root / "b", 1.5, device={"serial": "BC99999"})
    provision(small_context(root / "a2"), {"device": "BC00001", "police_number": "000000", "officer": "UNASSIGNED",
                            "unit_number": "000000000000", "unit": "UNASSIGNED"})
    other_key = record(root / "a2", 1.5)
    return root, first.session_id, second.session_id, other_device.session_id, other_key.session_id


@pytest.fixture
def spool(originals, tmp_path):
    """A writable copy of device A's spool, and the names of its sessions."""
    root, first, second, other_device, other_key = originals
    copy = tmp_path / "copy"
    for name in ("a", "b", "a2"):
        shutil.copytree(root / name, copy / name)
    for path in copy.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o600 if path.name == "device.key" else 0o644)
    return copy, copy / "a" / "spool" / first, copy / "a" / "spool" / second, \
        copy / "b" / "spool" / other_device, copy / "a2" / "spool" / other_key


def states(folder: Path, trusted=None) -> dict[str, str]:
    [verdict] = [v for v in verify_paths([folder.parent], trusted) if v.folder == folder]
    return {s.name: s.state for s in verdict.segments}


def verdict_of(folder: Path, trusted=None):
    return next(v for v in verify_paths([folder.parent], trusted) if v.folder == folder)


def move_segment(source: Path, target: Path) -> None:
    for suffix in ("", ".idx", ".manifest"):
        Path(str(source) + suffix).rename(str(target) + suffix)


def copy_segment(source: Path, target: Path) -> None:
    for suffix in ("", ".idx", ".manifest"):
        shutil.copy(str(source) + suffix, str(target) + suffix)


def test_untouched_recording_verifies_ok(spool):
    root, first, second, _, _ = spool
    key = (root / "a" / "device" / "device.pub").read_text()
    result = subprocess.run([sys.executable, "-m", "firmware", "verify", str(root / "a" / "spool"), "--key",
                             key.strip().splitlines()[1], "--json"], capture_output=True, text=True, timeout=60)
    report = json.loads(result.stdout)
    assert result.returncode == 0, result.stdout
    assert report["ok"] and report["keys_pinned"]
    assert [len(s["segments"]) for s in report["sessions"]] == [4, 2]
    assert {seg["state"] for s in report["sessions"] for seg in s["segments"]} == {"OK"}
    assert [s["closed"] for s in report["sessions"]] == ["duration reached"] * 2


def test_flipped_byte_in_the_video_names_the_fragment(spool):
    _, first, *_ = spool
    manifest = json.loads((first / "seg-000002.mp4.manifest").read_text())["record"]
    fragment = next(p for p in manifest["parts"] if p["type"] == "fragment" and p["number"] == 2)
    data = bytearray((first / "seg-000002.mp4").read_bytes())
    data[fragment["offset"] + fragment["size"] // 2] ^= 0x01
    (first / "seg-000002.mp4").write_bytes(bytes(data))
    verdict = verdict_of(first)
    bad = next(s for s in verdict.segments if s.name == "seg-000002.mp4")
    assert bad.state == "TAMPERED" and "fragment 2 differs" in bad.detail
    assert {s.state for s in verdict.segments if s is not bad} == {"OK"}
    assert not verdict.ok


def test_flipped_byte_in_a_manifest(spool):
    _, first, *_ = spool
    path = first / "seg-000003.mp4.manifest"
    text = path.read_text()
    path.write_text(text.replace('"flags": []', '"flags": ["recovered"]'))
    assert states(first)["seg-000003.mp4"] == "TAMPERED"


def test_truncated_segment(spool):
    _, first, *_ = spool
    path = first / "seg-000001.mp4"
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    verdict = verdict_of(first)
    bad = next(s for s in verdict.segments if s.name == "seg-000001.mp4")
    assert bad.state == "TAMPERED" and "truncated" in bad.detail


def test_deleted_middle_segment(spool):
    _, first, *_ = spool
    for suffix in ("", ".idx", ".manifest"):
        (first / f"seg-000002.mp4{suffix}").unlink()
    result = states(first)
    assert result["seg-000002.mp4"] == "MISSING"
    assert result["seg-000003.mp4"] == "OK"


def test_deleted_video_keeps_its_manifest_as_witness(spool):
    _, first, *_ = spool
    (first / "seg-000003.mp4").unlink()
    assert states(first)["seg-000003.mp4"] == "MISSING"


def test_deleted_last_segment(spool):
    _, first, *_ = spool
    for suffix in ("", ".idx", ".manifest"):
        (first / f"seg-000004.mp4{suffix}").unlink()
    result = states(first)
    assert result["seg-000004.mp4"] == "MISSING"
    assert [result[f"seg-00000{i}.mp4"] for i in (1, 2, 3)] == ["OK"] * 3


def test_deleted_last_segment_and_close_record(spool):
    _, first, *_ = spool
    for suffix in ("", ".idx", ".manifest"):
        (first / f"seg-000004.mp4{suffix}").unlink()
    (first / "session-close.json").unlink()
    verdict = verdict_of(first)
    assert not verdict.ok
    assert "MISSING session-close record" in verdict.problems


def test_two_segments_swapped(spool):
    _, first, *_ = spool
    move_segment(first / "seg-000002.mp4", first / "swap")
    move_segment(first / "seg-000003.mp4", first / "seg-000002.mp4")
    move_segment(first / "swap", first / "seg-000003.mp4")
    result = states(first)
    assert result["seg-000002.mp4"] == result["seg-000003.mp4"] == "OUT-OF-ORDER"
    assert result["seg-000001.mp4"] == result["seg-000004.mp4"] == "OK"


def test_two_videos_swapped_under_their_manifests(spool):
    _, first, *_ = spool
    (first / "seg-000002.mp4").rename(first / "swap")
    (first / "seg-000003.mp4").rename(first / "seg-000002.mp4")
    (first / "swap").rename(first / "seg-000003.mp4")
    verdict = verdict_of(first)
    swapped = {s.name: s for s in verdict.segments}
    assert swapped["seg-000002.mp4"].state == "OUT-OF-ORDER"
    assert "seg-000003.mp4" in swapped["seg-000002.mp4"].detail


def test_segment_from_another_device_inserted(spool):
    _, first, _, other_device, _ = spool
    copy_segment(other_device / "seg-000001.mp4", first / "seg-000005.mp4")
    assert states(first)["seg-000005.mp4"] == "FOREIGN"


def test_segment_signed_by_another_key_inserted(spool):
    _, first, _, _, other_key = spool
    copy_segment(other_key / "seg-000001.mp4", first / "seg-000005.mp4")
    assert states(first)["seg-000005.mp4"] == "UNKNOWN-KEY"


def test_old_segment_replayed_into_a_later_session(spool):
    _, first, second, *_ = spool
    copy_segment(first / "seg-000002.mp4", second / "seg-000003.mp4")
    result = states(second)
    assert result["seg-000003.mp4"] == "FOREIGN"
    assert result["seg-000001.mp4"] == result["seg-000002.mp4"] == "OK"


def test_renamed_files(spool):
    _, first, *_ = spool
    move_segment(first / "seg-000003.mp4", first / "seg-000009.mp4")
    result = states(first)
    assert result["seg-000009.mp4"] == "OUT-OF-ORDER"


def test_manifest_resigned_with_a_different_key(spool, tmp_path):
    root, first, *_ = spool
    path = first / "seg-000002.mp4.manifest"
    original = parse(path.read_bytes())
    forger = FileSigner.generate(tmp_path / "forger.key")
    path.write_bytes(sign({**original.body, "key_id": forger.key_id}, forger).to_bytes())
    assert states(first)["seg-000002.mp4"] == "UNKNOWN-KEY"
    pinned = {parse((first / "session-open.json").read_bytes()).public_key}
    assert states(first, pinned)["seg-000002.mp4"] == "UNKNOWN-KEY"


def test_a_whole_session_deleted_between_two(spool):
    root, first, second, *_ = spool
    # A third session follows the second; deleting the second breaks the link from first to third.
    third = record(root / "a", 0.5)
    shutil.rmtree(second)
    verdicts = verify_paths([root / "a" / "spool"])
    later = next(v for v in verdicts if v.session == third.session_id)
    assert any("MISSING records between" in p for p in later.problems)


def test_unsigned_file_added(spool):
    _, first, *_ = spool
    shutil.copy(first / "seg-000001.mp4", first / "seg-000007.mp4")
    (first / "seg-000007.mp4").write_bytes(b"\0\0\0\x08free" + (first / "seg-000001.mp4").read_bytes())
    assert states(first)["seg-000007.mp4"] == "UNSIGNED"


def test_untrusted_key_is_reported_when_keys_are_pinned(spool, tmp_path):
    _, first, *_ = spool
    stranger = FileSigner.generate(tmp_path / "stranger.key")
    verdict = verdict_of(first, {stranger.public_key})
    assert not verdict.ok
    assert {s.state for s in verdict.segments} == {"UNKNOWN-KEY"}


def test_provision_refuses_bad_values_and_keeps_the_key_private(tmp_path):
    good = {"device": "BC12345", "police_number": "123456", "officer": "李四", "unit_number": "110105000000",
            "unit": "朝阳分局"}
    context = small_context(tmp_path)
    with pytest.raises(ProvisionError, match="police number must be exactly 6 digits"):
        provision(context, {**good, "police_number": "12345"})
    with pytest.raises(ProvisionError, match="officer must be 1 to 32 characters"):
        provision(context, {**good, "officer": "名" * 33})
    signer, identity = provision(context, good)
    key = tmp_path / "device" / "device.key"
    assert key.stat().st_mode & 0o777 == 0o600
    assert identity["officer"] == "李四" and identity["key_id"] == signer.key_id
    # Re-provisioning a new officer keeps the key; the serial can never change.
    again, _ = provision(context, {**good, "officer": "王五"})
    assert again.public_key == signer.public_key
    with pytest.raises(ProvisionError, match="cannot become"):
        provision(context, {**good, "device": "BC54321"})


def test_a_reassignment_closes_a_session_a_power_cut_left_open_before_the_identity_record(tmp_path):
    good = {"device": "BC12345", "police_number": "123456", "officer": "李四", "unit_number": "110105000000",
            "unit": "朝阳分局"}
    context = small_context(tmp_path)
    signer, identity = provision(context, good)
    (context.data_dir.spool / "cut").mkdir(parents=True)
    opened = Sealer(ChainWriter(context.data_dir, signer, identity["device"]), identity).open_session("cut")
    with pytest.raises(ProvisionError, match="session cut was left open by a power cut"):
        provision(context, {**good, "officer": "王五"})
    provision(context, {**good, "officer": "王五"}, close_cut_sessions)
    closed = read_record(context.data_dir.spool / "cut" / "session-close.json")
    reassigned = read_record(context.data_dir.identity / "identity-000002.json")
    assert closed.body["reason"] == "power loss" and closed.body["prev"] == opened.hash
    assert reassigned.body["seq"] == closed.body["seq"] + 1 and reassigned.body["prev"] == closed.hash
    assert reassigned.body["officer"]["name"] == "王五"


def test_provision_cli_never_prints_the_private_key(tmp_path):
    result = subprocess.run([sys.executable, "-m", "firmware", "provision", "--data-dir", str(tmp_path),
                             "--serial", "BC12345", "--police-number", "123456", "--name", "李四"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "provisioned" in result.stdout and "李四" in result.stdout
    assert "PRIVATE" not in result.stdout + result.stderr
    refused = subprocess.run([sys.executable, "-m", "firmware", "provision", "--data-dir", str(tmp_path),
                              "--police-number", "12"], capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2
    assert "police number must be exactly 6 digits" in refused.stderr
