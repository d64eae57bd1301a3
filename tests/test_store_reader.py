"""The read side of the central store against a real Ceph gateway (tests/ceph.py): the local
copy freed and read back from the store in byte ranges, ``verify`` naming the version it
checked, the audit trail anchored in locked objects and compared, and the archive and catalogue
rebuilt from the bucket alone."""
from __future__ import annotations

import asyncio
import shutil

from station.config import load as load_config
from station.custody import audit
from station.services import open_catalogue, open_station, store_settings
from station.web.routes.media import from_store
from tests.ceph import ceph_store  # noqa: F401
from tests.test_dock_archive import recorded  # noqa: F401
from tests.test_store import pulled, recorded_objects, run, s3, station, store  # noqa: F401


def pushed(capsys, archive, config) -> None:
    said = store(capsys, archive, config, "init")
    assert said[0] == 0, said
    assert store(capsys, archive, config, "push")[0] == 0


def videos(archive) -> dict[str, bytes]:
    return {p.relative_to(archive).as_posix(): p.read_bytes() for p in archive.glob("[0-9]*/*/*/*/*/*/*/seg-*.mp4")}


def footage_of(archive, config):
    opened = open_station(archive, store=store_settings(load_config(config)))
    return opened.desk(None).footage


def test_freed_videos_are_read_from_the_store_in_ranges_and_verify_names_the_version(
        station, ceph_store, capsys):  # noqa: F811
    archive, config, bucket = station
    pushed(capsys, archive, config)
    originals = videos(archive)
    status, out, _ = run(capsys, config, "store", "free", "--days", "0", "--archive", str(archive))
    assert status == 0 and out.startswith(f"freed {len(originals)} video(s) of 2 session(s)")
    assert videos(archive) == {}
    stored = recorded_objects(archive)
    key = min(originals)
    s3(ceph_store).put_object(Bucket=bucket, Key=key, Body=b"not the footage")   # a later version, not the sealed
    status, out, _ = run(capsys, config, "verify", str(archive))
    assert status == 0, out
    for name in originals:
        assert f"version {stored[name]['version_id']}" in out
    footage = footage_of(archive, config)
    with footage.open(archive / key) as stream:
        stream.seek(100)
        assert stream.read(5000) == originals[key][100:5100]
    whole = served(footage, archive / key, None)
    assert whole == (200, originals[key], None)
    size = len(originals[key])
    assert served(footage, archive / key, "bytes=1000-2999") == (206, originals[key][1000:3000],
                                                                  f"bytes 1000-2999/{size}")
    assert served(footage, archive / key, "bytes=-10") == (206, originals[key][-10:], f"bytes {size - 10}-{size - 1}/{size}")
    assert served(footage, archive / key, f"bytes={size}-")[0] == 416


def served(footage, path, asked):
    """What the page's media route answers for a video the archive no longer holds."""
    response = from_store(footage, path, asked)

    async def body() -> bytes:
        return b"".join([chunk async for chunk in response.body_iterator])
    content = asyncio.run(body()) if hasattr(response, "body_iterator") else response.body
    return response.status_code, content if response.status_code != 416 else b"", response.headers.get("content-range")


