"""The spool's filesystem: real small tmpfs mounts for read-only and full, stubs for exact boundaries."""
from __future__ import annotations

import os

import pytest

from firmware.selftest import FAIL, PASS, WARN, bytes_per_second, storage_checks
from hw import HardwareError
from hw.storage import Storage, StorageReading, unoffloaded_bytes
from tests.conftest import small_config
from tests.mounts import remount, tmpfs  # noqa: F401  (fixture)


def statuses(checks):
    return {c.name: c.status for c in checks}


def test_storage_on_a_tmpfs_reads_size_free_space_and_probes(tmpfs):
    storage = Storage(tmpfs / "data", card_mount=tmpfs)
    reading = storage.read()  # the data directory does not exist yet: its filesystem is read
    assert reading.present and not reading.read_only
    assert reading.total_bytes == 3 * 1024 * 1024 and 0 < reading.free_bytes <= reading.total_bytes
    assert storage.probe() > 0
    assert (tmpfs / "data").is_dir() and list((tmpfs / "data").iterdir()) == []  # the probe file is gone


def test_read_only_remount_is_detected_and_fails_the_selftest(tmpfs):
    remount(tmpfs, "ro")
    storage = Storage(tmpfs, card_mount=tmpfs)
    assert storage.read().read_only
    with pytest.raises(HardwareError, match="Read-only file system"):
        storage.probe()
    checks = storage_checks(storage, small_config(tmpfs))
    assert statuses(checks)["storage.writable"] == FAIL
    assert "read-only" in next(c.value for c in checks if c.name == "storage.writable")


def test_missing_card_fails(tmp_path):
    checks = storage_checks(Storage(tmp_path / "card" / "data", card_mount=tmp_path / "card"), small_config(tmp_path))
    assert [(c.name, c.status, c.value) for c in checks] == [("storage.present", FAIL, "memory card missing")]


def test_full_filesystem_fails_free_space_and_probe(tmpfs):
    with open(tmpfs / "filler", "wb") as fh:
        with pytest.raises(OSError):
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
    found = statuses(storage_checks(Storage(tmpfs), small_config(tmpfs)))
    assert found["storage.writable"] == FAIL and found["storage.free"] == FAIL


class FixedStorage(Storage):
    """A filesystem of given size and speed, for the exact boundaries."""

    def __init__(self, path, free_bytes, probe_seconds=0.001):
        super().__init__(path)
        self.free_bytes, self.probe_seconds = free_bytes, probe_seconds

    def read(self):
        return StorageReading(True, False, 64 * 10**9, self.free_bytes)

    def probe(self):
        return self.probe_seconds


def test_free_space_boundaries(tmp_path):
    config = small_config(tmp_path, storage={"shift_hours": 2, "reserve_seconds": 10})
    rate = bytes_per_second(config)
    reserve, shift = 10 * rate, 2 * 3600 * rate
    # FAIL at or below the reserve, WARN with less than a shift (2 h) above it, PASS from a full shift on.
    for free, expected in [(reserve, FAIL), (reserve + 1, WARN), (reserve + shift - 1, WARN), (reserve + shift, PASS)]:
        checks = storage_checks(FixedStorage(tmp_path, round(free)), config)
        assert statuses(checks)["storage.free"] == expected, free


@pytest.mark.parametrize("seconds, expected", [(0.250, PASS), (0.2501, WARN)])
def test_probe_latency_boundary(tmp_path, seconds, expected):
    config = small_config(tmp_path, storage={"max_probe_ms": 250})
    storage = FixedStorage(tmp_path, 10**12, probe_seconds=seconds)
    assert statuses(storage_checks(storage, config))["storage.probe"] == expected


def test_unoffloaded_bytes_counts_every_session_on_the_spool(tmp_path):
    assert unoffloaded_bytes(tmp_path / "spool") == (0, 0)
    for session, sizes in {"s1": [100, 23], "s2": [7]}.items():
        (tmp_path / "spool" / session).mkdir(parents=True)
        for n, size in enumerate(sizes):
            (tmp_path / "spool" / session / f"seg-{n}.mp4").write_bytes(b"x" * size)
    assert unoffloaded_bytes(tmp_path / "spool") == (2, 130)
    os.chmod(tmp_path / "spool" / "s1" / "seg-0.mp4", 0o444)  # as the spool leaves them
    assert unoffloaded_bytes(tmp_path / "spool") == (2, 130)
