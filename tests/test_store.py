"""The central store against a real Ceph RADOS Gateway (tests/ceph.py): sessions pulled over real
pseudo-terminals are pushed with ``bodycam-station store push``, each object locked in COMPLIANCE
mode and read back; the store itself refuses to delete a locked version or shorten its lock."""
from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import boto3
import pytest
import sqlalchemy as sa
from botocore.config import Config
from botocore.exceptions import ClientError

from station.catalogue.catalogue import dockings, sessions
from station.cli import main as station_main
from station.custody import audit
from station.services import dock_init, open_catalogue, pull
from station.store import bucket as bucket_module
from station.store.store import stored_objects
from station.words import zone
from sync.ptywire import PtyWire
from tests.ceph import CephStore, ceph_store  # noqa: F401
from tests.conftest import copy_archive
from tests.test_dock_archive import device_serving, enrolled_copy, record_marked, recorded  # noqa: F401
from tests.waiting import wait_for

HOUR_NS = 3600 * 10**9


@pytest.fixture(scope="module")
def pulled(recorded, tmp_path_factory) -> Path:  # noqa: F811
    """A dock's archive holding two sessions (2 segments, then 1) pulled from a real device."""
    device, archive = enrolled_copy(recorded, tmp_path_factory.mktemp("pulled"))
    with PtyWire() as wire, device_serving(device, wire):
        assert not pull(archive, wire.b).failed
    return archive


@pytest.fixture
def station(pulled, ceph_store, tmp_path, monkeypatch):  # noqa: F811
    """A copy of the pulled archive, a new bucket for it, the station's configuration naming
    both, and the store's credentials in the environment (as the station's service has them)."""
    archive = tmp_path / "archive"
    copy_archive(pulled, archive)
    bucket = f"footage-{uuid.uuid4().hex[:12]}"
    config = write_config(tmp_path, ceph_store.endpoint, bucket)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ceph_store.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", ceph_store.secret_key)
    return archive, config, bucket


def write_config(folder: Path, endpoint: str, bucket: str) -> Path:
    path = folder / "station.toml"
    path.write_text(f'[store]\nendpoint = "{endpoint}"\nbucket = "{bucket}"\n')
    return path


def s3(store: CephStore):
    """A client of our own, with the station's credentials, to look at and attack the bucket."""
    return boto3.client("s3", endpoint_url=store.endpoint, aws_access_key_id=store.access_key,
                        aws_secret_access_key=store.secret_key, region_name=store.region,
                        config=Config(s3={"addressing_style": "path"}, request_checksum_calculation="when_required",
                                      response_checksum_validation="when_required"))


def run(capsys, config: Path, *args: str) -> tuple[int, str, str]:
    status = station_main(["--config", str(config), *args])
    out, err = capsys.readouterr()
    return status, out, err


def store(capsys, archive: Path, config: Path, verb: str) -> tuple[int, str, str]:
    return run(capsys, config, "store", verb, "--archive", str(archive))


def archive_files(archive: Path) -> dict[str, bytes]:
    """Every file the store must hold, by the key it must hold it under (the archive's own path)."""
    found = {p for p in archive.glob("[0-9]*/*/*/*/*/*/*/*") if p.is_file()}
    found |= set(archive.glob("chain/*/identity-*.json")) | set(archive.glob("events/*/events-*.jsonl"))
    return {p.relative_to(archive).as_posix(): p.read_bytes() for p in found}


def versions(client, bucket: str) -> dict[str, list[str]]:
    """The versions of every footage object (the anchored audit trail, under audit/, is
    tests/test_store_reader.py's)."""
    found: dict[str, list[str]] = {}
    for version in client.list_object_versions(Bucket=bucket).get("Versions", []):
        if not version["Key"].startswith("audit/"):
            found.setdefault(version["Key"], []).append(version["VersionId"])
    return found


def recorded_objects(archive: Path) -> dict[str, dict]:
    with open_catalogue(archive).engine.connect() as connection:
        return {row.key: dict(row._mapping) for row in connection.execute(sa.select(stored_objects))}


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def watch_requests(monkeypatch) -> list[tuple[str, str | None]]:
    """The operation and Content-MD5 header of each request the station's S3 clients send."""
    sent: list[tuple[str, str | None]] = []
    made = bucket_module.client

    def watched(settings):
        s3_client = made(settings)
        s3_client.meta.events.register_last("before-sign.s3", lambda request, event_name, **_: sent.append(
            (event_name.rpartition(".")[2], request.headers.get("Content-MD5"))))
        return s3_client
    monkeypatch.setattr(bucket_module, "client", watched)
    return sent


