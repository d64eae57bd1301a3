"""Framing: COBS + CRC-32C frames come through any split, and nothing else does."""
from __future__ import annotations

import re
from pathlib import Path

import crc32c
import pytest
from hypothesis import given, settings, strategies as st

from sync import FrameError
from sync.framing import MAX_PAYLOAD, FrameDecoder, encode_frame, max_encoded
from sync.messages import Bye

DOC = Path(__file__).resolve().parents[1] / "docs" / "dock-protocol.md"
payloads = st.binary(max_size=MAX_PAYLOAD)


def feed_in_pieces(decoder: FrameDecoder, data: bytes, cuts: list[int]) -> list[bytes]:
    out, start = [], 0
    for cut in sorted(set(c % (len(data) + 1) for c in cuts)) + [len(data)]:
        out += decoder.feed(data[start:cut])
        start = cut
    return out


@settings(max_examples=200, deadline=None)
@given(st.lists(payloads, max_size=4), st.lists(st.integers(min_value=0), max_size=12))
def test_frames_come_through_any_split(frames, cuts):
    stream = b"".join(encode_frame(frame) for frame in frames)
    assert feed_in_pieces(FrameDecoder(), stream, cuts) == frames


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3 * MAX_PAYLOAD), st.lists(st.integers(min_value=0), max_size=8))
def test_arbitrary_bytes_never_crash_and_memory_stays_bounded(noise, cuts):
    decoder = FrameDecoder()
    for payload in feed_in_pieces(decoder, noise, cuts):
        # only a frame whose CRC holds can come out (hypothesis will not find a collision)
        assert len(payload) <= MAX_PAYLOAD
    assert len(decoder._pending) <= max_encoded()


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2 * MAX_PAYLOAD), payloads, payloads, st.lists(st.integers(min_value=0), max_size=8))
def test_back_in_step_after_noise(noise, first, second, cuts):
    stream = noise + encode_frame(first) + encode_frame(second)
    assert feed_in_pieces(FrameDecoder(), stream, cuts)[-2:] == [first, second]


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=1, max_size=600), st.integers(min_value=0), st.integers(min_value=1, max_value=255))
def test_a_changed_byte_loses_that_frame_only(payload, where, flip):
    before, after = encode_frame(b"before"), encode_frame(b"after")
    frame = bytearray(encode_frame(payload))
    frame[1 + where % (len(frame) - 2)] ^= flip          # any byte between the delimiters
    decoder = FrameDecoder()
    assert decoder.feed(before + bytes(frame) + after) == [b"before", b"after"]
    assert decoder.dropped >= 1


def test_truncated_frame_yields_nothing_and_the_next_one_survives():
    decoder = FrameDecoder()
    assert decoder.feed(encode_frame(b"whole")[:-3]) == []
    assert decoder.feed(encode_frame(b"next")) == [b"next"]


def test_over_long_frames_are_refused_and_skipped():
    with pytest.raises(FrameError) as refused:
        encode_frame(bytes(MAX_PAYLOAD + 1))
    assert isinstance(refused.value, ValueError)
    decoder = FrameDecoder()
    flood = b"\x00" + b"\x01" * (3 * max_encoded()) + b"\x00"
    assert decoder.feed(flood + encode_frame(b"after")) == [b"after"]
    assert decoder.dropped == 1


def test_largest_frame_passes():
    payload = bytes(range(256)) * (MAX_PAYLOAD // 256) + b"\xff" * (MAX_PAYLOAD % 256)
    assert FrameDecoder().feed(encode_frame(payload)) == [payload]


def test_crc_and_worked_example_in_the_document():
    text = DOC.read_text(encoding="utf-8")
    assert "0xE3069283" in text and crc32c.crc32c(b"123456789") == 0xE3069283
    example = {row[0]: bytes.fromhex(row[1].replace(" ", ""))
               for row in re.findall(r"^\| (payload|on the wire) \| `([0-9a-f ]+)` \|$", text, re.M)}
    assert example["payload"] == Bye(1).encode()
    assert encode_frame(example["payload"]) == example["on the wire"]
