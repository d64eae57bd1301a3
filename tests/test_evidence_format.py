"""docs/evidence-format.md is exact: real records match its tables, and its recipe verifies them."""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tests.conftest import record

DOC = (Path(__file__).parent.parent / "docs" / "evidence-format.md").read_text(encoding="utf-8")


def documented_fields(heading: str) -> set[str]:
    section = DOC.split(f"### {heading}", 1)[1].split("\n### ", 1)[0].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z_]+)` \|", section, re.MULTILINE))


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("doc")
    progress = record(data_dir, 2.5)
    return progress.folder


def stored(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("file, heading", [
    ("session-open.json", "Session open (`type` = `session-open`)"),
    ("seg-000001.mp4.manifest", "Segment manifest (`type` = `segment`)"),
    ("session-close.json", "Session close (`type` = `session-close`)"),
])
def test_every_field_is_documented_and_every_documented_field_is_there(session, file, heading):
    body = stored(session / file)["record"]
    expected = documented_fields("Common fields") | documented_fields(heading)
    assert set(body) == expected


def test_the_stored_record_members_are_the_documented_ones(session):
    members = set(re.findall(r"^\| `([a-z_]+)` \|", DOC.split("## A stored record", 1)[1].split("\n## ", 1)[0],
                             re.MULTILINE))
    assert set(stored(session / "session-open.json")) == members


def test_a_third_party_following_the_doc_verifies_the_chain(session):
    """Only json, hashlib and an Ed25519 library, as the document promises."""
    domain = re.search(r"domain string `([^`]+)`", DOC).group(1).replace("\\n", "\n").encode()
    assert len(domain) == 19

    def check(path: Path) -> tuple[dict, str]:
        data = stored(path)
        body = data["record"]
        canonical = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")
        public = bytes.fromhex(data["public_key"])
        assert body["key_id"] == hashlib.sha256(public).hexdigest()[:16]
        Ed25519PublicKey.from_public_bytes(public).verify(bytes.fromhex(data["signature"]), domain + canonical)
        return body, hashlib.sha256(canonical).hexdigest()

    opened, previous = check(session / "session-open.json")
    manifests = sorted(session.glob("*.manifest"))
    assert len(manifests) == 2
    for number, path in enumerate(manifests, start=1):
        body, digest = check(path)
        assert body["segment"] == number and body["prev"] == previous and body["session"] == session.name
        video = (session / body["file"]["name"]).read_bytes()
        assert len(video) == body["file"]["size"]
        assert hashlib.sha256(video).hexdigest() == body["file"]["sha256"]
        offset = 0
        for part in body["parts"]:
            assert part["offset"] == offset
            assert hashlib.sha256(video[offset:offset + part["size"]]).hexdigest() == part["sha256"]
            offset += part["size"]
        assert offset == len(video)
        index = (session / body["index"]["name"]).read_bytes()
        assert hashlib.sha256(index).hexdigest() == body["index"]["sha256"]
        previous = digest
    closed, _ = check(session / "session-close.json")
    assert closed["prev"] == previous == closed["last_segment"]
    assert closed["segments"] == 2