def pushes(archive: Path) -> list[dict]:
    """The audit trail's entries of the pushes."""
    return [entry.body for entry in audit.entries(open_catalogue(archive).engine)
            if entry.body["action"] == "store-push"]


def refused(call) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["Error"]["Code"]


def test_init_makes_a_locked_bucket_and_refuses_one_without_a_lock(station, ceph_store, capsys):  # noqa: F811
    archive, config, bucket = station
    status, out, _ = store(capsys, archive, config, "init")
    assert status == 0 and f"bucket {bucket} made" in out
    client = s3(ceph_store)
    assert client.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]["ObjectLockEnabled"] \
        == "Enabled"
    assert client.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    status, out, _ = store(capsys, archive, config, "init")
    assert status == 0 and "has Object Lock and versioning on" in out
    plain = f"plain-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=plain)
    status, out, err = store(capsys, archive, write_config(config.parent, ceph_store.endpoint, plain), "init")
    assert status == 1 and out == "" and len(err.strip().splitlines()) == 1
    assert f"bucket {plain} exists without Object Lock" in err


def test_push_stores_every_file_locked_read_back_identical_and_a_second_push_sends_nothing(
        station, ceph_store, capsys):  # noqa: F811
    archive, config, bucket = station
    assert store(capsys, archive, config, "init")[0] == 0
    status, out, _ = store(capsys, archive, config, "push")
    expected = archive_files(archive)
    assert status == 0 and out.startswith(f"stored 2 session(s) in {bucket}: {len(expected)} object(s) sent")
    client, catalogue = s3(ceph_store), open_catalogue(archive)
    assert {key: len(ids) for key, ids in versions(client, bucket).items()} == {key: 1 for key in expected}
    recorded = recorded_objects(archive)
    assert set(recorded) == set(expected)
    ordinary_until = {}
    for found in catalogue.search():
        start = max(found["ended_ns"] or found["started_ns"], found["archived_ns"]) // 10**9
        ordinary_until[found["folder"]] = datetime.fromtimestamp(start, timezone.utc) + timedelta(days=365)
    for key, data in expected.items():
        got = client.get_object(Bucket=bucket, Key=key, VersionId=recorded[key]["version_id"])
        assert got["Body"].read() == data
        assert got["Metadata"]["sha256"] == hashlib.sha256(data).hexdigest() == recorded[key]["sha256"]
        lock = client.get_object_retention(Bucket=bucket, Key=key, VersionId=recorded[key]["version_id"])
        assert lock["Retention"]["Mode"] == "COMPLIANCE"
        until = lock["Retention"]["RetainUntilDate"]
        assert int(until.timestamp()) * 10**9 == recorded[key]["retain_until_ns"]
        folder = key.rpartition("/")[0]
        if folder in ordinary_until:
            assert until == ordinary_until[folder]
    status, out, _ = store(capsys, archive, config, "push")
    assert status == 0 and out.startswith(f"stored 0 session(s) in {bucket}: 0 object(s) sent (0 bytes)")
    assert {key: len(ids) for key, ids in versions(client, bucket).items()} == {key: 1 for key in expected}
    first, second = pushes(archive)
    assert first["outcome"] == "done" and sorted(first["footage"]) == sorted(f["session"] for f in catalogue.search())
    assert first["detail"]["uploaded"] == len(expected) and second["detail"]["uploaded"] == 0


def test_a_push_killed_before_recording_adopts_what_it_sent_instead_of_sending_it_again(
        station, ceph_store, capsys):  # noqa: F811
    archive, config, bucket = station
    assert store(capsys, archive, config, "init")[0] == 0
    assert store(capsys, archive, config, "push")[0] == 0
    before = recorded_objects(archive)
    forgotten = sorted(before)[:3]
    with open_catalogue(archive).engine.begin() as connection:       # as if killed after the PUT
        connection.execute(stored_objects.delete().where(stored_objects.c.key.in_(forgotten)))
    status, out, _ = store(capsys, archive, config, "push")
    assert status == 0 and "0 object(s) sent (0 bytes), 3 found there already and read back" in out
    assert recorded_objects(archive)[forgotten[0]]["version_id"] == before[forgotten[0]]["version_id"]
    assert all(len(ids) == 1 for ids in versions(s3(ceph_store), bucket).values())


