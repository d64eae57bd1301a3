"""Messages: one encoding each, strict parsing, and the tables of docs/dock-protocol.md match the code."""
from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from sync import MessageError, framing, messages as m

DOC = Path(__file__).resolve().parents[1] / "docs" / "dock-protocol.md"

ids = st.text(min_size=1, max_size=60).filter(lambda s: 1 <= len(s.encode("utf-8")) <= m.MAX_ID)
items = st.builds(m.Item, ids, st.integers(0, 2**64 - 1), st.binary(min_size=32, max_size=32), st.integers(0, 255))
FIELD = {
    "u8": st.integers(0, 255), "u16": st.integers(0, 2**16 - 1), "u32": st.integers(0, 2**32 - 1),
    "u64": st.integers(0, 2**64 - 1), "i64": st.integers(-2**63, 2**63 - 1),
    "bytes4": st.binary(min_size=4, max_size=4), "bytes32": st.binary(min_size=32, max_size=32),
    "bytes64": st.binary(min_size=64, max_size=64), "str8": ids, "text": st.text(max_size=200),
    "rest": st.binary(min_size=1, max_size=m.MAX_CHUNK), "items": st.lists(items, max_size=5).map(tuple)}
SPECIAL = {  # fields whose limits are tighter than their type's
    ("HELLO", "magic"): st.just(m.MAGIC), ("HELLO", "version_min"): st.integers(1, 3),
    ("HELLO", "version_max"): st.integers(3, 255), ("HELLO", "role"): st.sampled_from(list(m.Role)),
    ("HELLO", "window"): st.integers(1, m.MAX_WINDOW), ("HELLO", "chunk"): st.integers(1, m.MAX_CHUNK),
    ("ACK", "window"): st.integers(1, m.MAX_WINDOW), ("NAK", "window"): st.integers(1, m.MAX_WINDOW),
    ("OFFER", "start"): st.just(0), ("DATA", "data"): st.binary(max_size=m.MAX_CHUNK)}


def message_of(cls: type[m.Message]) -> st.SearchStrategy:
    fields = [SPECIAL.get((cls.NAME, name), FIELD[codec.spec]) for name, codec in cls.FIELDS]
    if cls is m.Offer:       # total must cover the items: built from them (an Offer built first may refuse)
        return st.builds(lambda tag, total, items: m.Offer(tag, 0, len(items) + total % 7, items),
                         st.integers(0, 2**32 - 1), FIELD["u32"], FIELD["items"])
    return st.builds(cls, st.integers(0, 2**32 - 1), *fields)


any_message = st.one_of([message_of(cls) for cls in m.TYPES.values()])


@settings(max_examples=400, deadline=None)
@given(any_message)
def test_every_message_round_trips(message):
    payload = message.encode()
    assert len(payload) <= framing.MAX_PAYLOAD
    assert m.decode(payload) == message


@settings(max_examples=1000, deadline=None)
@given(st.one_of(st.binary(max_size=400), st.builds(lambda code, rest: bytes([code]) + rest,
                                                     st.sampled_from(sorted(m.TYPES)), st.binary(max_size=400))))
def test_arbitrary_bytes_are_refused_or_are_exactly_one_message(payload):
    try:
        message = m.decode(payload)
    except MessageError as exc:
        assert isinstance(exc, ValueError)
    else:
        assert message.encode() == payload          # nothing lenient: one encoding per message


@settings(max_examples=200, deadline=None)
@given(any_message, st.data())
def test_cut_or_padded_messages_are_refused(message, data):
    payload = message.encode()
    cut = data.draw(st.integers(0, len(payload) - 1))
    try:
        assert m.decode(payload[:cut]).encode() == payload[:cut]    # DATA or ERROR may end anywhere
    except MessageError:
        pass
    if message.FIELDS and message.FIELDS[-1][1].spec not in ("rest", "text"):
        with pytest.raises(MessageError):
            m.decode(payload + b"\x00")


@pytest.mark.parametrize("payload, why", [
    (b"", "shorter than a message header"),
    (b"\x42\x00\x00\x00\x01", "unknown message type"),
    (m.Hello(1, m.MAGIC, 1, 1, 2, 16, 8192, bytes(32), bytes(32)).encode().replace(m.MAGIC, b"XXXX"), "magic"),
    (m.Get(1, 0, "a").encode()[:-1], "bad id length"),
    (m.Get(1, 0, "a").encode()[:-2] + b"\x01\xff", "not UTF-8"),
    (struct.pack(">BIQB", m.Get.CODE, 1, 0, 0), "bad id length"),
    (struct.pack(">BIQH", m.Ack.CODE, 1, 0, 0), "window"),
    (struct.pack(">BIQH", m.Nak.CODE, 1, 0, m.MAX_WINDOW + 1), "window"),
    (struct.pack(">BIQ", m.Data.CODE, 1, 0) + bytes(m.MAX_CHUNK + 1), "DATA carries"),
    (struct.pack(">BIIIH", m.Offer.CODE, 1, 0, 0, 1), "cut short"),
    (struct.pack(">BIII", m.ListItems.CODE, 1, 0, 0), "stray bytes"),
])
def test_malformed_messages_say_why(payload, why):
    with pytest.raises(MessageError, match=why):
        m.decode(payload)


def table(heading_row: str) -> list[list[str]]:
    """The rows of the markdown table whose header row starts with ``heading_row``."""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(heading_row))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip().strip("`") for cell in line.strip("|").split("|")])
    return rows


def test_message_table_in_the_document_is_the_code():
    documented = {int(code, 16): (name, body) for code, name, _, body in table("| code | name | sent by |")}
    assert documented == {code: (cls.NAME, m.layout(cls)) for code, cls in m.TYPES.items()}


def test_error_codes_and_constants_in_the_document_are_the_code():
    assert {int(code): name for code, name, _ in table("| code | name | meaning |")} == \
        {code.value: code.name for code in m.ErrorCode}
    constants = {name: int(value) for name, value, _ in table("| name | value | meaning |")}
    assert constants == {"VERSION": m.VERSION, "MIN_VERSION": m.MIN_VERSION, "MAX_PAYLOAD": framing.MAX_PAYLOAD,
                         "MAX_CHUNK": m.MAX_CHUNK, "MAX_WINDOW": m.MAX_WINDOW, "MAX_ID": m.MAX_ID}
    header = {name: kind for name, kind, _ in table("| header field | type |")}
    assert header == {"type": "u8", "tag": "u32"} and m.HEADER.format == ">BI"
