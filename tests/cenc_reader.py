"""An independent reader of Common Encryption in fragmented MP4, written from ISO/IEC 23001-7.

It shares no code with the recorder (nor with FFmpeg): it walks the boxes itself, reads the
track's protection scheme from ``sinf`` (``frma``, ``schm``, ``tenc``, ISO/IEC 23001-7 §8.2
and §8.12), each fragment's samples from ``tfhd``/``trun`` with the ``trex`` defaults
(ISO/IEC 14496-12 §8.8), and each sample's initialisation vector and subsamples from the
sample auxiliary information that ``saiz``/``saio`` locate in the same ``traf`` (§7.1),
checked against the ``senc`` box that holds it (§7.2). It decrypts scheme ``cenc``
(AES-128 CTR, §10.1): the counter block is the 8-byte IV followed by 8 zero bytes, and the
protected bytes of a sample's subsamples are one continuous key stream. For AVC it checks
that every NAL unit's length and header byte are in clear (§10.2). Anything else the
standard requires and the file breaks raises :class:`CencError` naming the rule.
"""
from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"mvex", b"moof", b"traf", b"sinf", b"schi"}
SAMPLE_ENTRY_FIELDS = {b"encv": 78, b"enca": 28, b"avc1": 78, b"mp4a": 28}  # fixed fields before their boxes
TFHD_BASE_OFFSET, TFHD_DESCRIPTION, TFHD_DURATION, TFHD_SIZE, TFHD_FLAGS = 0x1, 0x2, 0x8, 0x10, 0x20
TFHD_BASE_IS_MOOF = 0x20000
TRUN_DATA_OFFSET, TRUN_FIRST_FLAGS, TRUN_DURATION, TRUN_SIZE, TRUN_FLAGS, TRUN_CTO = (
    0x1, 0x4, 0x100, 0x200, 0x400, 0x800)
SENC_SUBSAMPLES = 0x2


class CencError(Exception):
    """The file breaks a rule of ISO/IEC 23001-7 (or of ISO/IEC 14496-12 that it relies on)."""


@dataclass(frozen=True)
class Box:
    kind: bytes
    start: int
    body: int
    end: int


def boxes(data: bytes, start: int = 0, end: int | None = None) -> Iterator[Box]:
    end = len(data) if end is None else end
    while start < end:
        size, kind = struct.unpack_from(">I4s", data, start)
        header = 8
        if size == 1:
            size, header = struct.unpack_from(">Q", data, start + 8)[0], 16
        elif size == 0:
            size = end - start
        if size < header or start + size > end:
            raise CencError(f"box {kind!r} at {start} runs past its parent")
        yield Box(kind, start, start + header, start + size)
        start += size


def children(data: bytes, box: Box, skip: int = 0) -> dict[bytes, list[Box]]:
    found: dict[bytes, list[Box]] = {}
    for child in boxes(data, box.body + skip, box.end):
        found.setdefault(child.kind, []).append(child)
    return found


def full_box(data: bytes, box: Box) -> tuple[int, int]:
    """A full box's version and flags."""
    word = struct.unpack_from(">I", data, box.body)[0]
    return word >> 24, word & 0xFFFFFF


@dataclass
class Track:
    track_id: int
    original_format: bytes = b""
    scheme: bytes = b""
    protected: bool = False
    iv_size: int = 0
    kid: bytes = b""
    nal_length_size: int = 0     # AVC only
    defaults: tuple[int, int, int] = (0, 0, 0)   # trex: duration, size, flags
    aux_in_stbl: list[bytes] = field(default_factory=list)


@dataclass(frozen=True)
class Sample:
    track_id: int
    fragment: int
    data: bytes
    iv: bytes
    subsamples: tuple[tuple[int, int], ...]   # (clear bytes, protected bytes)


def read_tracks(data: bytes) -> dict[int, Track]:
    """The tracks of the ``moov`` box with their protection scheme (None of it for a clear track)."""
    moov = next((b for b in boxes(data) if b.kind == b"moov"), None)
    if moov is None:
        raise CencError("no moov box")
    tracks: dict[int, Track] = {}
    top = children(data, moov)
    for trak in top.get(b"trak", []):
        track = _read_track(data, trak)
        tracks[track.track_id] = track
    for mvex in top.get(b"mvex", []):
        for trex in children(data, mvex).get(b"trex", []):
            track_id, _, duration, size, flags = struct.unpack_from(">5I", data, trex.body + 4)
            tracks[track_id].defaults = (duration, size, flags)
    return tracks


def _find(data: bytes, box: Box, *path: bytes) -> Box | None:
    for kind in path:
        found = children(data, box).get(kind)
        if not found:
            return None
        box = found[0]
    return box


