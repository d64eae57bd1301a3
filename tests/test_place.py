"""Where footage was recorded, sealed by the device and carried to the station: a real recording
with the simulated GNSS (`bodycam record`), each manifest sealing its segment's first and last
fix, pulled over the link into the catalogue (and a rebuild), the record form read back with
pdftotext and the review page over HTTP. Old manifests without the member stay verifiable."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from capture.sealing import facts_after_cut
from evidence import EvidenceError
from evidence.keys import FileSigner
from evidence.paths import DataDir
from evidence.records import parse, read_record, sign
from evidence.verify import verify_paths
from station.catalogue.catalogue import Catalogue
from station.catalogue.rebuild import rebuild
from station.services import open_catalogue, open_database, pull
from sync.ptywire import PtyWire
from tests import doc_verifier
from tests.conftest import copy_archive, write_config
from tests.test_dock_archive import device_serving, enrolled_copy
from tests.test_station_access import Desk, pdf_text
from tests.test_web import PASSWORD as WEB_PASSWORD, served
from tests.web import Client

# NMEA carries minutes to 4 decimals: a place it states exactly, in whole microdegrees.
LATITUDE, LONGITUDE = "31.230400", "121.473700"
SEALED = {"lat": 31230400, "lon": 121473700}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> Path:
    """A 3 s recording in 2 s segments by `bodycam record`, its GNSS simulated at one place."""
    base = tmp_path_factory.mktemp("located")
    config = write_config(base, f'[gnss]\nport = "simulated:{LATITUDE},{LONGITUDE}"\n', segment_seconds=2)
    result = subprocess.run([sys.executable, "-m", "firmware", "record", "--seconds", "3", "--config", str(config)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return base / "data"


@pytest.fixture(scope="module")
def pulled(recorded, tmp_path_factory) -> Path:
    device, archive = enrolled_copy(recorded, tmp_path_factory.mktemp("station"))
    with PtyWire() as wire, device_serving(device, wire):
        assert not pull(archive, wire.b).failed
    return archive


def manifests(data_dir: Path) -> list[dict]:
    [session] = DataDir(data_dir).spool.iterdir()
    return [read_record(path).body for path in sorted(session.glob("seg-*.mp4.manifest"))]


def test_each_manifest_seals_its_segment_s_first_and_last_fix(recorded):
    bodies = manifests(recorded)
    assert len(bodies) == 2
    for body in bodies:
        first, last = body["place"]["first"], body["place"]["last"]
        assert {k: first[k] for k in SEALED} == {k: last[k] for k in SEALED} == SEALED
        assert type(first["utc"]) is int and first["utc"] <= last["utc"]
    assert bodies[0]["place"]["last"]["utc"] <= bodies[1]["place"]["first"]["utc"]
    [session] = DataDir(recorded).spool.iterdir()
    for segment in sorted(session.glob("seg-*.mp4.idx")):
        fixes = [json.loads(line) for line in segment.read_text().splitlines() if '"place"' in line]
        assert fixes and all({k: f[k] for k in SEALED} == SEALED for f in fixes)
    assert all(v.ok for v in verify_paths([DataDir(recorded).spool], None))
    assert doc_verifier.verify([DataDir(recorded).spool])[1]


def test_a_manifest_without_place_is_valid_and_any_other_extra_member_is_not(recorded, tmp_path):
    signer = FileSigner.generate(tmp_path / "key")
    body = {k: v for k, v in manifests(recorded)[0].items() if k != "place"}
    body["key_id"] = signer.key_id
    old = tmp_path / "old.manifest"
    old.write_bytes(sign(body, signer).to_bytes())
    assert parse(old.read_bytes()).body == body
    assert doc_verifier.read(old) is not None
    odd = tmp_path / "odd.manifest"
    odd.write_bytes(sign({**body, "where": "here"}, signer).to_bytes())
    with pytest.raises(EvidenceError, match="extra members where"):
        parse(odd.read_bytes())
    assert doc_verifier.read(odd) is None


def test_the_station_catalogues_the_place_and_a_rebuild_gives_the_same(pulled):
    catalogue = open_catalogue(pulled)
    [found] = catalogue.search()
    session = found["session"]
    assert (found["place_first"], found["place_last"]) == (f"{LATITUDE},{LONGITUDE}",) * 2
    assert all(s["place_first"] == s["place_last"] == f"{LATITUDE},{LONGITUDE}"
               for s in catalogue.segments(session))
    assert not rebuild(catalogue, pulled).problems
    assert catalogue.session(session) == found


def test_the_record_form_says_where(pulled, tmp_path):
    archive = tmp_path / "archive"
    copy_archive(pulled, archive)
    desk = Desk(archive)
    rev = desk.user("rev")
    wanted = desk.exports.request(rev, "session", desk.sessions[0], reason="移送人民法院作为证据", recipient="rev",
                                  destination="某区人民法院")
    desk.exports.decide(desk.user("sup"), wanted.id, True)
    made = desk.exports.make(rev, wanted.id, tmp_path / "out", desk.build())
    rows = {line.split(None, 1)[0]: line.split(None, 1)[1].strip()
            for line in pdf_text(made / "record-form.pdf").splitlines() if len(line.split(None, 1)) == 2}
    assert rows["摄录地点"] == f"{LATITUDE},{LONGITUDE}"


def test_the_review_page_says_where(pulled, tmp_path):
    archive = tmp_path / "archive"
    copy_archive(pulled, archive)
    [session] = [p.parent.name for p in archive.glob("[0-9]*/*/*/*/*/*/*/session-open.json")]
    for base, _engine, _clock in served(archive):
        client = Client(base)
        client.sign_in("li", WEB_PASSWORD)
        assert f'<dd id="place">{LATITUDE},{LONGITUDE}</dd>' in client.get(f"/sessions/{session}").text


def test_after_a_power_cut_the_place_is_sealed_from_the_frame_index(recorded):
    """What recovery seals for a segment is what its frame index says; for a whole segment that
    is exactly what the manifest sealed while recording."""
    [session] = DataDir(recorded).spool.iterdir()
    for body in manifests(recorded):
        facts = facts_after_cut(session.name, session / body["file"]["name"])
        assert facts.place == body["place"]


def test_filing_a_video_leaves_the_catalogue_s_connection_durable(recorded, tmp_path):
    """A video's mark is committed without its own flush; the records filed after it are durable."""
    engine = open_database(tmp_path)
    catalogue = Catalogue(engine)
    [session] = DataDir(recorded).spool.iterdir()
    catalogue.take("0" * 16, session.name, "session-open.json", read_record(session / "session-open.json"))
    catalogue.take("0" * 16, session.name, "seg-000001.mp4.manifest", read_record(session / "seg-000001.mp4.manifest"))
    catalogue.take("0" * 16, session.name, "seg-000001.mp4", None)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2     # FULL
    [segment, *_] = catalogue.segments(session.name)
    assert segment["video_archived"] and catalogue.session(session.name)["videos"] == 1


