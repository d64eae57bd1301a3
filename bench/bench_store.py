"""The central store's push: our uploader (each object locked, read back and hashed) against
boto3's plain ``upload_file`` of the same files to the same local RADOS gateway, in the same run.

    python bench/bench_store.py [--mb 2000] [--segment-mb 50]

A device records a short real session, then a session of ``--mb`` MB sealed by its own
``Sealer`` whose segment videos are random bytes (as bench_dock makes them: the station never
decodes); the station pulls it over a pty pair and catalogues it. A throw-away single-node
Ceph (tests/ceph.py, its memstore made large enough for every copy) serves two buckets: one
with Object Lock for ``bodycam-station store push`` (``CentralStore.push``: SHA-256 and MD5 of
each file, a PUT with Content-MD5 and COMPLIANCE retention, the version read back whole and
hashed, its lock read), one plain for ``upload_file`` with boto3's default transfer settings
(multipart above 8 MB, 10 threads, no read-back), emptied between its runs. Runs: plain, ours,
plain. Station CPU is this process's user + sys (the Ceph daemons are other processes); the
read-back's share is the wall and CPU time spent in ``bucket.read_back``.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import boto3  # noqa: E402
from bench_dock import _device  # noqa: E402
from botocore.config import Config  # noqa: E402

from evidence.keys import add_key  # noqa: E402
from evidence.paths import DataDir  # noqa: E402
from station.services import dock_init, open_catalogue, pull  # noqa: E402
from station.store import bucket  # noqa: E402
from station.store.bucket import StoreSettings  # noqa: E402
from station.store.store import CentralStore, session_files  # noqa: E402
from sync.ptywire import PtyWire  # noqa: E402
from tests import ceph  # noqa: E402
from tests.test_dock_archive import device_serving  # noqa: E402

SHIFT_GB = 19.2            # a 10-hour shift


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=2000, help="MB of sealed video to push")
    parser.add_argument("--segment-mb", type=float, default=50, help="MB per segment file")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-store-"))
    ceph.MEMSTORE_BYTES = int(args.mb * 1e6 * 2.6) + 2 * 1024**3      # ours and one plain copy, and headroom
    folder = work / "ceph"
    try:
        store = ceph._start(folder)
        archive = _pulled(work, args.mb, args.segment_mb)
        catalogue = open_catalogue(archive)
        files = [item.path for session in catalogue.search() for item in session_files(archive, session)]
        size = sum(path.stat().st_size for path in files)
        os.environ.update(AWS_ACCESS_KEY_ID=store.access_key, AWS_SECRET_ACCESS_KEY=store.secret_key)
        settings = StoreSettings(store.endpoint, "bench-locked")
        central = CentralStore(catalogue, archive, settings)
        central.init()
        plain = _plain_client(store)
        plain.create_bucket(Bucket="bench-plain")
        print(f"{len(files)} files, {size / 1e6:.0f} MB, to a local RADOS gateway (memstore), 2 cores shared:")
        first = _upload_file(plain, files, archive)
        ours, read_back = _ours(central)
        second = _upload_file(plain, files, archive)
        plain_s = (first[0] + second[0]) / 2
        plain_cpu = (first[1] + second[1]) / 2
        gb = size / 1e9
        for name, seconds, cpu in (("boto3 upload_file", plain_s, plain_cpu), ("ours, read back", *ours)):
            print(f"  {name:18s} {size / seconds / 1e6:6.1f} MB/s, station CPU {cpu / gb:5.1f} s/GB "
                  f"(wall {seconds:.1f} s)")
        print(f"  plain runs: {first[0]:.1f} s and {second[0]:.1f} s")
        print(f"  ours/plain throughput {plain_s / ours[0]:.2f}x, CPU per GB {ours[1] / plain_cpu:.2f}x")
        print(f"  read-back: {read_back[0] / ours[0]:.0%} of our wall time, {read_back[1] / ours[1]:.0%} of our CPU")
        print(f"  a 10-hour shift ({SHIFT_GB} GB): ours {ours[0] / gb * SHIFT_GB / 60:.1f} min and "
              f"{ours[1] / gb * SHIFT_GB:.0f} CPU s; plain {plain_s / gb * SHIFT_GB / 60:.1f} min")
    finally:
        ceph.stop(folder)
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _pulled(work: Path, mb: float, segment_mb: float) -> Path:
    """A station archive holding the device's sessions, pulled over a pty pair and catalogued."""
    device = _device(work / "device", 0, mb, segment_mb)
    archive = work / "archive"
    dock_init(archive, [DataDir(device).public_key.read_text()])
    add_key(DataDir(device).docks, (archive / "dock" / "dock.pub").read_text())
    with PtyWire() as wire, device_serving(device, wire):
        report = pull(archive, wire.b)
    if report.failed:
        raise SystemExit(f"bench_store: the pull failed: {report.failed}")
    shutil.rmtree(device)                                 # the disk holds one copy, not two
    return archive


def _plain_client(store: ceph.CephStore):
    return boto3.client("s3", endpoint_url=store.endpoint, aws_access_key_id=store.access_key,
                        aws_secret_access_key=store.secret_key, region_name=store.region,
                        config=Config(s3={"addressing_style": "path"}, request_checksum_calculation="when_required",
                                      response_checksum_validation="when_required"))


def _upload_file(client, files: list[Path], archive: Path) -> tuple[float, float]:
    """boto3's plain upload of every file (no lock, no read-back): wall and CPU seconds; the
    bucket emptied after."""
    cpu, began = _cpu(), time.monotonic()
    for path in files:
        client.upload_file(str(path), "bench-plain", path.relative_to(archive).as_posix())
    seconds, used = time.monotonic() - began, _cpu() - cpu
    for path in files:
        client.delete_object(Bucket="bench-plain", Key=path.relative_to(archive).as_posix())
    return seconds, used


def _ours(central: CentralStore) -> tuple[tuple[float, float], tuple[float, float]]:
    """``store push``: (wall, CPU) of the whole push and of its read-backs."""
    spent = [0.0, 0.0]
    reading = bucket.read_back

    def timed(*args, **kwargs):
        cpu, began = _cpu(), time.monotonic()
        try:
            return reading(*args, **kwargs)
        finally:
            spent[0] += time.monotonic() - began
            spent[1] += _cpu() - cpu
    bucket.read_back = timed
    try:
        cpu, began = _cpu(), time.monotonic()
        report = central.push()
        whole = (time.monotonic() - began, _cpu() - cpu)
    finally:
        bucket.read_back = reading
    if report.skipped or not report.sessions:
        raise SystemExit(f"bench_store: the push stored nothing: {report.skipped}")
    return whole, (spent[0], spent[1])


def _cpu() -> float:
    times = os.times()
    return times.user + times.system


if __name__ == "__main__":
    sys.exit(main())
