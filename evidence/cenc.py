"""Common Encryption (ISO/IEC 23001-7, scheme ``cenc``) in our fragmented MP4: the boxes and
fields the recorder writes (``capture.cenc``) and the clear copy the station makes.

A clear copy is made by decryption alone: each sample is decrypted in place with its IV
and subsamples from its fragment's ``senc`` (AES-128 CTR, counter block: the IV then 8
zero bytes; one key stream over a sample's protected bytes), the ``senc``/``saiz``/``saio``
boxes leave each ``traf`` (the ``trun`` data offsets move back by what the ``moof``
shrank), each ``encv``/``enca`` sample entry gets its original type back from ``frma``
without its ``sinf``, the ``pssh`` leaves the ``moov``, and the ``tfra`` entries follow
their ``moof``. No sample is re-encoded: the copy's samples are the encoder's bytes.
"""
from __future__ import annotations

import struct
from collections.abc import Callable

from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes

from evidence import EvidenceError
from evidence.boxes import Box, boxes

SCHEME, SCHEME_VERSION = b"cenc", 0x00010000
# The W3C "Common PSSH box format" system id: its pssh names key ids and nothing else.
COMMON_SYSTEM_ID = bytes.fromhex("1077efecc0b24d02ace33c1e52e2fb4b")
IV_SIZE = 8
KEY_SIZE = 16
ENTRY_FIELDS = {b"avc1": 78, b"mp4a": 28}          # a sample entry's fixed fields before its boxes
PROTECTED_ENTRY = {b"avc1": b"encv", b"mp4a": b"enca"}
CLEAR_ENTRY = {protected: clear for clear, protected in PROTECTED_ENTRY.items()}
SENC_SUBSAMPLES = 0x2
AUXILIARY_BOXES = (b"senc", b"saiz", b"saio")
TFHD_BASE_OFFSET, TFHD_DESCRIPTION, TFHD_DURATION, TFHD_SIZE = 0x1, 0x2, 0x8, 0x10
TFHD_BASE_IS_MOOF = 0x20000
TRUN_DATA_OFFSET, TRUN_FIRST_FLAGS, TRUN_DURATION, TRUN_SIZE, TRUN_FLAGS, TRUN_CTO = (
    0x1, 0x4, 0x100, 0x200, 0x400, 0x800)
TRUN_DATA_OFFSET_AT = 16                            # in a trun with a 32-bit header: after version, flags, count
TRACK_PATH = (b"mdia", b"minf", b"stbl", b"stsd")


