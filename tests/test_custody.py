"""Custody holes closed (issue 13), on real recordings: one writer per data directory, a signed
identity and chain head, recovered tails, the dock as witness, unpinned keys, bad command lines."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from evidence.chain import ChainState, record_paths
from evidence.keys import FileSigner, add_key, key_id, load_public_key
from evidence.paths import ArchiveDir, DataDir
from evidence.records import FORMAT, parse, read_record, sign
from evidence.verify import verify_paths
from firmware.offload import not_offloaded
from station import db
from station.custody import audit
from station.services import dock_init, pull
from sync.ptywire import PtyWire
from tests import doc_verifier
from tests.conftest import SIMULATED_PARTS, index_records, record, small_context, write_config
from tests.mounts import tmpfs  # noqa: F401  (a fixture)
from tests.test_dock_archive import device_serving
from tests.waiting import wait_for

WAIT = 60.0
PASSWORD = "long enough password"


def bodycam(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "firmware", *args], capture_output=True, text=True, timeout=timeout)


def one_sentence(done: subprocess.CompletedProcess) -> str:
    """A refusal: a non-zero exit and one line on stderr, never a traceback."""
    assert done.returncode != 0, done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    return lines[0]


def key_of(data_dir: Path) -> set[bytes]:
    return {load_public_key(DataDir(data_dir).public_key.read_text())}


def sessions(data_dir: Path) -> list[Path]:
    return sorted(p for p in DataDir(data_dir).spool.iterdir() if p.is_dir())


def events(data_dir: Path, kind: str) -> list[dict]:
    return [line for path in sorted(DataDir(data_dir).events.glob("*.jsonl"))
            for line in map(json.loads, path.read_text().splitlines()) if line["type"] == kind]


def all_ok(data_dir: Path) -> list:
    """The whole spool verifies, by bodycam verify and by the verifier written from the format document."""
    verdicts = verify_paths([DataDir(data_dir).spool], key_of(data_dir))
    assert verdicts and all(v.ok for v in verdicts), [(v.session, v.problems, v.segments) for v in verdicts]
    assert doc_verifier.verify([DataDir(data_dir).spool], key_of(data_dir))[1]
    return verdicts


# --- one writer per data directory -----------------------------------------------------------

def test_two_recorders_started_together_one_is_refused_the_other_records(tmp_path):
    config = write_config(tmp_path, segment_seconds=2)
    command = [sys.executable, "-m", "firmware", "record", "--seconds", "3", "--config", str(config)]
    both = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(process.pid, *process.communicate(timeout=WAIT), process.returncode) for process in both]
    refused = [r for r in results if r[3] != 0]
    recorded = [r for r in results if r[3] == 0]
    assert len(refused) == 1 and len(recorded) == 1, results
    [(_, _, stderr, _)] = refused
    assert len(stderr.strip().splitlines()) == 1 and f"pid {recorded[0][0]}" in stderr
    [session] = sessions(tmp_path / "data")
    [verdict] = all_ok(tmp_path / "data")
    assert verdict.closed == "duration reached"


def test_a_recorder_started_during_another_is_refused_and_leaves_the_live_session_alone(tmp_path):
    config = write_config(tmp_path, segment_seconds=2)
    data_dir = tmp_path / "data"
    first = subprocess.Popen([sys.executable, "-m", "firmware", "record", "--seconds", "6", "--config", str(config)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: DataDir(data_dir).spool.is_dir() and list(DataDir(data_dir).spool.glob("*/*.manifest")),
                 "a sealed segment of the first recorder")
        second = bodycam("record", "--seconds", "1", "--config", str(config))
        assert f"pid {first.pid}" in one_sentence(second)
        assert first.wait(WAIT) == 0
    finally:
        if first.poll() is None:
            first.kill()
    [session] = sessions(data_dir)
    [verdict] = all_ok(data_dir)
    assert verdict.closed == "duration reached" and {s.state for s in verdict.segments} == {"OK"}


def test_a_recorder_started_while_bodycam_serve_offers_the_spool_is_refused(tmp_path):
    config, data_dir = write_config(tmp_path, segment_seconds=2), tmp_path / "data"
    assert bodycam("record", "--seconds", "1", "--config", str(config)).returncode == 0
    with PtyWire() as wire:
        server = subprocess.Popen([sys.executable, "-m", "firmware", "serve", "--port", wire.a, "--config", str(config)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert server.stdout.readline().startswith("serving")
            assert f"pid {server.pid}" in one_sentence(bodycam("record", "--seconds", "1", "--config", str(config)))
        finally:
            server.terminate()
            server.wait(WAIT)
    assert len(all_ok(data_dir)) == 1


def run_config(tmp_path: Path) -> Path:
    return write_config(tmp_path, segment_seconds=2, extra=SIMULATED_PARTS)


def test_a_recorder_started_during_bodycam_run_is_refused(tmp_path):
    from firmware.control import ControlError, request

    config, data_dir = run_config(tmp_path), tmp_path / "data"
    service = subprocess.Popen([sys.executable, "-m", "firmware", "run", "--config", str(config)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def status() -> dict | None:
        assert service.poll() is None, service.stdout.read()
        try:
            return request(DataDir(data_dir).control_socket, {"press": "status"}, timeout=5)
        except ControlError:
            return None

    try:
        wait_for(lambda: (s := status()) and s["state"] == "standby", "bodycam run in standby")
        assert bodycam("press", "record", "--config", str(config)).returncode == 0
        wait_for(lambda: status()["segments"] >= 1, "a sealed segment")
        second = bodycam("record", "--seconds", "1", "--config", str(config))
        assert f"pid {service.pid}" in one_sentence(second)
        assert bodycam("press", "record-hold", "--reason", "end_of_enforcement", "--config", str(config)).returncode == 0
        assert bodycam("press", "power-hold", "--config", str(config)).returncode == 0
        assert service.wait(WAIT) == 0
    finally:
        if service.poll() is None:
            service.kill()
    [verdict] = all_ok(data_dir)
    assert verdict.closed == "end_of_enforcement"


# --- the chain head --------------------------------------------------------------------------

@pytest.mark.parametrize("damage", ["deleted", "garbage", "ahead", "behind"])
def test_a_damaged_chain_head_is_rebuilt_from_the_spool_logged_and_the_device_records(tmp_path, damage):
    data_dir = tmp_path / "data"
    record(data_dir, 1)
    after_first = DataDir(data_dir).chain.read_bytes()
    record(data_dir, 1)
    head = DataDir(data_dir).chain
    stored = read_record(head).body
    if damage == "deleted":
        head.unlink()
    elif damage == "garbage":
        head.write_bytes(b'{"seq": 7, "head": "no')
    elif damage == "ahead":
        signer = FileSigner(DataDir(data_dir).key)
        head.write_bytes(sign({**stored, "seq": stored["seq"] + 100}, signer).to_bytes())
    else:
        head.write_bytes(after_first)
    record(data_dir, 1)
    verdicts = all_ok(data_dir)
    assert len(verdicts) == 3
    opens = [v.open_record.body for v in verdicts]
    assert opens[2]["seq"] == stored["seq"] + 1 and opens[2]["prev"] == read_record(
        verdicts[1].folder / "session-close.json").hash          # no gap, no number used twice
    [rebuilt] = events(data_dir, "chain_head_rebuilt")
    expected = {"deleted": "is missing", "garbage": "is damaged", "ahead": "was ahead of", "behind": "was behind"}
    assert expected[damage] in rebuilt["data"]["found"] and rebuilt["data"]["seq"] == stored["seq"]


def test_bodycam_record_on_a_garbage_chain_head_says_so_and_records(tmp_path):
    config = write_config(tmp_path, segment_seconds=2)
    assert bodycam("record", "--seconds", "1", "--config", str(config)).returncode == 0
    DataDir(tmp_path / "data").chain.write_text("garbage")
    done = bodycam("record", "--seconds", "1", "--config", str(config))
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert "is damaged" in done.stdout and "rebuilt from the records on the device" in done.stdout
    assert len(all_ok(tmp_path / "data")) == 2


# --- the identity ----------------------------------------------------------------------------

def edit_identity(path: Path, edit: str) -> None:
    stored = json.loads(path.read_text())
    if edit == "police number":
        stored["record"]["officer"]["police_number"] = "12ab"
    elif edit == "serial":
        stored["record"]["device"] = "BC99999"
    else:
        stored["public_key"] = "00" * 32
    path.chmod(0o644)
    path.write_text(json.dumps(stored, ensure_ascii=False, indent=1))


@pytest.mark.parametrize("edit", ["police number", "serial", "key"])
def test_an_edited_identity_refuses_to_record(tmp_path, edit):
    config = write_config(tmp_path, segment_seconds=2)
    data_dir = tmp_path / "data"
    assert bodycam("record", "--seconds", "1", "--config", str(config)).returncode == 0
    [identity] = DataDir(data_dir).identity.glob("identity-*.json")
    assert read_record(identity).body["type"] == "identity"
    edit_identity(identity, edit)
    before = sessions(data_dir)
    assert "refusing to record" in one_sentence(bodycam("record", "--seconds", "1", "--config", str(config)))
    assert sessions(data_dir) == before
    selftest = bodycam("selftest", "--config", str(config))              # bodycam run: a fault, not a restart loop
    assert selftest.returncode == 2 and "FAIL" in next(line for line in selftest.stdout.splitlines()
                                                        if line.startswith("identity "))


def test_a_reassignment_is_a_new_signed_record_in_the_chain_and_the_serial_never_changes(tmp_path):
    config = write_config(tmp_path, segment_seconds=2)
    data_dir = tmp_path / "data"
    assert bodycam("record", "--seconds", "1", "--config", str(config)).returncode == 0
    done = bodycam("provision", "--config", str(config), "--police-number", "654321", "--name", "王五")
    assert done.returncode == 0, done.stderr
    assert bodycam("record", "--seconds", "1", "--config", str(config)).returncode == 0
    first, second = sorted(DataDir(data_dir).identity.glob("identity-*.json"))
    assert first.read_bytes() != second.read_bytes()          # a new record beside the first, never an edit
    assert read_record(first).body["reason"] == "provisioned"
    reassigned = read_record(second)
    assert reassigned.body["reason"] == "re-assignment" and reassigned.body["officer"]["police_number"] == "654321"
    before, after = all_ok(data_dir)
    assert reassigned.body["prev"] == before.close_record.hash and after.open_record.body["prev"] == reassigned.hash
    assert after.open_record.body["officer"] == {"police_number": "654321", "name": "王五"}
    # the serial: refused, nothing written
    assert "cannot become BC99999" in one_sentence(bodycam("provision", "--config", str(config), "--serial", "BC99999"))
    assert len(list(DataDir(data_dir).identity.glob("identity-*.json"))) == 2
    # a third party without the identity records sees the gap: they are part of the chain
    second.unlink()
    assert any("MISSING records between" in p for v in verify_paths([DataDir(data_dir).spool]) for p in v.problems)


# --- recovered tails -------------------------------------------------------------------------

def cut_by_power(data_dir: Path, keep: int, torn: int) -> Path:
    """The state a power cut leaves, made from a real sealed recording: the newest session's last
    segment holds ``keep`` fragments its index names, then ``torn`` bytes of the next one; its
    manifest and the session's close record were never written, and the head names the record
    before them (as :class:`ChainState` rebuilds it)."""
    folder = sessions(data_dir)[-1]
    video = sorted(folder.glob("seg-*.mp4"))[-1]
    index = video.with_name(video.name + ".idx")
    lines = index.read_text().splitlines(keepends=True)
    records = index_records(video)
    fragments = [n for n, r in enumerate(records) if r.get("type") == "fragment"]
    cut_line = fragments[keep]
    end = records[cut_line]["offset"] + torn
    assert end < len(video.read_bytes())
    for path in (video, index):
        path.chmod(0o644)
    with open(video, "r+b") as fh:
        fh.truncate(end)
    index.write_text("".join(lines[:cut_line]))
    for path in (folder / "session-close.json", video.with_name(video.name + ".manifest")):
        path.unlink()
    signer = FileSigner(DataDir(data_dir).key)
    ChainState(DataDir(data_dir).chain, signer, read_record(folder / "session-open.json").body["device"],
               record_paths(DataDir(data_dir)))
    return video


@pytest.fixture(scope="module")
def cut(tmp_path_factory) -> tuple[Path, Path]:
    """A real recording cut by a power cut mid-fragment, then recovered by the next start."""
    data_dir = tmp_path_factory.mktemp("cut") / "data"
    record(data_dir, 3.5, recording={"segment_seconds": 10})
    video = cut_by_power(data_dir, keep=2, torn=1500)
    record(data_dir, 1)
    return data_dir, video


def test_a_torn_tail_after_a_recovered_segment_is_named_and_not_evidence(cut):
    data_dir, video = cut
    verdicts = all_ok(data_dir)
    segment = next(s for s in verdicts[0].segments if s.name == video.name)
    assert segment.state == "RECOVERED"
    assert segment.detail.startswith("1500 bytes after the sealed end hold no complete fragment")


def test_a_whole_fragment_whose_index_line_was_lost_is_sealed_at_recovery(tmp_path):
    """The cut came after a fragment's bytes were durable and before its index line was."""
    data_dir = tmp_path / "data"
    record(data_dir, 3.5, recording={"segment_seconds": 10})
    folder = sessions(data_dir)[-1]
    video = sorted(folder.glob("seg-*.mp4"))[-1]
    lost = [r for r in index_records(video) if r.get("type") == "fragment"][2]
    cut_by_power(data_dir, keep=2, torn=lost["size"] + 700)
    record(data_dir, 1)
    manifest = read_record(video.with_name(video.name + ".manifest")).body
    assert manifest["parts"][-1] == {key: lost[key] for key in ("type", "number", "offset", "size", "sha256")}
    segment = next(s for s in all_ok(data_dir)[0].segments if s.name == video.name)
    assert segment.state == "RECOVERED" and segment.detail.startswith("700 bytes after the sealed end hold no")


