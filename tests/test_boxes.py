"""The one fMP4 box reader (evidence.boxes): sizes of 32 and 64 bits and size 0, the fragments a
cut tail holds, a box stream followed in pieces (as capture's sink does), the sample entries of
an init part, and a clear error for bytes that are not boxes."""
from __future__ import annotations

import struct
from pathlib import Path

import pytest

from capture import CaptureError
from capture.fmp4 import FragmentSink, Part
from capture.spool import AppendOnlyFile
from evidence import EvidenceError
from evidence.boxes import Box, BoxError, BoxStream, avc_configuration, boxes, fragments, read_header, sample_entries


def box(kind: bytes, body: bytes = b"") -> bytes:
    return struct.pack(">I4s", 8 + len(body), kind) + body


def large_box(kind: bytes, body: bytes = b"") -> bytes:
    return struct.pack(">I4sQ", 1, kind, 16 + len(body)) + body


def full_box(kind: bytes, body: bytes) -> bytes:
    return box(kind, b"\0\0\0\0" + body)


def test_boxes_follow_one_another_with_their_offsets_sizes_and_headers():
    data = box(b"ftyp", b"isom") + box(b"moov", box(b"mvhd", b"x" * 4)) + box(b"free")
    assert list(boxes(data)) == [Box(b"ftyp", 0, 12, 8), Box(b"moov", 12, 20, 8), Box(b"free", 32, 8, 8)]
    assert [b.kind for b in boxes(data, 12 + 8, 32)] == [b"mvhd"]


def test_a_64_bit_size_follows_the_type():
    data = large_box(b"mdat", b"y" * 5) + box(b"free")
    first, second = boxes(data)
    assert (first.kind, first.offset, first.size, first.header, first.body, first.end) == (b"mdat", 0, 21, 16, 16, 21)
    assert data[first.body:first.end] == b"y" * 5 and second == Box(b"free", 21, 8, 8)


def test_size_0_runs_to_the_end_of_the_bytes():
    data = box(b"moof", b"m") + struct.pack(">I4s", 0, b"mdat") + b"z" * 10
    last = read_header(data, 9)
    assert (last.kind, last.size, last.end, last.to_end) == (b"mdat", 18, len(data), True)
    assert [b.kind for b in boxes(data)] == [b"moof", b"mdat"]


@pytest.mark.parametrize("data, words", [
    (box(b"moov", b"abc")[:9], "runs 2 bytes past the end"),
    (box(b"ftyp") + b"\0\0\0", "3 bytes at byte 8 cannot hold a box header"),
    (struct.pack(">I4s", 1, b"mdat") + b"\0\0", "64-bit size, and only 10 bytes"),
    (struct.pack(">I4s", 5, b"junk"), "has size 5, less than its 8-byte header"),
    (struct.pack(">I4sQ", 1, b"mdat", 12), "has size 12, less than its 16-byte header"),
    (b"not an mp4 file at all", "runs"),
])
def test_truncated_or_garbage_bytes_raise_a_clear_error(data, words):
    with pytest.raises(BoxError, match=words) as raised:
        list(boxes(data))
    assert isinstance(raised.value, EvidenceError) and isinstance(raised.value, ValueError)


def test_fragments_are_whole_moof_mdat_pairs_up_to_the_first_box_that_is_not_whole():
    moof, mdat = box(b"moof", b"m" * 4), large_box(b"mdat", b"d" * 6)
    data = box(b"ftyp") + moof + mdat + box(b"free") + moof + mdat
    assert fragments(data) == [(8, 34), (50, 34)]
    assert fragments(data, 8) == [(8, 34), (50, 34)]
    assert fragments(data[:-1]) == [(8, 34)]                     # the last mdat is cut short
    assert fragments(moof + struct.pack(">I4s", 0, b"mdat") + b"d" * 6) == []   # size 0: its end is unproven
    assert fragments(b"\0\0\0\3junk" + moof + mdat) == []         # the walk stops at garbage


def test_a_stream_cut_into_any_pieces_reports_each_box_where_it_ends():
    data = box(b"ftyp", b"isom") + large_box(b"moov", b"v" * 3) + box(b"moof") + box(b"mdat", b"x" * 9)
    ends = [12, 31, 39, 56]
    for piece_size in (1, 3, 7, 16, len(data)):
        stream, completed = BoxStream(), []
        for start in range(0, len(data), piece_size):
            for piece, kind in stream.split(data[start:start + piece_size]):
                if kind is not None:
                    completed.append((kind, stream.position))
        assert completed == list(zip([b"ftyp", b"moov", b"moof", b"mdat"], ends)) and stream.position == len(data)


@pytest.mark.parametrize("data", [struct.pack(">I4s", 0, b"mdat"), struct.pack(">I4s", 4, b"junk")])
def test_a_stream_refuses_a_box_it_cannot_follow(data):
    with pytest.raises(BoxError, match="at byte 8"):
        list(BoxStream().split(box(b"ftyp") + data))


def test_the_sink_reports_parts_and_refuses_a_malformed_box(tmp_path: Path):
    parts: list[Part] = []
    sink = FragmentSink(AppendOnlyFile(tmp_path / "seg.mp4"), parts.append)
    init, fragment = box(b"ftyp") + box(b"moov"), box(b"moof") + box(b"mdat", b"x")
    sink.write(init + fragment[:5])
    sink.write(fragment[5:])
    assert [(p.kind, p.number, p.offset, p.size) for p in parts] == [("init", 0, 0, 16), ("fragment", 1, 16, 17)]
    with pytest.raises(CaptureError, match="malformed box"):
        sink.write(struct.pack(">I4s", 3, b"junk"))


def _sample_entry(kind: bytes, fields: int, inner: bytes = b"") -> bytes:
    return box(kind, b"\0" * fields + inner)


def _track(entry: bytes) -> bytes:
    stsd = full_box(b"stsd", struct.pack(">I", 1) + entry)
    return box(b"trak", box(b"tkhd") + box(b"mdia", box(b"minf", box(b"stbl", stsd + box(b"stts")))))


def test_sample_entries_name_each_tracks_codec_and_the_avc_configuration_is_found():
    avcc = box(b"avcC", bytes([1, 0x64, 0x00, 0x1f]) + b"\xff")
    init = box(b"ftyp") + box(b"moov", box(b"mvhd") + _track(_sample_entry(b"avc1", 78, avcc))
                              + _track(_sample_entry(b"mp4a", 28)))
    assert [entry.kind for entry in sample_entries(init)] == [b"avc1", b"mp4a"]
    assert avc_configuration(init)[1:4].hex() == "64001f"
    assert avc_configuration(box(b"ftyp") + box(b"moov", _track(_sample_entry(b"mp4a", 28)))) is None