def _read_track(data: bytes, trak: Box) -> Track:
    tkhd = _find(data, trak, b"tkhd")
    version, _ = full_box(data, tkhd)
    track = Track(struct.unpack_from(">I", data, tkhd.body + (20 if version == 1 else 12))[0])
    stbl = _find(data, trak, b"mdia", b"minf", b"stbl")
    track.aux_in_stbl = [kind for kind in (b"senc", b"saiz", b"saio") if kind in children(data, stbl)]
    stsd = _find(data, stbl, b"stsd")
    entry = next(boxes(data, stsd.body + 8, stsd.end))
    inner = children(data, entry, SAMPLE_ENTRY_FIELDS.get(entry.kind, 0))
    track.original_format = entry.kind
    if b"sinf" in inner:
        _read_protection(data, inner[b"sinf"][0], track)
    avcc = inner.get(b"avcC")
    if avcc:
        track.nal_length_size = (data[avcc[0].body + 4] & 0x3) + 1
    return track


def _read_protection(data: bytes, sinf: Box, track: Track) -> None:
    parts = children(data, sinf)
    track.original_format = data[parts[b"frma"][0].body:parts[b"frma"][0].body + 4]
    schm = parts[b"schm"][0]
    track.scheme = data[schm.body + 4:schm.body + 8]
    tenc = _find(data, parts[b"schi"][0], b"tenc")
    if tenc is None:
        raise CencError("a protected track without tenc (§8.2)")
    is_protected, iv_size = data[tenc.body + 6], data[tenc.body + 7]
    track.protected, track.iv_size = bool(is_protected), iv_size
    track.kid = data[tenc.body + 8:tenc.body + 24]
    if track.protected and iv_size not in (8, 16):
        raise CencError(f"Per_Sample_IV_Size {iv_size}: 'cenc' needs 8 or 16 (§9.1)")


def read_samples(data: bytes, tracks: dict[int, Track]) -> list[Sample]:
    """Every sample of every fragment, in file order, with its IV and subsamples."""
    samples: list[Sample] = []
    fragment = 0
    for box in boxes(data):
        if box.kind == b"moof":
            fragment += 1
            for traf in children(data, box).get(b"traf", []):
                samples += _read_traf(data, box, traf, tracks, fragment)
    return samples


def _read_traf(data: bytes, moof: Box, traf: Box, tracks: dict[int, Track], fragment: int) -> list[Sample]:
    parts = children(data, traf)
    tfhd = parts[b"tfhd"][0]
    _, flags = full_box(data, tfhd)
    pos = tfhd.body + 4
    track_id = struct.unpack_from(">I", data, pos)[0]
    pos += 4
    track = tracks[track_id]
    _duration, size, _sample_flags = track.defaults
    base = moof.start
    if flags & TFHD_BASE_OFFSET:
        base = struct.unpack_from(">Q", data, pos)[0]
        pos += 8
    elif not flags & TFHD_BASE_IS_MOOF:
        raise CencError("tfhd without base offset nor default-base-is-moof: not read here")
    if flags & TFHD_DESCRIPTION:
        pos += 4
    if flags & TFHD_DURATION:
        pos += 4
    if flags & TFHD_SIZE:
        size = struct.unpack_from(">I", data, pos)[0]
        pos += 4
    sizes, offset = [], base
    for trun in parts.get(b"trun", []):
        offset, run = _read_trun(data, trun, base, size)
        sizes += [(offset + sum(run[:i]), s) for i, s in enumerate(run)]
    aux = _aux_info(data, base, parts, track, len(sizes))
    samples = []
    for (start, length), (iv, subsamples) in zip(sizes, aux):
        sample = data[start:start + length]
        if subsamples and sum(c + p for c, p in subsamples) != length:
            raise CencError(f"track {track_id} fragment {fragment}: subsamples cover "
                            f"{sum(c + p for c, p in subsamples)} bytes of a {length}-byte sample (§7.2.2)")
        samples.append(Sample(track_id, fragment, sample, iv, tuple(subsamples)))
    return samples


def _read_trun(data: bytes, trun: Box, base: int, default_size: int) -> tuple[int, list[int]]:
    _, flags = full_box(data, trun)
    count = struct.unpack_from(">I", data, trun.body + 4)[0]
    pos = trun.body + 8
    offset = base
    if flags & TRUN_DATA_OFFSET:
        offset = base + struct.unpack_from(">i", data, pos)[0]
        pos += 4
    if flags & TRUN_FIRST_FLAGS:
        pos += 4
    sizes = []
    for _ in range(count):
        if flags & TRUN_DURATION:
            pos += 4
        size = default_size
        if flags & TRUN_SIZE:
            size = struct.unpack_from(">I", data, pos)[0]
            pos += 4
        pos += 4 * bool(flags & TRUN_FLAGS) + 4 * bool(flags & TRUN_CTO)
        sizes.append(size)
    return offset, sizes