def test_a_complete_fragment_forged_onto_a_recovered_segment_is_not_ok(cut, tmp_path):
    data_dir = tmp_path / "data"
    shutil.copytree(cut[0], data_dir)
    video = data_dir / cut[1].relative_to(cut[0])
    manifest = read_record(video.with_name(video.name + ".manifest")).body
    fragment = next(p for p in manifest["parts"] if p["type"] == "fragment")
    data = video.read_bytes()
    video.chmod(0o644)
    video.write_bytes(data[:manifest["file"]["size"]] + data[fragment["offset"]:fragment["offset"] + fragment["size"]])
    [verdict, _] = verify_paths([DataDir(data_dir).spool], key_of(data_dir))
    segment = next(s for s in verdict.segments if s.name == video.name)
    assert segment.state == "TAMPERED" and "1 complete fragment(s) that no seal covers" in segment.detail
    assert not verdict.ok
    done = bodycam("verify", str(DataDir(data_dir).spool))
    assert done.returncode == 1 and "TAMPERED" in done.stdout


def enrol(device: Path, archive: Path) -> None:
    dock_init(archive, [DataDir(device).public_key.read_text()])
    add_key(DataDir(device).docks, (archive / "dock" / "dock.pub").read_text())


def dock(device: Path, archive: Path):
    with PtyWire() as wire, device_serving(device, wire):
        return pull(archive, wire.b)