def box(kind: bytes, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def full_box(kind: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    return box(kind, struct.pack(">I", version << 24 | flags), *payload)


def box_bytes(data: bytes, found: Box) -> bytes:
    return data[found.offset:found.end]


def child(data: bytes, parent: Box, kind: bytes) -> Box:
    found = next((inner for inner in boxes(data, parent.body, parent.end) if inner.kind == kind), None)
    if found is None:
        raise EvidenceError(f"a {parent.kind!r} box without {kind!r}")
    return found


def rebuild(data: bytes, parent: Box, path: tuple[bytes, ...], change: Callable[[Box], bytes]) -> bytes:
    """``parent`` with the box reached through ``path`` replaced by ``change(box)``."""
    if not path:
        return change(parent)
    return box(parent.kind, *(rebuild(data, inner, path[1:], change) if inner.kind == path[0]
                              else box_bytes(data, inner) for inner in boxes(data, parent.body, parent.end)))


def track_id(data: bytes, trak: Box) -> int:
    tkhd = child(data, trak, b"tkhd")
    return struct.unpack_from(">I", data, tkhd.body + (20 if data[tkhd.body] == 1 else 12))[0]


def read_tfhd(data: bytes, tfhd: Box) -> tuple[int, int | None]:
    """The track id and default sample size of a track fragment, whose base must be its moof."""
    flags = struct.unpack_from(">I", data, tfhd.body)[0] & 0xFFFFFF
    if flags & TFHD_BASE_OFFSET or not flags & TFHD_BASE_IS_MOOF:
        raise EvidenceError("a track fragment whose data is not counted from its moof (default-base-is-moof)")
    track = struct.unpack_from(">I", data, tfhd.body + 4)[0]
    position = tfhd.body + 8 + 4 * bool(flags & TFHD_DESCRIPTION) + 4 * bool(flags & TFHD_DURATION)
    default_size = struct.unpack_from(">I", data, position)[0] if flags & TFHD_SIZE else None
    return track, default_size


def read_trun(data: bytes, trun: Box, default_size: int | None) -> list[tuple[int, int]]:
    """(start from the moof's first byte, size) of each sample of a track run."""
    flags = struct.unpack_from(">I", data, trun.body)[0] & 0xFFFFFF
    if not flags & TRUN_DATA_OFFSET:
        raise EvidenceError("a track run without its data offset")
    count, start = struct.unpack_from(">Ii", data, trun.body + 4)
    position = trun.body + 12 + 4 * bool(flags & TRUN_FIRST_FLAGS)
    samples = []
    for _ in range(count):
        position += 4 * bool(flags & TRUN_DURATION)
        if flags & TRUN_SIZE:
            size = struct.unpack_from(">I", data, position)[0]
            position += 4
        elif default_size is None:
            raise EvidenceError("a track run without sample sizes")
        else:
            size = default_size
        position += 4 * bool(flags & TRUN_FLAGS) + 4 * bool(flags & TRUN_CTO)
        samples.append((start, size))
        start += size
    return samples


def moved_trun(chunk: bytes, by: int) -> bytes:
    """A trun box's bytes with its data offset moved by ``by``."""
    moved = bytearray(chunk)
    offset = struct.unpack_from(">i", moved, TRUN_DATA_OFFSET_AT)[0]
    struct.pack_into(">i", moved, TRUN_DATA_OFFSET_AT, offset + by)
    return bytes(moved)


def move_mfra(data: bytes, mfra: Box, moved: dict[int, int]) -> bytes:
    """``mfra`` with each ``tfra`` entry's moof offset replaced through ``moved`` (old -> new)."""
    chunk = bytearray(box_bytes(data, mfra))
    for tfra in boxes(data, mfra.body, mfra.end):
        if tfra.kind != b"tfra":
            continue
        body = tfra.body - mfra.offset
        version = chunk[body]
        sizes, count = struct.unpack_from(">II", chunk, body + 8)
        wide, field = (">Q", 8) if version == 1 else (">I", 4)
        numbers = ((sizes >> 4) & 3) + ((sizes >> 2) & 3) + (sizes & 3) + 3
        position = body + 16
        for _ in range(count):
            old = struct.unpack_from(wide, chunk, position + field)[0]
            if old not in moved:
                raise EvidenceError(f"the trailer names a moof at {old}, which the file does not have")
            struct.pack_into(wide, chunk, position + field, moved[old])
            position += 2 * field + numbers
    return bytes(chunk)


def ctr(key: bytes, iv: bytes) -> CipherContext:
    """The key stream of one sample: AES-128 CTR from the IV followed by zero bytes."""
    return Cipher(algorithms.AES(bytes(key)), modes.CTR(iv.ljust(16, b"\0"))).encryptor()


# --- the clear copy --------------------------------------------------------------------------

def clear_copy(data: bytes, key: bytes) -> bytes:
    """The clear fragmented MP4 of an encrypted segment (whole boxes only), by decryption alone."""
    iv_sizes: dict[int, int] = {}
    moved: dict[int, int] = {}
    out: list[bytes] = []
    walked = list(boxes(data))
    for position, found in enumerate(walked):
        written = sum(map(len, out))
        if found.kind == b"moov":
            out.append(_clear_moov(data, found, iv_sizes))
        elif found.kind == b"moof":
            if position + 1 == len(walked) or walked[position + 1].kind != b"mdat":
                raise EvidenceError(f"a moof at {found.offset} without its mdat")
            moved[found.offset] = written
            out.append(_clear_fragment(data, found, walked[position + 1], key, iv_sizes))
        elif found.kind == b"mdat" and position and walked[position - 1].kind == b"moof":
            continue
        elif found.kind == b"mfra":
            out.append(move_mfra(data, found, moved))
        else:
            out.append(box_bytes(data, found))
    return b"".join(out)


def _clear_moov(data: bytes, moov: Box, iv_sizes: dict[int, int]) -> bytes:
    kept = []
    for inner in boxes(data, moov.body, moov.end):
        if inner.kind == b"trak":
            number = track_id(data, inner)
            kept.append(rebuild(data, inner, TRACK_PATH,
                                lambda stsd, number=number: _clear_stsd(data, stsd, number, iv_sizes)))
        elif inner.kind != b"pssh":
            kept.append(box_bytes(data, inner))
    return box(b"moov", *kept)


def _clear_stsd(data: bytes, stsd: Box, number: int, iv_sizes: dict[int, int]) -> bytes:
    entries = []
    for entry in boxes(data, stsd.body + 8, stsd.end):
        if entry.kind not in CLEAR_ENTRY:
            entries.append(box_bytes(data, entry))
            continue
        fields_end = entry.body + ENTRY_FIELDS[CLEAR_ENTRY[entry.kind]]
        inner = list(boxes(data, fields_end, entry.end))
        sinf = next(found for found in inner if found.kind == b"sinf")
        tenc = child(data, child(data, sinf, b"schi"), b"tenc")
        iv_sizes[number] = data[tenc.body + 7]
        frma = child(data, sinf, b"frma")
        original = data[frma.body:frma.body + 4]
        entries.append(box(original, data[entry.body:fields_end],
                           *(box_bytes(data, found) for found in inner if found.kind != b"sinf")))
    return box(b"stsd", data[stsd.body:stsd.body + 8], *entries)


def _clear_fragment(data: bytes, moof: Box, mdat: Box, key: bytes, iv_sizes: dict[int, int]) -> bytes:
    payload = bytearray(data[moof.offset:mdat.end])
    trafs = [found for found in boxes(data, moof.body, moof.end) if found.kind == b"traf"]
    shrink = sum(inner.size for traf in trafs for inner in boxes(data, traf.body, traf.end)
                 if inner.kind in AUXILIARY_BOXES)
    kept = []
    for inner in boxes(data, moof.body, moof.end):
        if inner.kind == b"traf":
            kept.append(_clear_traf(data, inner, payload, key, iv_sizes, shrink))
        else:
            kept.append(box_bytes(data, inner))
    return box(b"moof", *kept) + bytes(payload[mdat.offset - moof.offset:])


def _clear_traf(data: bytes, traf: Box, payload: bytearray, key: bytes, iv_sizes: dict[int, int],
                shrink: int) -> bytes:
    number, default_size = read_tfhd(data, child(data, traf, b"tfhd"))
    samples = read_trun(data, child(data, traf, b"trun"), default_size)
    if number in iv_sizes:
        for (start, size), (iv, subsamples) in zip(samples, _sample_info(data, child(data, traf, b"senc"),
                                                                           iv_sizes[number], len(samples))):
            payload[start:start + size] = _decrypt(bytes(payload[start:start + size]), key, iv, subsamples)
    kept = [moved_trun(box_bytes(data, inner), -shrink) if inner.kind == b"trun" else box_bytes(data, inner)
            for inner in boxes(data, traf.body, traf.end) if inner.kind not in AUXILIARY_BOXES]
    return box(b"traf", *kept)


def _sample_info(data: bytes, senc: Box, iv_size: int, count: int) -> list[tuple[bytes, list[tuple[int, int]]]]:
    flags = struct.unpack_from(">I", data, senc.body)[0] & 0xFFFFFF
    if struct.unpack_from(">I", data, senc.body + 4)[0] != count:
        raise EvidenceError("a senc box that names another number of samples than its track run")
    position, info = senc.body + 8, []
    for _ in range(count):
        iv = data[position:position + iv_size]
        position += iv_size
        subsamples = []
        if flags & SENC_SUBSAMPLES:
            (many,) = struct.unpack_from(">H", data, position)
            subsamples = [struct.unpack_from(">HI", data, position + 2 + 6 * i) for i in range(many)]
            position += 2 + 6 * many
        info.append((iv, subsamples))
    return info


def _decrypt(sample: bytes, key: bytes, iv: bytes, subsamples: list[tuple[int, int]]) -> bytes:
    stream = ctr(key, iv)
    if not subsamples:
        return stream.update(sample)
    out, position = bytearray(), 0
    for clear, protected in subsamples:
        out += sample[position:position + clear]
        position += clear
        out += stream.update(sample[position:position + protected])
        position += protected
    if position != len(sample):
        raise EvidenceError("subsamples that do not cover their sample")
    return bytes(out)