def test_manifests_filed_in_any_order_give_the_session_its_earliest_and_latest_fix(recorded, tmp_path):
    """The session's place is the first fix of its earliest segment with one and the last fix of
    its latest, whatever order the manifests are filed in; a segment without a fix changes neither."""
    engine = open_database(tmp_path)
    catalogue = Catalogue(engine)
    [session] = DataDir(recorded).spool.iterdir()
    opened = read_record(session / "session-open.json")
    catalogue.take("0" * 16, session.name, "session-open.json", opened)
    signer, template = FileSigner.generate(tmp_path / "key"), manifests(recorded)[0]
    fixes = {1: ({"lat": 1_000_000, "lon": 2_000_000}, {"lat": 3_000_000, "lon": 4_000_000}), 2: None,
             3: ({"lat": 5_000_000, "lon": 6_000_000}, {"lat": -7_000_000, "lon": 8_000_000})}
    seen = []
    for number in (3, 2, 1):
        body = {**template, "segment": number, "seq": opened.body["seq"] + number,
                "file": {**template["file"], "name": f"seg-{number:06d}.mp4"}}
        body.pop("place")
        if fixes[number]:
            body["place"] = {"first": {**fixes[number][0], "utc": 0}, "last": {**fixes[number][1], "utc": 0}}
        catalogue.take("0" * 16, session.name, f"seg-{number:06d}.mp4.manifest", sign(body, signer))
        found = catalogue.session(session.name)
        seen.append((found["place_first"], found["place_last"]))
    assert seen == [("5.000000,6.000000", "-7.000000,8.000000")] * 2 + [("1.000000,2.000000", "-7.000000,8.000000")]