def test_a_recovered_segment_with_a_torn_tail_is_docked_as_its_sealed_prefix_and_freed(cut, tmp_path):
    device, archive = tmp_path / "device", tmp_path / "archive"
    shutil.copytree(cut[0], device)
    video = device / cut[1].relative_to(cut[0])
    sealed = read_record(video.with_name(video.name + ".manifest")).body["file"]
    prefix = video.read_bytes()[:sealed["size"]]
    enrol(device, archive)
    report = dock(device, archive)
    assert not report.failed, report.failed
    [copy] = archive.rglob(f"{video.parent.name}/{video.name}")
    assert copy.read_bytes() == prefix and hashlib.sha256(prefix).hexdigest() == sealed["sha256"]
    assert not video.exists()                                           # freed on that receipt
    assert not_offloaded(small_context(device)) == (0, 0)                              # the self-test: nothing pending
    assert all(v.ok for v in verify_paths([archive], key_of(device)))
    assert all(v.ok for v in verify_paths([DataDir(device).spool], key_of(device)))


# --- the dock as witness ---------------------------------------------------------------------

def rolled_back(tmp_path: Path, after: str) -> tuple[Path, Path, list[Path]]:
    """A device docked with three sessions, then rolled back to its first one and recording
    again: one session (its chain "rewound" behind what the dock took) or three ("forked").
    Returns the device, the archive and the sessions recorded after the rollback."""
    device, archive = tmp_path / "device", tmp_path / "archive"
    record(device, 1)
    head_after_first = DataDir(device).chain.read_bytes()
    record(device, 1)
    record(device, 1)
    enrol(device, archive)
    assert not dock(device, archive).failed
    # roll back: the two newest sessions (and their receipts) go, the head is the one after the first
    for folder in sessions(device)[1:]:
        shutil.rmtree(folder)
        shutil.rmtree(DataDir(device).receipts / folder.name)
    DataDir(device).chain.write_bytes(head_after_first)
    for _ in range(1 if after == "rewound" else 3):
        record(device, 1)
    assert all(v.ok for v in verify_paths([DataDir(device).spool], key_of(device)))    # the device alone cannot tell
    return device, archive, sessions(device)[1:]