def _aux_info(data: bytes, base: int, parts: dict[bytes, list[Box]], track: Track,
              count: int) -> list[tuple[bytes, list[tuple[int, int]]]]:
    """Each sample's IV and subsamples, read where saio/saiz say (§7.1), checked against senc (§7.2)."""
    if not track.protected:
        return [(b"", [])] * count
    if b"saiz" not in parts or b"saio" not in parts:
        raise CencError(f"track {track.track_id}: a fragment of a protected track without saiz and saio "
                        f"in its traf (§7.1; ISO/IEC 14496-12 §8.7.8, §8.7.9)")
    saiz, saio = parts[b"saiz"][0], parts[b"saio"][0]
    _, zflags = full_box(data, saiz)
    pos = saiz.body + 4 + (8 if zflags & 1 else 0)
    default_size, sample_count = struct.unpack_from(">BI", data, pos)
    info_sizes = list(data[pos + 5:pos + 5 + sample_count]) if default_size == 0 else [default_size] * sample_count
    if sample_count != count:
        raise CencError(f"saiz names {sample_count} samples, the traf has {count} (§7.1)")
    version, oflags = full_box(data, saio)
    pos = saio.body + 4 + (8 if oflags & 1 else 0)
    entries = struct.unpack_from(">I", data, pos)[0]
    if entries != 1:
        raise CencError(f"saio with {entries} offsets for one contiguous run (§7.1)")
    offset = struct.unpack_from(">Q" if version else ">I", data, pos + 4)[0]
    position = base + offset
    info = []
    for info_size in info_sizes:
        record = data[position:position + info_size]
        info.append(_parse_aux(record, track))
        position += info_size
    senc = parts.get(b"senc")
    if senc is None:
        raise CencError(f"track {track.track_id}: no senc in the traf (§7.2)")
    _, sflags = full_box(data, senc[0])
    if base + offset != senc[0].body + 8 or info and sflags & SENC_SUBSAMPLES != bool(info[0][1]) * SENC_SUBSAMPLES:
        raise CencError("saio does not point at the senc box's sample information (§7.2)")
    return info


def _parse_aux(record: bytes, track: Track) -> tuple[bytes, list[tuple[int, int]]]:
    iv = record[:track.iv_size]
    if len(record) == track.iv_size:
        return iv, []
    count = struct.unpack_from(">H", record, track.iv_size)[0]
    subsamples = [struct.unpack_from(">HI", record, track.iv_size + 2 + 6 * i) for i in range(count)]
    if len(record) != track.iv_size + 2 + 6 * count:
        raise CencError(f"auxiliary information of {len(record)} bytes for {count} subsamples (§7.2.2)")
    return iv, subsamples


def decrypt(sample: Sample, key: bytes, track: Track) -> bytes:
    """The clear sample: AES-128 CTR over the protected bytes, one key stream per sample (§10.1)."""
    if not track.protected:
        return sample.data
    if track.scheme != b"cenc":
        raise CencError(f"scheme {track.scheme!r} is not 'cenc'")
    counter = sample.iv.ljust(16, b"\0")
    cipher = Cipher(algorithms.AES(key), modes.CTR(counter)).decryptor()
    ranges = sample.subsamples or ((0, len(sample.data)),)
    clear, pos = bytearray(), 0
    for clear_bytes, protected_bytes in ranges:
        clear += sample.data[pos:pos + clear_bytes]
        pos += clear_bytes
        clear += cipher.update(sample.data[pos:pos + protected_bytes])
        pos += protected_bytes
    if track.nal_length_size:
        check_nal_headers_clear(bytes(clear), sample, track.nal_length_size)
    return bytes(clear)


def check_nal_headers_clear(clear: bytes, sample: Sample, length_size: int) -> None:
    """Every NAL unit's length field and header byte lie in clear bytes (§10.2)."""
    clear_spans, pos = [], 0
    for clear_bytes, protected_bytes in sample.subsamples:
        clear_spans.append((pos, pos + clear_bytes))
        pos += clear_bytes + protected_bytes
    pos = 0
    while pos < len(clear):
        nal_size = int.from_bytes(clear[pos:pos + length_size], "big")
        if not any(start <= pos and pos + length_size + 1 <= end for start, end in clear_spans):
            raise CencError(f"the NAL unit at byte {pos} of a sample has its header encrypted (§10.2)")
        pos += length_size + nal_size
    if pos != len(clear):
        raise CencError("NAL unit lengths do not add up to the sample (wrong key or subsamples)")


@dataclass(frozen=True)
class Reading:
    tracks: dict[int, Track]
    samples: list[Sample]

    def decrypted(self, key: bytes) -> list[bytes]:
        return [decrypt(sample, key, self.tracks[sample.track_id]) for sample in self.samples]

    def by_track(self, clear: list[bytes]) -> dict[int, list[bytes]]:
        found: dict[int, list[bytes]] = {}
        for sample, data in zip(self.samples, clear):
            found.setdefault(sample.track_id, []).append(data)
        return found


def read(path: Path | bytes) -> Reading:
    """Read a fragmented MP4 file (or its bytes): tracks and samples, still encrypted."""
    data = path if isinstance(path, bytes) else Path(path).read_bytes()
    tracks = read_tracks(data)
    return Reading(tracks, read_samples(data, tracks))
