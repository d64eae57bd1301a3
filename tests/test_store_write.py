"""The central store's write path against a real Ceph RADOS Gateway (tests/ceph.py): multipart
uploads (Content-MD5 on every part, locked after completing, resumed after kill -9), the
lifecycle rule for forgotten uploads, S3 legal holds following the catalogue's, purge of
versions whose lock has passed, and the push the dock service runs after each pull while the
store is down and when it comes back."""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import sqlalchemy as sa
from botocore.exceptions import ClientError

from station import config as station_config
from station.catalogue import retention
from station.catalogue.catalogue import DAY_NS, sessions, station_id
from station.commands.store import stored_release
from station.services import dock_service, open_catalogue, open_station
from station.store import bucket as bucket_module
from station.store.bucket import SHA256_METADATA, UNLOCKED, StoreSettings
from station.store.store import CentralStore, session_files, stored_objects, stored_sessions
from station.store.upload import LIFECYCLE_RULE
from sync.ptywire import PtyWire
from tests.ceph import ceph_store  # noqa: F401
from tests.test_dock_archive import device_serving, enrolled_copy, recorded  # noqa: F401
from tests.test_dock_service import Bays, running
from tests.test_store import (  # noqa: F401
    archive_files,
    closed_port,
    pulled,
    recorded_objects,
    refused,
    run,
    s3,
    station,
    store,
    versions,
    write_config,
)
from tests.waiting import wait_for

SMALL_PART = 16 * 1024          # tests/ceph.py lets the gateway take parts this small


def small_parts(endpoint: str, bucket: str) -> StoreSettings:
    """Every file of 16 KiB or more in parts of 16 KiB."""
    return StoreSettings(endpoint, bucket, multipart_bytes=SMALL_PART, part_bytes=SMALL_PART)


def watch(monkeypatch) -> list[tuple[str, str, str | None]]:
    """The operation, URL and Content-MD5 of each request the station's S3 clients send."""
    sent: list[tuple[str, str, str | None]] = []
    made = bucket_module.client

    def watched(settings):
        client = made(settings)
        client.meta.events.register_last("before-sign.s3", lambda request, event_name, **_: sent.append(
            (event_name.rpartition(".")[2], request.url, request.headers.get("Content-MD5"))))
        return client
    monkeypatch.setattr(bucket_module, "client", watched)
    return sent


def incomplete_uploads(client, bucket: str) -> list[dict]:
    return client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])


def test_init_sets_the_lifecycle_rule_that_aborts_forgotten_multipart_uploads(
        station, ceph_store, capsys):  # noqa: F811
    archive, config, bucket = station
    status, out, err = store(capsys, archive, config, "init")
    assert status == 0 and "incomplete multipart uploads are aborted 7 day(s) after they began" in out, err
    rules = s3(ceph_store).get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert [(rule["ID"], rule["Status"], rule["AbortIncompleteMultipartUpload"]) for rule in rules] == \
        [(LIFECYCLE_RULE, "Enabled", {"DaysAfterInitiation": 7})]
    assert store(capsys, archive, config, "init")[0] == 0          # a second init keeps one rule
    assert len(s3(ceph_store).get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]) == 1


