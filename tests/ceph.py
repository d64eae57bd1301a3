"""A real, throw-away Ceph with its S3 gateway (RADOS Gateway) for the central store's tests.

``ceph_store`` (once per test session) starts Debian's ``ceph-mon``, one ``ceph-osd`` (memstore:
the data lives in the daemon's memory, nothing to format) and ``radosgw`` in a temporary folder,
every port a free one on 127.0.0.1, with an S3 user made by ``radosgw-admin``; it yields the
endpoint and that user's keys, and stops the daemons by the PIDs they wrote. No manager: the
gateway does not need one. Use in a test module with
``from tests.ceph import ceph_store  # noqa: F401``. Skipped, with the reason, where Ceph is not
installed or does not start; its logs stay in the folder named in the reason.
"""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import string
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

BINARIES = ("ceph-mon", "ceph-osd", "radosgw", "radosgw-admin", "ceph", "ceph-authtool", "monmaptool")
MEMSTORE_BYTES = 2 * 1024**3


@dataclass(frozen=True)
class CephStore:
    endpoint: str
    access_key: str
    secret_key: str
    region: str
    folder: Path
    seconds: float          # how long it took to start


class CephStartError(RuntimeError):
    pass


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _config(folder: Path, fsid: str, mon: str, rgw_port: int) -> str:
    return f"""[global]
fsid = {fsid}
mon host = {mon}
public addr = 127.0.0.1
cluster addr = 127.0.0.1
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
auth allow insecure global id reclaim = false
run dir = {folder}/run
admin socket = {folder}/run/$name.asok
log file = {folder}/log/$name.log
pid file = {folder}/run/$name.pid
keyring = {folder}/keyring/$name.keyring
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
mon data avail warn = 1
mon data avail crit = 0
log to stderr = false
err to stderr = true

[mon]
# the gateway makes its pools one by one on first start: propose map changes quickly
paxos propose interval = 0.05
paxos min wait = 0.01
mon data = {folder}/mon/$cluster-$id
keyring = $mon_data/keyring

[osd]
osd data = {folder}/osd/$cluster-$id
keyring = $osd_data/keyring
osd objectstore = memstore
memstore device bytes = {MEMSTORE_BYTES}
osd crush initial weight = 1
osd op num shards = 2
osd op num threads per shard = 1

[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:{rgw_port}
rgw data = {folder}/rgw
rgw enable usage log = false
# the multipart tests send small parts (the gateway's own least is 5 MiB, as S3's; the station's too)
rgw multipart min part size = 16384
"""


def _run(*command: str, timeout: float = 60) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if done.returncode:
        raise CephStartError(f"{' '.join(command[:2])} failed: {(done.stderr or done.stdout).strip()[-400:]}")
    return done.stdout.strip()


def _keyrings(folder: Path) -> None:
    """The monitor's keyring, holding the admin's and the gateway's keys from its first start."""
    keys = folder / "keyring"
    _run("ceph-authtool", "--create-keyring", str(keys / "mon.keyring"), "--gen-key", "-n", "mon.",
         "--cap", "mon", "allow *")
    _run("ceph-authtool", "--create-keyring", str(keys / "client.admin.keyring"), "--gen-key", "-n", "client.admin",
         "--cap", "mon", "allow *", "--cap", "osd", "allow *", "--cap", "mgr", "allow *")
    _run("ceph-authtool", "--create-keyring", str(keys / "client.rgw.a.keyring"), "--gen-key", "-n", "client.rgw.a",
         "--cap", "mon", "allow rw", "--cap", "osd", "allow rwx")
    for name in ("client.admin", "client.rgw.a"):
        _run("ceph-authtool", str(keys / "mon.keyring"), "--import-keyring", str(keys / f"{name}.keyring"))


