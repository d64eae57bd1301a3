"""The central store's push: our uploader (each object locked, read back and hashed) against
boto3's plain ``upload_file`` of the same files to the same local RADOS gateway, in the same run.

    python bench/bench_store.py [--mb 2000] [--segment-mb 50]

A device records a short real session, then a session of ``--mb`` MB sealed by its own
``Sealer`` whose segment videos are random bytes (as bench_dock makes them: the station never
decodes); the station pulls it over a pty pair and catalogues it. A throw-away single-node
Ceph (tests/ceph.py, its memstore made large enough for every copy) serves two buckets: one
with Object Lock for ``bodycam-station store push`` (``CentralStore.push``: eight files at once,
each checked against its seal's SHA-256 as it is read and sent with Content-MD5 (a PUT with
COMPLIANCE retention below 64 MB, else parts four at once, locked after), the version read back
whole and hashed, its lock read, while the next files go up), one plain for ``upload_file`` with
boto3's default transfer settings (multipart above 8 MB, 10 threads, no read-back), emptied
between its runs. Runs: plain, ours, plain. Station CPU is this process's user + sys; the Ceph
gateway's and OSD's CPU (from /proc) is given per GB too. The read-back's share is the time
the push's workers spend in ``bucket.read_back`` out of their time on files, and its threads'
CPU out of the process's.
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
        daemons = _ceph_cpu(folder)[1]
        first = _upload_file(plain, files, archive)
        plain_ceph = _ceph_cpu(folder, daemons)
        ours, read_back = _ours(central)
        ours_ceph = _ceph_cpu(folder, plain_ceph[1])
        second = _upload_file(plain, files, archive)
        plain_s = (first[0] + second[0]) / 2
        plain_cpu = (first[1] + second[1]) / 2
        gb = size / 1e9
        for name, seconds, cpu in (("boto3 upload_file", plain_s, plain_cpu), ("ours, read back", *ours)):
            print(f"  {name:18s} {size / seconds / 1e6:6.1f} MB/s, station CPU {cpu / gb:5.1f} s/GB "
                  f"(wall {seconds:.1f} s)")
        print(f"  plain runs: {first[0]:.1f} s and {second[0]:.1f} s")
        print(f"  ours/plain throughput {plain_s / ours[0]:.2f}x, CPU per GB {ours[1] / plain_cpu:.2f}x")
        print(f"  read-back: {read_back[0]:.0%} of the workers' time on files, {read_back[1] / ours[1]:.0%} of our CPU")
        print(f"  Ceph gateway + OSD CPU: plain {_per_gb(plain_ceph[0], gb)}; ours {_per_gb(ours_ceph[0], gb)}")
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
    """``store push``: (wall, CPU) of the whole push; the read-back's share of the workers' time
    on files, and its threads' CPU seconds."""
    spent = {"read_back": 0.0, "files": 0.0, "cpu": 0.0}
    reading, putting = bucket.read_back, CentralStore._put_away

    def timed_read(*args, **kwargs):
        cpu, began = time.thread_time(), time.monotonic()
        try:
            return reading(*args, **kwargs)
        finally:
            spent["read_back"] += time.monotonic() - began
            spent["cpu"] += time.thread_time() - cpu

    def timed_file(*args, **kwargs):
        began = time.monotonic()
        try:
            return putting(*args, **kwargs)
        finally:
            spent["files"] += time.monotonic() - began
    bucket.read_back, CentralStore._put_away = timed_read, timed_file
    try:
        cpu, began = _cpu(), time.monotonic()
        report = central.push()
        whole = (time.monotonic() - began, _cpu() - cpu)
    finally:
        bucket.read_back, CentralStore._put_away = reading, putting
    if report.skipped or not report.sessions:
        raise SystemExit(f"bench_store: the push stored nothing: {report.skipped}")
    return whole, (spent["read_back"] / spent["files"], spent["cpu"])


def _ceph_cpu(folder: Path, since: dict[str, float] | None = None) -> tuple[dict[str, float], dict[str, float]]:
    """CPU seconds (user + sys) the gateway and the OSD used since ``since``, and their totals now."""
    ticks = os.sysconf("SC_CLK_TCK")
    now = {}
    for name in ("client.rgw.a", "osd.0"):
        pid = (folder / "run" / f"{name}.pid").read_text().strip()
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        now[name] = (int(fields[11]) + int(fields[12])) / ticks
    return {name: now[name] - (since or {}).get(name, 0.0) for name in now}, now


def _per_gb(used: dict[str, float], gb: float) -> str:
    return f"gateway {used['client.rgw.a'] / gb:.1f} + OSD {used['osd.0'] / gb:.1f} s/GB"


def _cpu() -> float:
    times = os.times()
    return times.user + times.system


if __name__ == "__main__":
    sys.exit(main())