def test_the_store_refuses_to_delete_shorten_or_relax_a_locked_version_and_a_put_only_adds_one(
        station, ceph_store, capsys):  # noqa: F811
    archive, config, bucket = station
    assert store(capsys, archive, config, "init")[0] == 0
    assert store(capsys, archive, config, "push")[0] == 0
    client, recorded = s3(ceph_store), recorded_objects(archive)
    key = next(k for k in recorded if k.endswith(".mp4"))
    version, original = recorded[key]["version_id"], (archive / key).read_bytes()
    until = client.get_object_retention(Bucket=bucket, Key=key, VersionId=version)["Retention"]["RetainUntilDate"]
    assert refused(lambda: client.delete_object(Bucket=bucket, Key=key, VersionId=version)) == "AccessDenied"
    assert refused(lambda: client.put_object_retention(
        Bucket=bucket, Key=key, VersionId=version,
        Retention={"Mode": "COMPLIANCE", "RetainUntilDate": until - timedelta(days=1)})) == "AccessDenied"
    assert refused(lambda: client.put_object_retention(
        Bucket=bucket, Key=key, VersionId=version,
        Retention={"Mode": "GOVERNANCE", "RetainUntilDate": until})) == "AccessDenied"
    client.put_object(Bucket=bucket, Key=key, Body=b"not the footage")
    assert len(versions(client, bucket)[key]) == 2
    assert client.get_object(Bucket=bucket, Key=key, VersionId=version)["Body"].read() == original
    lock = client.get_object_retention(Bucket=bucket, Key=key, VersionId=version)["Retention"]
    assert lock == {"Mode": "COMPLIANCE", "RetainUntilDate": until}
    status, out, _ = store(capsys, archive, config, "push")
    assert status == 0 and "0 object(s) sent" in out
    assert recorded_objects(archive)[key]["version_id"] == version