def _start(folder: Path) -> CephStore:
    began = time.monotonic()
    for sub in ("run", "log", "keyring", "mon", "osd/ceph-0", "rgw"):
        (folder / sub).mkdir(parents=True)
    mon_v2, mon_v1, rgw_port = _free_ports(3)
    fsid, mon = str(uuid.uuid4()), f"[v2:127.0.0.1:{mon_v2},v1:127.0.0.1:{mon_v1}]"
    conf = folder / "ceph.conf"
    conf.write_text(_config(folder, fsid, mon, rgw_port))
    _keyrings(folder)
    _run("monmaptool", "--create", "--fsid", fsid, "--addv", "a", mon, str(folder / "monmap"))
    _run("ceph-mon", "-c", str(conf), "--mkfs", "-i", "a", "--monmap", str(folder / "monmap"),
         "--keyring", str(folder / "keyring" / "mon.keyring"))
    _run("ceph-mon", "-c", str(conf), "-i", "a")                    # daemonizes, writes run/mon.a.pid
    _osd(folder, conf)
    _run("radosgw", "-c", str(conf), "-n", "client.rgw.a")
    endpoint = f"http://127.0.0.1:{rgw_port}"
    _wait_for_gateway(endpoint, folder)
    alphabet = string.ascii_uppercase + string.digits
    access_key = "".join(secrets.choice(alphabet) for _ in range(20))
    secret_key = secrets.token_urlsafe(30)
    _run("radosgw-admin", "-c", str(conf), "user", "create", "--uid=station", "--display-name=Station",
         f"--access-key={access_key}", f"--secret-key={secret_key}")
    return CephStore(endpoint, access_key, secret_key, "us-east-1", folder, time.monotonic() - began)


def _osd(folder: Path, conf: Path) -> None:
    key = _run("ceph-authtool", "--gen-print-key")
    osd = folder / "osd" / "ceph-0"
    (osd / "keyring").write_text(f"[osd.0]\n\tkey = {key}\n")
    (osd / "new.json").write_text(f'{{"cephx_secret": "{key}"}}')
    osd_uuid = str(uuid.uuid4())
    made = _run("ceph", "-c", str(conf), "--connect-timeout", "20", "osd", "new", osd_uuid, "0",
                "-i", str(osd / "new.json"))
    if made != "0":
        raise CephStartError(f"ceph osd new gave id {made!r}, not 0")
    _run("ceph-osd", "-c", str(conf), "-i", "0", "--mkfs", "--osd-uuid", osd_uuid)
    _run("ceph-osd", "-c", str(conf), "-i", "0")


def _wait_for_gateway(endpoint: str, folder: Path, patience: float = 60.0) -> None:
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(endpoint + "/", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        pid = _pid(folder / "run" / "client.rgw.a.pid")
        if pid is not None and not _ours(pid, folder):
            break
        time.sleep(0.1)
    raise CephStartError(f"the RADOS gateway did not answer on {endpoint} (logs in {folder / 'log'})")


def _pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _ours(pid: int, folder: Path) -> bool:
    """Whether ``pid`` is alive and one of the daemons started on this folder's ceph.conf."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return "\nState:\tZ" not in status and str(folder / "ceph.conf") in command


def stop(folder: Path) -> None:
    """Stop the gateway, the OSD and the monitor (in that order) by the PIDs in run/."""
    for name in ("client.rgw.a", "osd.0", "mon.a"):
        pid = _pid(folder / "run" / f"{name}.pid")
        if pid is None or not _ours(pid, folder):
            continue
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while _ours(pid, folder) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _ours(pid, folder):
            os.kill(pid, signal.SIGKILL)


_RUNNING: list[CephStore] = []     # one cluster per test session, however many modules import the fixture


@pytest.fixture(scope="session")
def ceph_store() -> Iterator[CephStore]:
    if _RUNNING:
        yield _RUNNING[0]
        return
    missing = [name for name in BINARIES if shutil.which(name) is None]
    if missing:
        pytest.skip(f"Ceph is not installed (no {', '.join(missing)}; scripts/system-deps.sh installs Debian's "
                    "ceph-mon ceph-osd radosgw ceph-common)")
    folder = Path(tempfile.mkdtemp(prefix="bodycam-ceph-"))
    try:
        store = _start(folder)
    except (CephStartError, OSError, subprocess.TimeoutExpired) as exc:
        stop(folder)
        pytest.skip(f"Ceph did not start: {exc} (logs kept in {folder / 'log'})")
    _RUNNING.append(store)
    try:
        yield store
    finally:
        _RUNNING.clear()
        stop(folder)
        shutil.rmtree(folder, ignore_errors=True)
