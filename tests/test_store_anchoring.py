"""A station that only serves the review page (the second station of two sharing a catalogue
and a bucket) pushes nothing, yet its audit trail — its views and exports — is anchored in the
central store every few minutes while the page is served, against a real Ceph gateway
(tests/ceph.py); with the store unreachable, one warning sentence and the attempts go on."""
from __future__ import annotations

import logging

from evidence.keys import FileSigner
from evidence.paths import ArchiveDir
from station.config import load as load_config
from station.custody import audit
from station.custody.access import Access
from station.services import open_station, station_anchorer, store_settings
from station.store import anchor, bucket
from station.store.bucket import StoreSettings
from station.web.app import create_app
from station.web.deps import Settings
from tests.ceph import ceph_store  # noqa: F401
from tests.conftest import copy_archive
from tests.test_dock_archive import recorded  # noqa: F401
from tests.test_store import closed_port, pulled, run, s3, station, store, versions  # noqa: F401
from tests.waiting import wait_for
from tests.web import Client, serving

PASSWORD = "a long enough password"


def test_a_station_serving_only_the_review_page_anchors_its_trail_in_the_store(
        station, ceph_store, capsys, monkeypatch):  # noqa: F811
    archive, config, bucket_name = station
    assert store(capsys, archive, config, "init")[0] == 0
    settings = store_settings(load_config(config))
    opened = open_station(archive, store=settings)
    Access(opened.engine, opened.trail("test")).add_user(None, "admin", "Administrator", "administrator", PASSWORD)
    client_s3, key = bucket.client(settings), FileSigner(ArchiveDir(archive).key).public_key

    def anchored_up_to(seq: int) -> bool:
        checkpoint = anchor.latest(client_s3, settings, key)
        return checkpoint is not None and checkpoint.last_seq >= seq

    with serving(create_app(opened, Settings(anchor_every_s=0.2))) as base:
        before = audit.last_seq(opened.engine)
        wait_for(lambda: anchored_up_to(before), "the trail anchored when the page starts")
        assert Client(base).sign_in("admin", PASSWORD).status in (200, 303)      # an entry of the page's own
        signed_in = audit.last_seq(opened.engine)
        assert signed_in > before and [e.body["action"] for e in audit.entries(opened.engine)][-1] == "login"
        wait_for(lambda: anchored_up_to(signed_in), "the sign-in anchored a few moments later")
    assert versions(s3(ceph_store), bucket_name) == {}           # nothing pushed: only the trail is in the bucket
    monkeypatch.setenv("BODYCAM_PASSWORD", PASSWORD)
    status, out, err = run(capsys, config, "audit", "verify", "--against-store", "--user", "admin",
                           "--archive", str(archive))
    assert status == 0 and "intact" in out, out + err
    opened.engine.dispose()


def test_with_the_store_unreachable_the_anchoring_warns_once_and_goes_on_trying(
        pulled, tmp_path, caplog, monkeypatch):  # noqa: F811
    archive = tmp_path / "archive"
    copy_archive(pulled, archive)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "STATION")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-never-printed")
    opened = open_station(archive, store=StoreSettings(f"http://127.0.0.1:{closed_port()}", "footage"))
    anchorer = station_anchorer(opened, 0.05)
    with caplog.at_level(logging.INFO, logger="station.store.pusher"), anchorer.running():
        wait_for(lambda: anchorer.failures >= 3, "three failed attempts")
    warned = [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]
    assert len(warned) == 1 and "cannot be reached" in warned[0] and "secret-never-printed" not in warned[0]
    assert station_anchorer(open_station(archive)) is None        # no central store: no anchoring
    opened.engine.dispose()