def test_linking_a_stored_session_to_a_case_extends_its_lock_to_its_case_file_s_period(
        station, ceph_store, capsys, monkeypatch):  # noqa: F811
    archive, config, bucket = station
    sent = watch_requests(monkeypatch)
    assert store(capsys, archive, config, "init")[0] == 0
    assert store(capsys, archive, config, "push")[0] == 0
    catalogue = open_catalogue(archive)
    linked, other = catalogue.search()
    catalogue.open_case("K-1", "a case", "a party", actor="custodian")
    catalogue.link("K-1", linked["session"], actor="custodian")
    status, out, _ = store(capsys, archive, config, "push")
    # its own files, and the device's identity records and event logs it needs beside them
    own = [k for k in recorded_objects(archive) if not k.startswith(other["folder"] + "/")]
    assert status == 0 and f"{len(own)} lock(s) extended" in out
    client, recorded = s3(ceph_store), recorded_objects(archive)
    opened = datetime.fromtimestamp(catalogue.case("K-1")["opened_ns"] // 10**9, timezone.utc)
    for key in own:      # the case is open: its file's 30 years (the default) from now on
        lock = client.get_object_retention(Bucket=bucket, Key=key, VersionId=recorded[key]["version_id"])
        assert lock["Retention"]["RetainUntilDate"] == opened.replace(year=opened.year + 30)
    # every request that sent a body (objects, and the retentions moved later) carried Content-MD5
    assert {"PutObject", "PutObjectRetention"} <= {operation for operation, _ in sent}
    assert all(md5 for operation, md5 in sent if operation in ("PutObject", "PutObjectRetention"))


def test_status_and_overdue_name_what_is_stored_pending_and_late(station, capsys):
    archive, config, _ = station
    status, out, _ = store(capsys, archive, config, "status")
    assert status == 0 and out.startswith("stored 0, pending 2, overdue 0")
    status, out, _ = run(capsys, config, "overdue", "--archive", str(archive))
    assert status == 0 and out.startswith("nothing overdue")
    catalogue = open_catalogue(archive)
    with catalogue.engine.begin() as connection:              # docked 25 hours ago
        connection.execute(sessions.update().values(archived_ns=sessions.c.archived_ns - 25 * HOUR_NS))
    status, out, _ = run(capsys, config, "overdue", "--archive", str(archive))
    names = {found["session"] for found in catalogue.search()}
    assert status == 1 and out.startswith("2 session(s) docked more than 24 hours ago are not in the central store")
    assert all(name in out for name in names)
    assert store(capsys, archive, config, "init")[0] == 0
    assert store(capsys, archive, config, "push")[0] == 0
    status, out, _ = store(capsys, archive, config, "status")
    assert status == 0 and out.startswith("stored 2, pending 0, overdue 0")
    assert all(f"stored   {name}" in out for name in names)
    status, out, _ = run(capsys, config, "overdue", "--archive", str(archive))
    assert status == 0 and out.startswith("nothing overdue")


def test_overdue_names_the_devices_not_docked_since_their_last_session_in_the_station_s_zone_and_language(
        pulled, tmp_path, capsys, monkeypatch):
    archive = tmp_path / "archive"
    copy_archive(pulled, archive)
    config = tmp_path / "station.toml"
    config.write_text('time_zone = "Asia/Shanghai"\n')
    catalogue = open_catalogue(archive)
    with catalogue.engine.begin() as connection:        # the last session ended 25 hours ago, docked before it
        connection.execute(sessions.update().values(started_ns=sessions.c.started_ns - 25 * HOUR_NS,
                                                    ended_ns=sessions.c.ended_ns - 25 * HOUR_NS))
        connection.execute(dockings.update().values(docked_ns=dockings.c.docked_ns - 50 * HOUR_NS))
    found = catalogue.search()
    last = max(found, key=lambda session: session["ended_ns"])
    ended = zone.shown(last["ended_ns"], ZoneInfo("Asia/Shanghai"), "minutes")
    status, out, _ = run(capsys, config, "overdue", "--archive", str(archive))
    assert status == 1, out
    assert out.startswith("1 device(s) not docked since their last session ended more than 24 hours ago (S1):")
    assert f"  {last['device']}  officer {last['police_number']}  unit {last['unit_number']}  " \
           f"last session ended {ended}  last docked " in out and ended.endswith("+08:00")
    status, out, _ = store(capsys, archive, config, "status")
    docked = zone.shown(last["archived_ns"], ZoneInfo("Asia/Shanghai"), "minutes")
    assert status == 0 and f"  pending  {last['session']}  docked {docked}" in out
    monkeypatch.setenv("LANGUAGE", "zh_CN")
    status, out, _ = run(capsys, config, "overdue", "--archive", str(archive))
    assert status == 1 and out.startswith("1 台设备末次录像结束超过24小时仍未接入（S1）：")
    assert f"末次录像结束于 {ended}" in out
    status, out, _ = store(capsys, archive, config, "status")
    assert status == 0 and out.startswith("已存入 0，待存入 2，逾期 0") and f"接入于 {docked}" in out


def test_with_the_store_unreachable_a_pull_completes_and_the_push_says_so_in_one_sentence(
        recorded, tmp_path, capsys, monkeypatch):  # noqa: F811
    device, archive = enrolled_copy(recorded, tmp_path)
    closed = f"http://127.0.0.1:{closed_port()}"
    config = write_config(tmp_path, closed, "footage")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "STATION")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-never-printed")
    with PtyWire() as wire, device_serving(device, wire):
        status, out, _ = run(capsys, config, "pull", "--archive", str(archive), "--port", wire.b)
    assert status == 0 and "archived" in out and len(open_catalogue(archive).search()) == 2
    status, out, err = store(capsys, archive, config, "push")
    assert status == 1 and out == "" and len(err.strip().splitlines()) == 1
    assert f"the central store {closed} cannot be reached" in err and "secret-never-printed" not in err
    [refusal] = pushes(archive)
    assert refusal["outcome"] == "refused" and refusal["detail"]["why"] == err.strip().removeprefix("bodycam-station: ")
    status, out, _ = store(capsys, archive, config, "status")
    assert status == 0 and out.startswith("stored 0, pending 2")


