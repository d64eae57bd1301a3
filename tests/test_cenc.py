"""capture.cenc and evidence.cenc on a real encode: encryption then the station's clear copy gives
back the muxer's clear file byte for byte, and the reader written from ISO/IEC 23001-7 agrees."""
from __future__ import annotations

import struct
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from capture.cenc import Protector
from capture.encoder import AudioSettings, Encoders, VideoSettings
from capture.fmp4 import FragmentSink
from capture.segmenter import MUXER_OPTIONS
from capture.spool import AppendOnlyFile
from evidence import EvidenceError
from evidence.boxes import boxes
from evidence.cenc import clear_copy
from tests import cenc_reader

KEY, KID = bytes(range(16)), bytes(range(16, 32))
FPS = 15


def packets() -> tuple[list[av.Packet], Encoders]:
    """Two seconds of moving picture and a tone, encoded as the recorder encodes."""
    encoders = Encoders(VideoSettings(160, 120, FPS, 300), AudioSettings(48000, 1, 64))
    out, size = [], encoders.audio_frame_size
    for n in range(2 * FPS):
        picture = np.full((120 * 3 // 2, 160), (n * 8) % 256, np.uint8)
        picture[:120, n * 4 % 160:] = 255
        out += encoders.encode_video(picture, n, keyframe=n % FPS == 0)
    for n in range(2 * 48000 // size):
        tone = np.sin(2 * np.pi * 440 * (np.arange(size) + n * size) / 48000, dtype=np.float32)[None, :]
        out += encoders.encode_audio(tone, n * size)
    return out, encoders


def mux(path: Path, protector: Protector | None) -> list:
    parts: list = []
    chunks, encoders = packets()
    file = AppendOnlyFile(path)
    sink = FragmentSink(file, parts.append, protector)
    with av.open(sink, "w", format="mp4", options=MUXER_OPTIONS) as container:
        video = container.add_stream_from_template(encoders.video)
        video.codec_context.extradata = encoders.video.codec_context.extradata
        video.codec_context.width, video.codec_context.height = 160, 120
        audio = container.add_stream_from_template(encoders.audio)
        audio.codec_context.extradata = encoders.audio.codec_context.extradata
        timed = sorted(chunks, key=lambda p: (p.dts * p.time_base))
        for packet in timed:
            packet.stream = video if packet.time_base == Fraction(1, FPS) else audio
            container.mux(packet)
    file.close()
    return parts


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cenc")
    clear, encrypted = folder / "clear.mp4", folder / "encrypted.mp4"
    mux(clear, None)
    parts = mux(encrypted, Protector(bytearray(KEY), KID))
    return clear.read_bytes(), encrypted.read_bytes(), parts


def test_the_clear_copy_of_an_encrypted_segment_is_the_muxers_clear_file(written):
    clear, encrypted, _ = written
    assert encrypted != clear and len(encrypted) > len(clear)
    assert clear_copy(encrypted, KEY) == clear


def test_the_reader_from_the_standard_decrypts_every_sample_to_the_clear_one(written):
    clear, encrypted, _ = written
    reading = cenc_reader.read(encrypted)
    assert {t.original_format for t in reading.tracks.values()} == {b"avc1", b"mp4a"}
    assert all(t.protected and t.scheme == b"cenc" and t.kid == KID for t in reading.tracks.values())
    samples = [s.data for s in cenc_reader.read(clear).samples]
    assert reading.decrypted(KEY) == samples
    wrong = reading.decrypted(bytes(16))
    assert sum(a != b for a, b in zip(wrong, samples)) == len(samples)


def test_ivs_are_never_repeated_and_parts_cover_the_encrypted_file(written):
    _, encrypted, parts = written
    ivs = [s.iv for s in cenc_reader.read(encrypted).samples]
    assert len(ivs) == len(set(ivs)) > 2 * FPS
    assert [p.offset for p in parts] == [sum(q.size for q in parts[:i]) for i in range(len(parts))]
    assert sum(p.size for p in parts) == len(encrypted)


def test_the_trailer_points_at_each_moof_where_it_now_is(written):
    _, encrypted, _ = written
    moofs = {b.offset for b in boxes(encrypted) if b.kind == b"moof"}
    mfra = next(b for b in boxes(encrypted) if b.kind == b"mfra")
    pointed = []
    for tfra in boxes(encrypted, mfra.body, mfra.end):
        if tfra.kind == b"tfra":
            version = encrypted[tfra.body]
            count = struct.unpack_from(">I", encrypted, tfra.body + 12)[0]
            sizes = struct.unpack_from(">I", encrypted, tfra.body + 8)[0]
            step = (16 if version else 8) + ((sizes >> 4) & 3) + ((sizes >> 2) & 3) + (sizes & 3) + 3
            field = ">Q" if version else ">I"
            pointed += [struct.unpack_from(field, encrypted, tfra.body + 16 + i * step + (8 if version else 4))[0]
                        for i in range(count)]
    assert pointed and set(pointed) <= moofs


def test_a_clear_copy_refuses_a_file_whose_auxiliary_information_does_not_match(written):
    _, encrypted, _ = written
    senc = encrypted.index(b"senc")
    broken = bytearray(encrypted)
    struct.pack_into(">I", broken, senc + 8, 999)      # the sample count
    with pytest.raises(EvidenceError, match="senc"):
        clear_copy(bytes(broken), KEY)
