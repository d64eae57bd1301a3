"""The spool's filesystem: real small tmpfs mounts for read-only and full, stubs for exact boundaries."""
from __future__ import annotations

import json

import pytest

from evidence.keys import add_key
from evidence.paths import DataDir
from evidence.receipts import receipt_data
from firmware.offload import SpoolSource, not_offloaded
from firmware.selftest import FAIL, PASS, WARN, bytes_per_second, storage_checks
from hw import HardwareError
from hw.storage import Storage, StorageReading
from station.services import dock_init
from sync.messages import Item
from tests.conftest import record, small_context
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
    checks = storage_checks(storage, small_context(tmpfs))
    assert statuses(checks)["storage.writable"] == FAIL
    assert "read-only" in next(c.value for c in checks if c.name == "storage.writable")


def test_missing_card_fails(tmp_path):
    checks = storage_checks(Storage(tmp_path / "card" / "data", card_mount=tmp_path / "card"), small_context(tmp_path))
    assert [(c.name, c.status, c.value) for c in checks] == [("storage.present", FAIL, "memory card missing")]


def test_full_filesystem_fails_free_space_and_probe(tmpfs):
    with open(tmpfs / "filler", "wb") as fh:
        with pytest.raises(OSError):
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
    found = statuses(storage_checks(Storage(tmpfs), small_context(tmpfs)))
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
    context = small_context(tmp_path, storage={"shift_hours": 2, "reserve_seconds": 10})
    rate = bytes_per_second(context.config)
    reserve, shift = 10 * rate, 2 * 3600 * rate
    # FAIL at or below the reserve, WARN with less than a shift (2 h) above it, PASS from a full shift on.
    for free, expected in [(reserve, FAIL), (reserve + 1, WARN), (reserve + shift - 1, WARN), (reserve + shift, PASS)]:
        checks = storage_checks(FixedStorage(tmp_path, round(free)), context)
        assert statuses(checks)["storage.free"] == expected, free


@pytest.mark.parametrize("seconds, expected", [(0.250, PASS), (0.2501, WARN)])
def test_probe_latency_boundary(tmp_path, seconds, expected):
    context = small_context(tmp_path, storage={"max_probe_ms": 250})
    storage = FixedStorage(tmp_path, 10**12, probe_seconds=seconds)
    assert statuses(storage_checks(storage, context))["storage.probe"] == expected


def spool_bytes(data_dir, *names):
    return sum((data_dir / "spool" / name).stat().st_size for name in names)


def test_not_offloaded_counts_what_no_stored_valid_receipt_covers(tmp_path):
    """A real recording, receipted part by part by a real dock key; videos are kept (retention)."""
    data_dir = tmp_path / "data"
    context = small_context(data_dir, dock={"release_after_days": 1})
    assert not_offloaded(context) == (0, 0)
    record(data_dir, 3)
    [session] = [p.name for p in (data_dir / "spool").iterdir()]
    everything = [f"{session}/{f.name}" for f in (data_dir / "spool" / session).iterdir()]
    assert not_offloaded(context) == (1, spool_bytes(data_dir, *everything))
    dock = dock_init(tmp_path / "archive", [(data_dir / "device" / "device.pub").read_text()])
    add_key(DataDir(data_dir).docks, (tmp_path / "archive" / "dock" / "dock.pub").read_text())
    source = SpoolSource(context)
    items = [item for item in source.items() if item.id.startswith(session)]

    def receipt(item: Item) -> None:
        source.received(item, dock.sign(receipt_data(source.device_key, item.id, item.sha256)))

    first = [item for item in items if "seg-000002" not in item.id and "close" not in item.id]
    for item in first:
        receipt(item)
    pending = sorted(set(everything) - {item.id for item in first})
    assert not_offloaded(context) == (1, spool_bytes(data_dir, *pending))
    # a receipt for other bytes, or by a dock that is not enrolled, covers nothing
    video = next(item for item in items if item.id.endswith("seg-000002.mp4"))
    receipt(Item(video.id, video.size, bytes(32)))
    assert DataDir(data_dir).receipt(video.id).exists()
    assert not_offloaded(context) == (1, spool_bytes(data_dir, *pending))
    stranger = dock_init(tmp_path / "stranger")
    DataDir(data_dir).receipt(video.id).write_text(json.dumps({
        "item": video.id, "sha256": video.sha256.hex(), "dock_key": stranger.public_key.hex(),
        "signature": stranger.sign(receipt_data(source.device_key, video.id, video.sha256)).hex(), "time_ns": 0}))
    assert not_offloaded(context) == (1, spool_bytes(data_dir, *pending))
    for item in items:
        receipt(item)
    assert not_offloaded(context) == (0, 0)
    assert spool_bytes(data_dir, *everything) > 0  # nothing was freed: covered by receipts, not gone
    checks = storage_checks(Storage(data_dir), context)
    assert next(c.value for c in checks if c.name == "storage.offload") == "0 sessions, 0.0 MB not yet offloaded"
    (data_dir / "spool" / session / "seg-000003.mp4").write_bytes(b"x" * 100)  # not sealed yet
    assert not_offloaded(context) == (1, 100)