def test_a_push_killed_mid_upload_resumes_without_duplicate_versions(station, ceph_store, capsys):  # noqa: F811
    archive, config, bucket = station
    assert store(capsys, archive, config, "init")[0] == 0
    client, expected = s3(ceph_store), archive_files(archive)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    push = subprocess.Popen([sys.executable, "-m", "station", "--config", str(config), "store", "push",
                             "--archive", str(archive)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: versions(client, bucket) or push.poll() is not None, "the push's first object")
    finally:
        push.kill()
        push.communicate()
    assert push.returncode == -signal.SIGKILL and len(recorded_objects(archive)) < len(expected)   # killed mid-push
    status, _, _ = store(capsys, archive, config, "push")
    assert status == 0 and set(recorded_objects(archive)) == set(expected)
    assert {key: len(ids) for key, ids in versions(client, bucket).items()} == {key: 1 for key in expected}
    resumed = recorded_objects(archive)
    for key, data in expected.items():
        assert client.get_object(Bucket=bucket, Key=key, VersionId=resumed[key]["version_id"])["Body"].read() == data


def test_the_store_s_configuration_is_checked_and_its_credentials_never_shown(tmp_path, capsys, monkeypatch):
    archive = tmp_path / "archive"
    dock_init(archive)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-never-printed")
    misnamed = write_config(tmp_path, "http://127.0.0.1:9", "Footage_1")
    status, out, err = run(capsys, misnamed, "store", "push", "--archive", str(archive))
    assert status == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "'store.bucket' must be an S3 bucket name" in err
    half = tmp_path / "half.toml"
    half.write_text('[store]\nendpoint = "http://127.0.0.1:9"\n')
    status, out, err = run(capsys, half, "store", "push", "--archive", str(archive))
    assert status == 1 and out == "" and "[store] needs both 'endpoint' and 'bucket'" in err
    status, out, err = run(capsys, write_config(tmp_path, "http://127.0.0.1:9", "footage"), "config")
    assert status == 0 and 'endpoint = "http://127.0.0.1:9"' in out and 'bucket = "footage"' in out
    assert "long_term_years = 30" in out and "secret-never-printed" not in out + err


def pushed_with_a_marked_session(recorded: Path, tmp_path: Path, config: Path, capsys) -> Path:
    """An archive of the recorded sessions and one more, marked, pulled and pushed."""
    device, archive = enrolled_copy(recorded, tmp_path / "marked")
    record_marked(device, 1)
    with PtyWire() as wire, device_serving(device, wire):
        assert not pull(archive, wire.b).failed
    assert store(capsys, archive, config, "init")[0] == 0
    assert store(capsys, archive, config, "push")[0] == 0
    return archive


def test_marked_footage_is_locked_for_the_long_term_and_ordinary_footage_for_its_period(
        station, recorded, ceph_store, tmp_path, capsys):  # noqa: F811
    _, config, bucket = station
    archive = pushed_with_a_marked_session(recorded, tmp_path, config, capsys)
    client, recorded_now = s3(ceph_store), recorded_objects(archive)
    found = open_catalogue(archive).search()
    assert sorted(session["marked"] for session in found) == [False, False, True]
    for session in found:
        start = max(session["ended_ns"] or session["started_ns"], session["archived_ns"]) // 10**9
        began = datetime.fromtimestamp(start, timezone.utc)
        until = began.replace(year=began.year + 30) if session["marked"] else began + timedelta(days=365)
        keys = [key for key in recorded_now if key.startswith(session["folder"] + "/")]
        assert keys and {client.get_object_retention(Bucket=bucket, Key=key, VersionId=recorded_now[key]["version_id"])
                         ["Retention"]["RetainUntilDate"] for key in keys} == {until}


def test_a_marked_period_longer_than_the_long_term_one_locks_marked_footage_that_long(
        station, recorded, ceph_store, tmp_path, capsys):  # noqa: F811
    _, config, bucket = station
    archive = pushed_with_a_marked_session(recorded, tmp_path, config, capsys)
    said = run(capsys, config, "retention", "--set", "marked", "18000", "--by", "supervisor", "--archive", str(archive))
    assert said[0] == 0, said
    status, out, _ = store(capsys, archive, config, "push")       # about 49 years: longer than the store's 30
    [marked] = [session for session in open_catalogue(archive).search() if session["marked"]]
    keys = [key for key in recorded_objects(archive) if key.startswith(marked["folder"] + "/")]
    assert status == 0 and keys and " 0 lock(s) extended" not in out       # its objects, and its device's records
    start = max(marked["ended_ns"] or marked["started_ns"], marked["archived_ns"]) // 10**9
    until = datetime.fromtimestamp(start, timezone.utc) + timedelta(days=18000)
    client, recorded_now = s3(ceph_store), recorded_objects(archive)
    assert {client.get_object_retention(Bucket=bucket, Key=key, VersionId=recorded_now[key]["version_id"])
            ["Retention"]["RetainUntilDate"] for key in keys} == {until}
    assert {recorded_now[key]["retain_until_ns"] for key in keys} == {int(until.timestamp()) * 10**9}
