"""The station's witness tables (area "witness") on SQLite and on a real PostgreSQL: what a
station took of a device's chain, and the heads and records that rewind or fork it."""
from __future__ import annotations

from pathlib import Path

import pytest

from evidence.keys import FileSigner
from evidence.records import FORMAT, GENESIS, SignedRecord, sign
from station.intake.witness import Witness
from station.services import open_database
from tests.postgres import postgres_server, postgres_url  # noqa: F401


@pytest.fixture(params=["sqlite", "postgresql"])
def witness(request, tmp_path):
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    return Witness(open_database(tmp_path, url))


def chain(signer: FileSigner, count: int, start: tuple[int, str] = (0, GENESIS), wall: int = 0) -> list[SignedRecord]:
    """``count`` identity records after ``start`` (seq, hash): the simplest links of a chain."""
    records, (seq, prev) = [], start
    for _ in range(count):
        seq += 1
        record = sign({"format": FORMAT, "type": "identity", "device": "BC00001", "key_id": signer.key_id,
                       "seq": seq, "prev": prev, "officer": {"police_number": "123456", "name": "张三"},
                       "unit": {"number": "110000000001", "name": "一大队"}, "firmware": "test",
                       "reason": "provisioned", "signed_wall": wall}, signer)
        records.append(record)
        prev = record.hash
    return records


def head(signer: FileSigner, record: SignedRecord) -> SignedRecord:
    return sign({"format": FORMAT, "type": "chain-head", "device": "BC00001", "key_id": signer.key_id,
                 "seq": record.body["seq"], "head": record.hash, "written_wall": 0}, signer)


def test_a_chain_that_continues_passes_one_that_rewinds_or_forks_is_named(witness, tmp_path: Path):
    signer = FileSigner.generate(tmp_path / "device.key")
    taken = chain(signer, 5)
    assert witness.last(signer.key_id) is None and witness.check_head(head(signer, taken[0])) == ""
    for record in taken:
        assert witness.check_record(record) == ""
        witness.saw(record, f"item {record.body['seq']}")
    assert witness.last(signer.key_id) == (5, taken[-1].hash)
    later = chain(signer, 2, (5, taken[-1].hash))
    assert witness.check_head(head(signer, later[-1])) == "" and witness.check_record(later[0]) == ""
    assert "rewound its chain: its head is record 3" in witness.check_head(head(signer, taken[2]))
    forked = chain(signer, 4, (2, taken[1].hash), wall=1)     # signed anew after record 2
    assert witness.check_head(head(signer, forked[-1])) == ""   # beyond what was seen: its records tell
    assert "forked its chain: its head, record 5" in witness.check_head(head(signer, forked[2]))
    assert "record 3 (item 3 when this station took it) now differs" in witness.check_record(forked[0])
    assert "does not follow record 5" in witness.check_record(forked[3])
    witness.refuse(signer.key_id, "BC00001", "rewound")
    assert [(r["key_id"], r["reason"]) for r in witness.refusals()] == [(signer.key_id, "rewound")]


def test_refusals_are_numbered_and_an_acknowledgement_closes_only_its_own(witness):
    first, second = witness.refuse("k1", "BC00001", "rewound"), witness.refuse("k1", "BC00001", "forked")
    assert first != second
    witness.acknowledge(second, "sup", "restored from a backup", audit_seq=42)
    rows = {row["id"]: row for row in witness.refusals()}
    assert rows[first]["acknowledged_by"] is None and rows[first]["acknowledgement"] is None
    assert (rows[second]["acknowledged_by"], rows[second]["acknowledgement"]) == ("sup", "restored from a backup")
    assert [row["id"] for row in witness.refusals(second)] == [second] and witness.refusals(second + 7) == []