def test_large_files_go_in_parts_each_with_content_md5_and_are_locked_and_read_back_identical(
        station, ceph_store, capsys, monkeypatch):  # noqa: F811
    archive, config, bucket = station
    assert store(capsys, archive, config, "init")[0] == 0
    sent = watch(monkeypatch)
    report = CentralStore(open_catalogue(archive), archive, small_parts(ceph_store.endpoint, bucket)).push()
    expected, client, recorded_now = archive_files(archive), s3(ceph_store), recorded_objects(archive)
    large = [key for key, data in expected.items() if len(data) >= SMALL_PART]
    assert large and sorted(report.uploaded) == sorted(expected)
    parts = [(url, md5) for operation, url, md5 in sent if operation == "UploadPart"]
    assert len(parts) == sum(-(-len(expected[key]) // SMALL_PART) for key in large) and all(md5 for _, md5 in parts)
    assert sum(operation == "CompleteMultipartUpload" for operation, _, _ in sent) == len(large)
    for key, data in expected.items():
        version = recorded_now[key]["version_id"]
        assert client.get_object(Bucket=bucket, Key=key, VersionId=version)["Body"].read() == data
        lock = client.get_object_retention(Bucket=bucket, Key=key, VersionId=version)["Retention"]
        assert lock["Mode"] == "COMPLIANCE" and int(lock["RetainUntilDate"].timestamp()) * 10**9 == \
            recorded_now[key]["retain_until_ns"]
    assert {key: len(ids) for key, ids in versions(client, bucket).items()} == {key: 1 for key in expected}
    assert incomplete_uploads(client, bucket) == []


# A push of small parts, each part followed by a pause: a loaded machine still finds it mid-upload.
PUSH = """
import sys, time
from pathlib import Path
from station.services import open_catalogue
from station.store import bucket as bucket_module
from station.store.bucket import StoreSettings
from station.store.store import CentralStore
archive, endpoint, bucket, part = Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
settings = StoreSettings(endpoint, bucket, multipart_bytes=part, part_bytes=part)
s3 = bucket_module.client(settings)
s3.meta.events.register("after-call.s3.UploadPart", lambda **_: time.sleep(0.3))
CentralStore(open_catalogue(archive), archive, settings, s3=s3).push()
"""


def test_a_push_killed_mid_multipart_upload_resumes_its_parts_and_leaves_one_version(
        station, ceph_store, capsys, monkeypatch):  # noqa: F811
    archive, config, bucket = station
    assert store(capsys, archive, config, "init")[0] == 0
    client, expected = s3(ceph_store), archive_files(archive)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    push = subprocess.Popen([sys.executable, "-c", PUSH, str(archive), ceph_store.endpoint, bucket, str(SMALL_PART)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def parts_of(key: str) -> int:
        return -(-len(expected[key]) // SMALL_PART)

    def parts_sent() -> list[tuple[str, str, int]]:
        found = []
        for upload in incomplete_uploads(client, bucket):
            try:
                listed = client.list_parts(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
            except ClientError:              # completed since it was listed
                continue
            found.append((upload["Key"], upload["UploadId"], len(listed.get("Parts", []))))
        return found
    try:
        wait_for(lambda: any(3 <= count <= parts_of(key) - 3 for key, _, count in parts_sent())
                 or push.poll() is not None, "a multipart upload three parts in, three or more to go")
    finally:
        push.send_signal(signal.SIGKILL)
        push.communicate()
    assert push.returncode == -signal.SIGKILL
    killed = [found for found in parts_sent() if found[2]]       # several files' parts go at once
    assert killed and any(held < parts_of(key) for key, _, held in killed)       # killed mid-upload
    sent = watch(monkeypatch)
    CentralStore(open_catalogue(archive), archive, small_parts(ceph_store.endpoint, bucket)).push()
    for key, upload_id, held in killed:
        resumed = [url for operation, url, _ in sent if operation == "UploadPart" and f"uploadId={upload_id}" in url]
        assert len(resumed) == parts_of(key) - held      # only the parts the store did not hold yet
        assert not any(operation == "CreateMultipartUpload" and key in url for operation, url, _ in sent)
    assert {k: len(ids) for k, ids in versions(client, bucket).items()} == {k: 1 for k in expected}
    recorded_now = recorded_objects(archive)
    for name, data in expected.items():
        assert client.get_object(Bucket=bucket, Key=name, VersionId=recorded_now[name]["version_id"])[
            "Body"].read() == data
    for key, _, _ in killed:
        lock = client.get_object_retention(Bucket=bucket, Key=key, VersionId=recorded_now[key]["version_id"])
        assert lock["Retention"]["Mode"] == "COMPLIANCE"
    assert incomplete_uploads(client, bucket) == []


def test_an_upload_of_other_bytes_on_the_key_is_aborted_not_resumed(station, ceph_store, capsys):  # noqa: F811
    archive, config, bucket = station
    assert store(capsys, archive, config, "init")[0] == 0
    client, expected = s3(ceph_store), archive_files(archive)
    key = max(expected, key=lambda name: len(expected[name]))
    stranger = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    client.upload_part(Bucket=bucket, Key=key, UploadId=stranger, PartNumber=1, Body=b"x" * SMALL_PART)
    CentralStore(open_catalogue(archive), archive, small_parts(ceph_store.endpoint, bucket)).push()
    assert incomplete_uploads(client, bucket) == []
    assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == expected[key]
    assert len(versions(client, bucket)[key]) == 1


def test_a_version_claiming_the_seal_with_other_bytes_is_not_adopted_nor_locked_and_the_file_is_sent_again(
        station, ceph_store, capsys):  # noqa: F811
    """A version already in the bucket naming a segment's sealed SHA-256 but holding other
    bytes (what someone with write access, or a garbling store, could leave for a killed push to
    adopt) is read back before any lock: left unlocked, and the segment sent again beside it."""
    archive, config, bucket = station
    assert store(capsys, archive, config, "init")[0] == 0
    client, expected = s3(ceph_store), archive_files(archive)
    catalogue = open_catalogue(archive)
    sealed = {item.key: item.sha256 for found in catalogue.search() for item in session_files(archive, found)}
    target = min(key for key in expected if "/seg-" in key and key.endswith(".mp4"))
    forged = client.put_object(Bucket=bucket, Key=target, Body=expected[target][::-1],
                               Metadata={SHA256_METADATA: sealed[target]})["VersionId"]
    status, out, err = store(capsys, archive, config, "push")
    assert status == 0 and "0 found there already" in out, err
    recorded_now = recorded_objects(archive)
    assert set(recorded_now) == set(expected) and recorded_now[target]["version_id"] != forged
    for key in recorded_now:
        assert client.get_object(Bucket=bucket, Key=key, VersionId=recorded_now[key]["version_id"])[
            "Body"].read() == expected[key]
    assert refused(lambda: client.get_object_retention(Bucket=bucket, Key=target, VersionId=forged)) in UNLOCKED
    assert versions(client, bucket)[target] and len(versions(client, bucket)[target]) == 2


def test_a_file_altered_in_the_archive_stays_unrecorded_and_the_files_sent_beside_it_are_stored(
        station, ceph_store, capsys):  # noqa: F811
    """A segment whose bytes no longer match its seal (altered on the dock PC after it was
    catalogued) is not sent; the push says so in one sentence and stores every other file."""
    archive, config, bucket = station
    assert store(capsys, archive, config, "init")[0] == 0
    client, expected = s3(ceph_store), archive_files(archive)
    target = min(key for key in expected if "/seg-" in key and key.endswith(".mp4"))
    altered = archive / target
    altered.write_bytes(expected[target][::-1])
    status, out, err = store(capsys, archive, config, "push")
    assert status == 1 and out == "" and len(err.strip().splitlines()) == 1
    assert f"{target} does not match its seal" in err
    recorded_now = recorded_objects(archive)
    assert set(recorded_now) == set(expected) - {target}
    assert target not in versions(client, bucket)
    for key in recorded_now:
        assert client.get_object(Bucket=bucket, Key=key, VersionId=recorded_now[key]["version_id"])[
            "Body"].read() == expected[key]
    status, out, _ = store(capsys, archive, config, "status")
    assert status == 0 and out.startswith("stored 1, pending 1")       # the other session is stored whole


def expiring_soon(archive: Path, seconds: int) -> None:
    """Make the ordinary period of every session end ``seconds`` from now, and the grace none."""
    catalogue = open_catalogue(archive)
    soon = time.time_ns() - 365 * DAY_NS + seconds * 10**9
    with catalogue.engine.begin() as connection:
        connection.execute(sessions.update().values(started_ns=soon - 10**9, ended_ns=soon, archived_ns=soon))
    retention.set_period(catalogue, "grace", 0, actor="admin")


def purge(capsys, archive: Path, config: Path) -> tuple[int, str, str]:
    return run(capsys, config, "purge", "--archive", str(archive), "--why", "expired", "--by", "admin")


def purge_log(archive: Path) -> list[dict]:
    path = archive / "purges.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def legal_holds(client, bucket: str, key: str) -> set[str]:
    """The legal hold of each version of ``key``: ON, OFF, or OFF for one that never had one."""
    found = set()
    for version in versions(client, bucket)[key]:
        try:
            found.add(client.get_object_legal_hold(Bucket=bucket, Key=key, VersionId=version)["LegalHold"]["Status"])
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "ObjectLockConfigurationNotFoundError"
            found.add("OFF")
    return found


def test_legal_holds_follow_the_catalogue_and_purge_deletes_only_what_the_store_lets_go(
        station, ceph_store, capsys):  # noqa: F811
    archive, config, bucket = station
    assert store(capsys, archive, config, "init")[0] == 0
    expiring_soon(archive, 30)
    assert store(capsys, archive, config, "push")[0] == 0
    catalogue, client = open_catalogue(archive), s3(ceph_store)
    held, free = catalogue.search()
    own = {found["session"]: [k for k in recorded_objects(archive) if k.startswith(found["folder"] + "/")]
           for found in (held, free)}
    # the held session's objects, and the device's identity records and event logs it needs beside them
    covered = [k for k in recorded_objects(archive) if not k.startswith(free["folder"] + "/")]
    hold = catalogue.hold("court order", actor="sup", session=held["session"])
    client.put_object(Bucket=bucket, Key=own[held["session"]][0], Body=b"a second version")
    status, out, _ = store(capsys, archive, config, "push")
    assert status == 0 and f"legal hold set on {len(covered)} and cleared on 0" in out
    assert all(legal_holds(client, bucket, key) == {"ON"} for key in covered)               # every version
    assert all(legal_holds(client, bucket, key) == {"OFF"} for key in own[free["session"]])

    # before the lock passes: a station whose clock runs a day ahead finds the session due, the store refuses
    ahead = open_station(archive, clock=lambda: time.time_ns() + 2 * DAY_NS).desk(None)
    args = argparse.Namespace(station_config=station_config.load(config), archive=archive)
    found = retention.purge(ahead.catalogue, archive, station_id(archive), actor="admin", why="expired",
                            release=stored_release(ahead, args))
    [kept] = found
    assert kept.session == free["session"] and kept.refused.startswith("the central store refuses to delete ")
    assert kept.refused.endswith(f"so session {free['session']} is not purged")
    assert (archive / free["folder"]).is_dir() and purge_log(archive) == []
    assert catalogue.session(free["session"])["purged_ns"] is None

    until = max(row["retain_until_ns"] for row in recorded_objects(archive).values()) // 10**9
    wait_for(lambda: time.time() > until + 1, "the ordinary locks to pass", timeout=60)
    key = own[held["session"]][0]
    locked_version = recorded_objects(archive)[key]["version_id"]
    assert refused(lambda: client.delete_object(Bucket=bucket, Key=key, VersionId=locked_version)) == "AccessDenied"

    status, out, _ = purge(capsys, archive, config)
    assert status == 0 and f"removed {free['session']}" in out and out.rstrip().endswith("removed 1 session(s)")
    assert all(key not in versions(client, bucket) for key in own[free["session"]])
    [logged] = purge_log(archive)
    assert logged["session"] == free["session"] and logged["store"] == {
        "bucket": bucket, "versions_deleted": len(own[free["session"]])}
    assert not (archive / free["folder"]).exists()

    catalogue.release_hold(hold, actor="sup")
    status, out, _ = store(capsys, archive, config, "push")
    assert status == 0 and f"cleared on {len(covered)}" in out
    assert all(legal_holds(client, bucket, key) == {"OFF"} for key in covered)
    status, out, _ = purge(capsys, archive, config)
    assert status == 0 and f"removed {held['session']}" in out
    assert all(key not in versions(client, bucket) for key in own[held["session"]])
    assert [entry["session"] for entry in purge_log(archive)] == [free["session"], held["session"]]
    with open_catalogue(archive).engine.connect() as connection:
        assert connection.execute(sa.select(stored_sessions)).all() == []
        assert not any(row.key.startswith(tuple(f["folder"] for f in (held, free)))
                       for row in connection.execute(sa.select(stored_objects)))


def test_linking_to_a_case_locks_its_footage_as_long_as_the_case_file_and_never_shortens(
        station, ceph_store, capsys):  # noqa: F811
    archive, config, bucket = station
    assert store(capsys, archive, config, "init")[0] == 0
    assert store(capsys, archive, config, "push")[0] == 0
    catalogue, client = open_catalogue(archive), s3(ceph_store)
    linked, _ = catalogue.search()
    catalogue.open_case("K-9", "a case", "a party", actor="cus", retention_years=40)
    catalogue.link("K-9", linked["session"], actor="cus")
    catalogue.close_case("K-9", actor="cus")
    assert store(capsys, archive, config, "push")[0] == 0
    closed = catalogue.case("K-9")["closed_ns"]
    want = retention.years_later_ns(closed, 40) // 10**9
    keys = [k for k in recorded_objects(archive) if k.startswith(linked["folder"] + "/")]
    locks = {client.get_object_retention(Bucket=bucket, Key=k, VersionId=recorded_objects(archive)[k]["version_id"])
             ["Retention"]["RetainUntilDate"].timestamp() for k in keys}
    assert locks == {want}
    catalogue.set_case_retention("K-9", 2, actor="sup")             # the case's period made shorter …
    status, out, _ = store(capsys, archive, config, "push")
    assert status == 0 and "0 lock(s) extended" in out              # … the locks stay where they were
    assert {client.get_object_retention(Bucket=bucket, Key=k, VersionId=recorded_objects(archive)[k]["version_id"])
            ["Retention"]["RetainUntilDate"].timestamp() for k in keys} == {want}


def stored_count(archive: Path) -> int:
    with open_catalogue(archive).engine.connect() as connection:
        return len(connection.execute(sa.select(stored_sessions)).all())


@contextlib.contextmanager
def forwarding(port: int, endpoint: str):
    """The store reachable at ``port`` (nothing answered there before): each connection relayed
    to ``endpoint``."""
    host, target = "127.0.0.1", int(endpoint.rsplit(":", 1)[1])
    listener = socket.create_server((host, port))
    stop = threading.Event()

    def pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            upstream = socket.create_connection((host, target))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=pipe, args=(a, b), daemon=True).start()
    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        listener.close()


def test_with_the_store_down_the_dock_service_s_pulls_complete_and_the_push_follows_when_it_is_back(
        recorded, ceph_store, tmp_path, monkeypatch, caplog):  # noqa: F811
    device, archive = enrolled_copy(recorded, tmp_path)
    port, bucket = closed_port(), "after-pull"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ceph_store.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", ceph_store.secret_key)
    s3(ceph_store).create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    settings = StoreSettings(f"http://127.0.0.1:{port}", bucket)
    bays = Bays(tmp_path / "by-id")
    caplog.set_level(logging.INFO)
    service = dock_service(archive, [bays.glob], store=settings, first_wait=0.2, longest_wait=0.8)
    pusher = service.after_pull.__self__
    with PtyWire() as wire, device_serving(device, wire), running(service):
        bays.dock(1, wire)
        wait_for(lambda: service.bays and next(iter(service.bays.values())).state.state == "done", "the pull")
        assert len(open_catalogue(archive).search()) == 2            # pulled, and catalogued, locally
        wait_for(lambda: pusher.failures >= 3, "three failed pushes")
        assert "cannot be reached" in pusher.failing
        with forwarding(port, ceph_store.endpoint):
            wait_for(lambda: stored_count(archive) == 2, "the push once the store is back", timeout=60)
    assert {k: len(v) for k, v in versions(s3(ceph_store), bucket).items()} == {k: 1 for k in archive_files(archive)}
    said = [r for r in caplog.records if r.name == "station.store.pusher" and r.levelno >= logging.WARNING]
    assert len(said) == 1 and said[0].exc_info is None and "the footage stays pending" in said[0].getMessage()
    assert not any(r.exc_info for r in caplog.records)
