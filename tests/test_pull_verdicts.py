"""The verdicts a pull stores come from the hashes its sink took as the files arrived, with no
second read, and are exactly those a full verification of the archived session gives."""
from __future__ import annotations

import os
from pathlib import Path

from evidence.verify import verify_session
from station.catalogue import playback
from station.catalogue.verdicts import Verdicts
from station.services import open_station
from tests.conftest import record
from tests.test_custody import dock, enrol, sessions


def archived(archive: Path, session: Path) -> Path:
    [folder] = (path for path in archive.rglob(session.name) if path.is_dir())
    return folder


def stored_footage(archive: Path, folder: Path) -> playback.SessionFootage:
    checked = Verdicts(open_station(archive).engine).stored(folder)
    assert checked is not None, f"the pull stored no verdicts for {folder}"
    return checked.footage


def fully_verified(folder: Path) -> playback.SessionFootage:
    return playback.load(folder, verify_session(folder))


def flip_byte(path: Path, at: int) -> bytes:
    """Change one byte of ``path`` (read-only on disk, as evidence is); returns the original bytes."""
    original = path.read_bytes()
    os.chmod(path, 0o644)
    path.write_bytes(original[:at] + bytes([original[at] ^ 0xFF]) + original[at + 1:])
    return original


def test_the_verdicts_a_pull_stores_equal_a_full_verification(tmp_path):
    device, archive = tmp_path / "device", tmp_path / "archive"
    record(device, 5)                                   # three segments of 2 s
    record(device, 1)
    recorded = sessions(device)
    enrol(device, archive)
    report = dock(device, archive)
    assert not report.failed, report.failed
    assert len(recorded) == 2
    for session in recorded:
        folder = archived(archive, session)
        stored = stored_footage(archive, folder)
        assert stored == fully_verified(folder)
        assert stored.segments and all(segment.state == "OK" for segment in stored.segments)


def test_a_segment_tampered_before_or_after_its_docking_keeps_its_failing_verdict(tmp_path):
    device, archive = tmp_path / "device", tmp_path / "archive"
    record(device, 5)
    [session] = sessions(device)
    second = session / "seg-000002.mp4"
    original = flip_byte(second, second.stat().st_size // 2)    # altered on the device: refused at the dock
    enrol(device, archive)
    first_pull = dock(device, archive)
    assert f"{session.name}/seg-000002.mp4" in first_pull.failed
    folder = archived(archive, session)
    stored = stored_footage(archive, folder)
    assert stored == fully_verified(folder)
    assert {s.name: s.state for s in stored.segments}["seg-000002.mp4"] == "MISSING"

    kept = folder / "seg-000001.mp4"                    # altered in the archive after its docking
    flip_byte(kept, kept.stat().st_size // 2)
    second.write_bytes(original)                        # the device's copy is whole again: it docks now
    second_pull = dock(device, archive)
    assert not second_pull.failed, second_pull.failed
    stored = stored_footage(archive, folder)
    assert stored == fully_verified(folder)
    states = {s.name: s.state for s in stored.segments}
    assert states["seg-000001.mp4"] == "TAMPERED" and states["seg-000002.mp4"] == "OK", states