@pytest.mark.parametrize("after", ["rewound", "forked"])
def test_a_rollback_of_the_newest_sessions_is_refused_at_the_next_docking_and_named(tmp_path, after):
    device, archive, new = rolled_back(tmp_path, after)
    report = dock(device, archive)
    assert report.failed and set(report.items) <= {"device/chain-head.json"}
    assert any(after in why for why in report.failed.values()), report.failed
    for folder in new:                                                   # nothing receipted, nothing freed
        assert not (DataDir(device).receipts / folder.name).exists() and list(folder.glob("seg-*.mp4"))
    refused = ArchiveDir(archive).root / "refused"
    assert any(refused.rglob(f"{new[0].name}/session-open.json"))         # archived as received, apart
    done = subprocess.run([sys.executable, "-m", "station", "verify", str(archive)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "REFUSED docking" in done.stdout and after in done.stdout, done.stdout
    # and the next docking is refused again: the witness remembers
    again = dock(device, archive)
    assert again.failed and not any((DataDir(device).receipts / folder.name).exists() for folder in new)


def station_command(*args: str, user: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "BODYCAM_PASSWORD": PASSWORD, "BODYCAM_NEW_PASSWORD": PASSWORD}
    return subprocess.run([sys.executable, "-m", "station", *args, *(["--user", user] if user else [])],
                          capture_output=True, text=True, timeout=120, env=env)


def test_a_refused_docking_is_signed_into_the_audit_trail_until_a_supervisor_acknowledges_it(tmp_path):
    device, archive, _ = rolled_back(tmp_path, "rewound")
    assert dock(device, archive).failed
    engine = db.connect(db.database_url(archive, None))
    [refused] = [entry.body for entry in audit.entries(engine) if entry.body["action"] == "docking-refused"]
    device_key = next(iter(key_of(device)))
    assert (refused["actor"], refused["role"], refused["outcome"]) == ("station", None, "done")
    assert refused["detail"] == {"refusal": 1, "key_id": key_id(device_key), "device": "BC00001"}
    assert "rewound its chain" in refused["reason"]
    where = ("--archive", str(archive))
    assert station_command("user", "add", "admin", "--role", "administrator", *where).returncode == 0
    for name, role in (("sup", "supervisor"), ("rev", "reviewer")):
        assert station_command("user", "add", name, "--role", role, *where, user="admin").returncode == 0
    assert "the station's own name" in one_sentence(
        station_command("user", "add", "station", "--role", "reviewer", *where, user="admin"))

    still_open = station_command("verify", str(archive))
    assert still_open.returncode == 1 and "REFUSED docking 1 of device BC00001" in still_open.stdout
    assert "open (bodycam-station witness ack 1" in still_open.stdout
    ack = ("witness", "ack", "1", *where)
    assert "a reviewer may not acknowledge refused dockings" in one_sentence(
        station_command(*ack, "--reason", "looked", user="rev"))
    assert "needs a reason" in one_sentence(station_command(*ack, user="sup"))
    assert "no refused docking 7" in one_sentence(
        station_command("witness", "ack", "7", *where, "--reason", "looked", user="sup"))
    reason = "the card was restored from a backup at the workshop; ticket 4711"
    done = station_command(*ack, "--reason", reason, user="sup")
    assert done.returncode == 0 and "acknowledged by sup" in done.stdout, done.stderr
    assert "acknowledged already by sup" in one_sentence(station_command(*ack, "--reason", "again", user="sup"))

    settled = station_command("verify", str(archive))
    assert "REFUSED" not in settled.stdout
    assert settled.returncode == 1 and "FORK: record 5" in settled.stdout   # what was offered still shows its fork
    assert "acknowledged refused docking 1 of device BC00001" in settled.stdout and reason in settled.stdout
    trail = [entry.body for entry in audit.entries(engine)]
    acknowledged = [(e["actor"], e["outcome"], e["reason"]) for e in trail if e["action"] == "docking-acknowledged"]
    assert acknowledged == [("rev", "refused", "looked"), ("sup", "refused", None), ("sup", "refused", "looked"),
                            ("sup", "done", reason), ("sup", "refused", "again")]
    assert next(e for e in trail if e["outcome"] == "done" and e["action"] == "docking-acknowledged")["detail"] == \
        {"refusal": 1, "key_id": key_id(device_key), "device": "BC00001"}
    assert audit.verify(engine, {load_public_key(ArchiveDir(archive).public_key.read_text())}) == []


# --- unpinned verification -------------------------------------------------------------------

def test_a_session_resigned_with_another_key_is_named_without_a_pinned_key(tmp_path):
    data_dir = tmp_path / "data"
    record(data_dir, 1)
    record(data_dir, 1)
    forger = FileSigner.generate(tmp_path / "forger.key")
    last = sessions(data_dir)[-1]
    records = sorted(last.glob("*.manifest")) + [last / "session-close.json"]
    previous = None
    for path in [last / "session-open.json", *records]:
        body = read_record(path).body
        body = {**body, "key_id": forger.key_id, **({"prev": previous} if previous else {})}
        if body["type"] == "session-close":
            body["last_segment"] = previous
        resigned = sign(body, forger)
        path.chmod(0o644)
        path.write_bytes(resigned.to_bytes())
        previous = resigned.hash
    verdicts = verify_paths([DataDir(data_dir).spool])
    assert not verdicts[1].ok and any("signed by 2 keys" in p for p in verdicts[1].problems)
    done = bodycam("verify", str(DataDir(data_dir).spool))
    assert done.returncode == 1
    assert f"key {forger.key_id} (1 session)" in done.stdout and "signed by 2 keys" in done.stdout


# --- bad command lines and a full card -------------------------------------------------------

@pytest.mark.parametrize("seconds", ["nan", "inf", "-1", "0"])
def test_bad_seconds_are_one_sentence_and_nothing_is_written(tmp_path, seconds):
    config = write_config(tmp_path)
    assert "--seconds" in one_sentence(bodycam("record", "--seconds", seconds, "--config", str(config)))
    assert not (tmp_path / "data").exists()


def test_a_key_file_that_is_not_a_key_is_one_sentence(tmp_path):
    data_dir = tmp_path / "data"
    record(data_dir, 1)
    binary = tmp_path / "key.bin"
    binary.write_bytes(bytes(range(256)))
    not_a_key = tmp_path / "key.txt"
    not_a_key.write_text("hello")
    for key in (binary, not_a_key):
        assert "key" in one_sentence(bodycam("verify", str(DataDir(data_dir).spool), "--key", str(key)))


def test_a_full_card_before_start_refuses_to_record_and_writes_no_session(tmpfs, tmp_path):  # noqa: F811
    config = write_config(tmp_path, extra=f"""
[storage]
reserve_seconds = 3
card_mount = "{tmpfs}"
""")
    config.write_text(config.read_text().replace(str(tmp_path / "data"), str(tmpfs / "data")))
    free = os.statvfs(tmpfs).f_bavail * os.statvfs(tmpfs).f_frsize
    with open(tmpfs / "ballast", "wb") as ballast:
        ballast.write(b"\0" * max(0, free - 100_000))
    refused = one_sentence(bodycam("record", "--seconds", "2", "--config", str(config)))
    assert "storage" in refused
    assert not DataDir(tmpfs / "data").spool.exists() or not list(DataDir(tmpfs / "data").spool.iterdir())


def test_strict_parsing_refuses_extra_and_repeated_members(tmp_path):
    data_dir = tmp_path / "data"
    record(data_dir, 1)
    opened = sessions(data_dir)[0] / "session-open.json"
    text = opened.read_text()
    stored = json.loads(text)
    with pytest.raises(ValueError, match="appears twice"):
        parse(text.replace('"record": {', '"record": {"seq": 1, ', 1).encode())
    with pytest.raises(ValueError, match="extra members case"):
        parse(json.dumps({**stored, "record": {**stored["record"], "case": "K-1"}}).encode())
    with pytest.raises(ValueError, match="members must be exactly"):
        parse(json.dumps({**stored, "comment": "x"}).encode())
    assert stored["record"]["format"] == FORMAT