def test_the_trail_is_anchored_at_each_push_and_an_older_database_restored_is_caught(
        station, ceph_store, capsys, tmp_path):  # noqa: F811
    archive, config, bucket = station
    assert store(capsys, archive, config, "init")[0] == 0
    status, out, _ = store(capsys, archive, config, "push")
    assert status == 0 and "audit trail anchored in the store: entries 1 to" in out
    keys = [o["Key"] for o in s3(ceph_store).list_objects_v2(Bucket=bucket, Prefix="audit/")["Contents"]]
    assert any("/checkpoint-" in k for k in keys) and any("/journal-" in k for k in keys)
    for key in keys:
        version = s3(ceph_store).list_object_versions(Bucket=bucket, Prefix=key)["Versions"][0]["VersionId"]
        lock = s3(ceph_store).get_object_retention(Bucket=bucket, Key=key, VersionId=version)["Retention"]
        assert lock["Mode"] == "COMPLIANCE"
    status, out, _ = run(capsys, config, "audit", "verify", "--against-store", "--archive", str(archive))
    assert status == 0 and "intact" in out
    saved = tmp_path / "old"
    saved.mkdir()
    for path in archive.glob("catalogue.sqlite*"):           # the database with its write-ahead log
        shutil.copy2(path, saved / path.name)
    shutil.copytree(archive / "audit", saved / "audit")
    assert store(capsys, archive, config, "status")[0] == 0
    status, out, _ = store(capsys, archive, config, "push")           # anchors the entries since
    assert status == 0 and "audit trail anchored" in out
    for path in archive.glob("catalogue.sqlite*"):           # an older database and journal put back
        path.unlink()
    for path in saved.glob("catalogue.sqlite*"):
        shutil.copy2(path, archive / path.name)
    shutil.rmtree(archive / "audit")
    shutil.copytree(saved / "audit", archive / "audit")
    status, out, _ = run(capsys, config, "audit", "verify", "--against-store", "--archive", str(archive))
    assert status == 1
    assert "! the database lacks 1 entry the store anchored" in out and "! the journal lacks 1 entry" in out
    assert "removed, or an older copy restored" in out
    status, out, _ = run(capsys, config, "audit", "verify", "--archive", str(archive))
    assert status == 0 and "intact" in out               # the station's own trail alone cannot tell


def test_rebuild_from_the_store_gives_back_the_archive_the_trail_and_the_same_search(
        station, ceph_store, capsys):  # noqa: F811
    archive, config, _ = station
    linked = open_catalogue(archive).search()[0]["session"]
    assert run(capsys, config, "case", "open", "K-7", "--name", "a case", "--party", "a party", "--by", "custodian",
               "--archive", str(archive))[0] == 0
    assert run(capsys, config, "case", "link", "K-7", linked, "--by", "custodian", "--archive", str(archive))[0] == 0
    pushed(capsys, archive, config)
    originals = videos(archive)
    status, verified, _ = run(capsys, config, "verify", str(archive))
    assert status == 0, verified
    assert run(capsys, config, "store", "free", "--days", "0", "--archive", str(archive))[0] == 0
    status, before, _ = run(capsys, config, "search", "--archive", str(archive))
    assert status == 0 and before.strip()
    _, case_before, _ = run(capsys, config, "search", "--case", "K-7", "--archive", str(archive))
    enrolled = {path.name: path.read_bytes() for path in (archive / "devices").iterdir()}
    assert enrolled
    for path in archive.iterdir():          # all but the station's own key: the devices it enrolled go too
        if path.name != "dock":
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    status, out, _ = run(capsys, config, "rebuild", "--from-store", "--archive", str(archive))
    assert status == 0, out
    assert {path.name: path.read_bytes() for path in (archive / "devices").iterdir()} == enrolled
    assert "fetched" in out and "restored from the audit journal" in out
    assert run(capsys, config, "search", "--archive", str(archive))[1] == before
    assert run(capsys, config, "search", "--case", "K-7", "--archive", str(archive))[1] == case_before
    status, out, _ = run(capsys, config, "audit", "verify", "--against-store", "--archive", str(archive))
    assert status == 0 and "intact" in out
    assert videos(archive) == originals           # fetched back, each its first (the sealed) version
    assert run(capsys, config, "verify", str(archive)) == (0, verified, "")


def test_a_push_frees_what_was_stored_keep_local_days_ago_and_the_trail_says_so(station, ceph_store, capsys):  # noqa: F811
    archive, config, _ = station
    originals = videos(archive)
    config.write_text(config.read_text() + "keep_local_days = 0\n")
    assert store(capsys, archive, config, "init")[0] == 0
    status, out, _ = store(capsys, archive, config, "push")
    assert status == 0 and f"freed {len(originals)} video(s) of 2 session(s)" in out
    assert videos(archive) == {}
    [freed] = [e.body for e in audit.entries(open_catalogue(archive).engine) if e.body["action"] == "store-free"]
    assert sorted(freed["detail"]["files"]) == sorted(originals) and len(freed["footage"]) == 2
    assert freed["detail"]["bytes"] == sum(len(data) for data in originals.values())
    status, out, _ = run(capsys, config, "verify", str(archive))
    assert status == 0 and out.count("read from the central store, version") == len(originals)
