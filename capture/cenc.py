"""Common Encryption (ISO/IEC 23001-7, scheme ``cenc``) of the muxer's clear fragmented MP4.

FFmpeg's MP4 muxers cannot be trusted with it (``docs/encryption.md``: Debian's 5.1 puts
the sample auxiliary information in the ``moov``; libavformat 62 repeats the earlier
fragments' AAC entries in every later one), so the muxer writes clear parts and this
module encrypts each one whole, before it reaches the card:

- the init part: each track's sample entry becomes ``encv``/``enca`` holding a ``sinf``
  (``frma`` with the original type, ``schm`` ``cenc`` 1.0, ``schi``/``tenc`` with the key
  id and 8-byte IVs), and the ``moov`` gains a ``pssh`` of the W3C Common system naming
  the key id, so that a browser's Encrypted Media Extensions ask for it;
- each fragment: every sample is encrypted with AES-128 CTR (counter block: its IV, then
  8 zero bytes); H.264 samples by subsamples, the length and header byte of each coded
  slice NAL unit and every other NAL unit whole in clear (§10.2), AAC samples whole; each
  ``traf`` gains ``senc`` (the IVs and subsamples), ``saiz`` and ``saio`` (where they are,
  from the ``moof``), and each ``trun``'s data offset moves by what the ``moof`` grew;
- the trailer: each ``tfra`` entry's ``moof`` offset moves to where that ``moof`` now is.

Sample sizes and timing are unchanged. IVs are the session's sample count, so no IV is
used twice under one key. The key lives in a bytearray that :meth:`Protector.wipe`
overwrites when the session closes.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from capture import CaptureError
from evidence.boxes import Box, BoxError, boxes

SCHEME, SCHEME_VERSION = b"cenc", 0x00010000
# The W3C "Common PSSH box format" system id: its pssh names key ids and nothing else.
COMMON_SYSTEM_ID = bytes.fromhex("1077efecc0b24d02ace33c1e52e2fb4b")
IV_SIZE = 8
KEY_SIZE = 16
ENTRY_FIELDS = {b"avc1": 78, b"mp4a": 28}          # a sample entry's fixed fields before its boxes
PROTECTED_ENTRY = {b"avc1": b"encv", b"mp4a": b"enca"}
CODED_SLICE_NAL_TYPES = {1, 5}
MAX_CLEAR = 0xFFFF                                  # BytesOfClearData is 16 bits
SENC_SUBSAMPLES = 0x2
SAIO_SIZE = 20                                      # one 32-bit offset
TFHD_BASE_OFFSET, TFHD_DESCRIPTION, TFHD_DURATION, TFHD_SIZE = 0x1, 0x2, 0x8, 0x10
TFHD_BASE_IS_MOOF = 0x20000
TRUN_DATA_OFFSET, TRUN_FIRST_FLAGS, TRUN_DURATION, TRUN_SIZE, TRUN_FLAGS, TRUN_CTO = (
    0x1, 0x4, 0x100, 0x200, 0x400, 0x800)


def box(kind: bytes, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def full_box(kind: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    return box(kind, struct.pack(">I", version << 24 | flags), *payload)


def _bytes(data: bytes, found: Box) -> bytes:
    return data[found.offset:found.end]


@dataclass(frozen=True)
class _Track:
    nal_length_size: int    # 0: the track's samples are encrypted whole (AAC)


class Protector:
    """Encrypts the parts of one session's segments, in the order they are written."""

    def __init__(self, key: bytearray, kid: bytes) -> None:
        if len(key) != KEY_SIZE or len(kid) != KEY_SIZE:
            raise ValueError("a content key and its key id are 16 bytes each")
        self._key = key
        self.kid = kid
        self._samples = 0                          # the next IV: samples encrypted so far in the session
        self._tracks: dict[int, _Track] = {}
        self._moved: dict[int, int] = {}           # a clear moof's offset -> its offset as written

    def wipe(self) -> None:
        """Overwrite the key: nothing can encrypt or decrypt with it afterwards."""
        self._key[:] = bytes(len(self._key))

    # --- the init part ----------------------------------------------------------------------

    def init(self, data: bytes) -> bytes:
        """``ftyp moov`` of a new segment, its tracks marked protected with this key id."""
        self._tracks, self._moved = {}, {}
        return b"".join(self._protect_moov(data, found) if found.kind == b"moov" else _bytes(data, found)
                        for found in _boxes(data))

    def _protect_moov(self, data: bytes, moov: Box) -> bytes:
        children = [self._protect_trak(data, found) if found.kind == b"trak" else _bytes(data, found)
                    for found in boxes(data, moov.body, moov.end)]
        pssh = full_box(b"pssh", 1, 0, COMMON_SYSTEM_ID, struct.pack(">I", 1), self.kid, struct.pack(">I", 0))
        return box(b"moov", *children, pssh)

    def _protect_trak(self, data: bytes, trak: Box) -> bytes:
        tkhd = _child(data, trak, b"tkhd")
        version = data[tkhd.body]
        track_id = struct.unpack_from(">I", data, tkhd.body + (20 if version == 1 else 12))[0]
        return _rebuild(data, trak, (b"mdia", b"minf", b"stbl", b"stsd"),
                        lambda stsd: self._protect_stsd(data, stsd, track_id))

    def _protect_stsd(self, data: bytes, stsd: Box, track_id: int) -> bytes:
        header = data[stsd.body:stsd.body + 8]        # version, flags, entry count
        entries = [self._protect_entry(data, entry, track_id) for entry in boxes(data, stsd.body + 8, stsd.end)]
        return box(b"stsd", header, *entries)

    def _protect_entry(self, data: bytes, entry: Box, track_id: int) -> bytes:
        if entry.kind not in PROTECTED_ENTRY:
            raise CaptureError(f"cannot encrypt a track of {entry.kind!r}: only H.264 and AAC")
        fields_end = entry.body + ENTRY_FIELDS[entry.kind]
        inner = list(boxes(data, fields_end, entry.end))
        avcc = next((found for found in inner if found.kind == b"avcC"), None)
        self._tracks[track_id] = _Track((data[avcc.body + 4] & 0x3) + 1 if avcc else 0)
        tenc = full_box(b"tenc", 0, 0, bytes([0, 0, 1, IV_SIZE]), self.kid)
        sinf = box(b"sinf", box(b"frma", entry.kind),
                   full_box(b"schm", 0, 0, SCHEME, struct.pack(">I", SCHEME_VERSION)), box(b"schi", tenc))
        return box(PROTECTED_ENTRY[entry.kind], data[entry.body:fields_end], *(_bytes(data, f) for f in inner), sinf)

    # --- fragments --------------------------------------------------------------------------

    def fragment(self, data: bytes, offset_clear: int, offset_written: int) -> bytes:
        """A run of boxes holding one ``moof mdat`` pair, at ``offset_clear`` in the muxer's output
        and ``offset_written`` in the file; encrypted, with its auxiliary information."""
        out, walked = [], list(_boxes(data))
        for position, found in enumerate(walked):
            if found.kind == b"mdat" and position and walked[position - 1].kind == b"moof":
                continue
            if found.kind == b"moof":
                if position + 1 == len(walked) or walked[position + 1].kind != b"mdat":
                    raise CaptureError("the muxer wrote a moof without its mdat")
                self._moved[offset_clear + found.offset] = offset_written + sum(map(len, out))
                out.append(self._protect_pair(data, found, walked[position + 1]))
            else:
                out.append(_bytes(data, found))
        return b"".join(out)

    def _protect_pair(self, data: bytes, moof: Box, mdat: Box) -> bytes:
        payload = bytearray(data[moof.offset:mdat.end])   # from the moof's first byte: data offsets index it
        trafs = []
        for traf in boxes(data, moof.body, moof.end):
            if traf.kind == b"traf":
                trafs.append((traf, self._encrypt_traf(data, moof, traf, payload)))
        growth = sum(len(senc) + len(saiz) + SAIO_SIZE for _, (senc, saiz) in trafs)
        children, position = [], moof.body - moof.offset
        for child in boxes(data, moof.body, moof.end):
            if child.kind != b"traf":
                children.append(_bytes(data, child))
                position += child.size
                continue
            aux = next(aux for traf, aux in trafs if traf.offset == child.offset)
            rebuilt = self._rebuild_traf(data, child, aux, growth, position)
            children.append(rebuilt)
            position += len(rebuilt)
        encrypted_mdat = bytes(payload[mdat.offset - moof.offset:])
        return box(b"moof", *children) + encrypted_mdat

    def _encrypt_traf(self, data: bytes, moof: Box, traf: Box, payload: bytearray) -> list[bytes]:
        """Encrypt the samples of one track fragment in ``payload``; its senc and saiz bodies."""
        track_id, default_size = _read_tfhd(data, _child(data, traf, b"tfhd"))
        track = self._tracks.get(track_id)
        if track is None:
            raise CaptureError(f"a fragment of track {track_id}, which the init part does not protect")
        records = []
        for start, size in _read_trun(data, _child(data, traf, b"trun"), default_size):
            iv = self._samples.to_bytes(IV_SIZE, "big")
            self._samples += 1
            sample = payload[start:start + size]
            subsamples = _subsamples(sample, track.nal_length_size) if track.nal_length_size else []
            payload[start:start + size] = self._encrypt(sample, iv, subsamples)
            records.append(iv + (_subsample_bytes(subsamples) if track.nal_length_size else b""))
        return [self._senc(records, bool(track.nal_length_size)), self._saiz(records)]

    def _encrypt(self, sample: bytearray, iv: bytes, subsamples: list[tuple[int, int]]) -> bytes:
        cipher = Cipher(algorithms.AES(bytes(self._key)), modes.CTR(iv + bytes(16 - IV_SIZE))).encryptor()
        if not subsamples:
            return cipher.update(bytes(sample))
        out, position = bytearray(), 0
        for clear, protected in subsamples:
            out += sample[position:position + clear]
            position += clear
            out += cipher.update(bytes(sample[position:position + protected]))
            position += protected
        return bytes(out)

    @staticmethod
    def _senc(records: list[bytes], subsamples: bool) -> bytes:
        return full_box(b"senc", 0, SENC_SUBSAMPLES if subsamples else 0, struct.pack(">I", len(records)), *records)

    @staticmethod
    def _saiz(records: list[bytes]) -> bytes:
        sizes = {len(record) for record in records}
        if len(sizes) == 1:
            return full_box(b"saiz", 0, 0, struct.pack(">BI", sizes.pop(), len(records)))
        if max(sizes) > 0xFF:
            raise CaptureError("a sample with too many NAL units for its auxiliary information")
        return full_box(b"saiz", 0, 0, struct.pack(">BI", 0, len(records)), bytes(len(r) for r in records))

    @staticmethod
    def _rebuild_traf(data: bytes, traf: Box, aux: list[bytes], growth: int, position: int) -> bytes:
        """The traf with its trun's data offset moved by ``growth`` and senc, saiz, saio added;
        ``position``: where it starts in the new moof (saio counts from the moof's first byte)."""
        senc, saiz = aux
        children = []
        for child in boxes(data, traf.body, traf.end):
            chunk = bytearray(_bytes(data, child))
            if child.kind == b"trun":
                offset = struct.unpack_from(">i", chunk, 16)[0]
                struct.pack_into(">i", chunk, 16, offset + growth)
            children.append(bytes(chunk))
        senc_samples = position + 8 + sum(map(len, children)) + 8 + 4 + 4   # past senc's header and count
        saio = full_box(b"saio", 0, 0, struct.pack(">II", 1, senc_samples))
        return box(b"traf", *children, senc, saiz, saio)

    # --- the trailer ------------------------------------------------------------------------

    def trailer(self, data: bytes) -> bytes:
        """``mfra`` with each random-access entry pointing at its moof as written."""
        return b"".join(self._move_mfra(data, found) if found.kind == b"mfra" else _bytes(data, found)
                        for found in _boxes(data))

    def _move_mfra(self, data: bytes, mfra: Box) -> bytes:
        chunk = bytearray(_bytes(data, mfra))
        for tfra in boxes(data, mfra.body, mfra.end):
            if tfra.kind == b"tfra":
                self._move_tfra(chunk, tfra.body - mfra.offset)
        return bytes(chunk)

    def _move_tfra(self, chunk: bytearray, body: int) -> None:
        version = chunk[body]
        sizes = struct.unpack_from(">I", chunk, body + 8)[0]
        count = struct.unpack_from(">I", chunk, body + 12)[0]
        wide = ">Q" if version == 1 else ">I"
        field = 8 if version == 1 else 4
        numbers = ((sizes >> 4) & 3) + ((sizes >> 2) & 3) + (sizes & 3) + 3
        position = body + 16
        for _ in range(count):
            clear = struct.unpack_from(wide, chunk, position + field)[0]
            if clear not in self._moved:
                raise CaptureError(f"the trailer names a moof at {clear}, which the muxer did not write")
            struct.pack_into(wide, chunk, position + field, self._moved[clear])
            position += 2 * field + numbers


def _boxes(data: bytes) -> list[Box]:
    try:
        return list(boxes(data))
    except BoxError as exc:
        raise CaptureError(f"the muxer wrote a malformed box: {exc}") from exc


def _child(data: bytes, parent: Box, kind: bytes) -> Box:
    found = next((child for child in boxes(data, parent.body, parent.end) if child.kind == kind), None)
    if found is None:
        raise CaptureError(f"a {parent.kind!r} box without {kind!r}")
    return found


def _rebuild(data: bytes, parent: Box, path: tuple[bytes, ...], change) -> bytes:
    """``parent`` with the box reached through ``path`` replaced by ``change(box)``."""
    if not path:
        return change(parent)
    return box(parent.kind, *(_rebuild(data, child, path[1:], change) if child.kind == path[0]
                              else _bytes(data, child) for child in boxes(data, parent.body, parent.end)))


def _read_tfhd(data: bytes, tfhd: Box) -> tuple[int, int | None]:
    """The track id and default sample size of a track fragment, whose base must be its moof."""
    flags = struct.unpack_from(">I", data, tfhd.body)[0] & 0xFFFFFF
    if flags & TFHD_BASE_OFFSET or not flags & TFHD_BASE_IS_MOOF:
        raise CaptureError("a track fragment whose data is not counted from its moof (default-base-is-moof)")
    track_id = struct.unpack_from(">I", data, tfhd.body + 4)[0]
    position = tfhd.body + 8 + 4 * bool(flags & TFHD_DESCRIPTION) + 4 * bool(flags & TFHD_DURATION)
    default_size = struct.unpack_from(">I", data, position)[0] if flags & TFHD_SIZE else None
    return track_id, default_size


def _read_trun(data: bytes, trun: Box, default_size: int | None) -> list[tuple[int, int]]:
    """(start from the moof's first byte, size) of each sample of a track run."""
    flags = struct.unpack_from(">I", data, trun.body)[0] & 0xFFFFFF
    if not flags & TRUN_DATA_OFFSET:
        raise CaptureError("a track run without its data offset")
    count, start = struct.unpack_from(">Ii", data, trun.body + 4)
    position = trun.body + 12 + 4 * bool(flags & TRUN_FIRST_FLAGS)
    samples = []
    for _ in range(count):
        position += 4 * bool(flags & TRUN_DURATION)
        if flags & TRUN_SIZE:
            size = struct.unpack_from(">I", data, position)[0]
            position += 4
        elif default_size is None:
            raise CaptureError("a track run without sample sizes")
        else:
            size = default_size
        position += 4 * bool(flags & TRUN_FLAGS) + 4 * bool(flags & TRUN_CTO)
        samples.append((start, size))
        start += size
    return samples


def _subsamples(sample: bytearray, length_size: int) -> list[tuple[int, int]]:
    """(clear, protected) byte counts: each coded slice encrypted after its length and header
    byte, every other NAL unit (SEI, parameter sets) in clear."""
    subsamples, clear, position = [], 0, 0
    while position < len(sample):
        size = int.from_bytes(sample[position:position + length_size], "big")
        if position + length_size + size > len(sample) or size == 0:
            raise CaptureError("an H.264 sample whose NAL unit lengths do not add up")
        if sample[position + length_size] & 0x1F in CODED_SLICE_NAL_TYPES and size > 1:
            clear += length_size + 1
            while clear > MAX_CLEAR:
                subsamples.append((MAX_CLEAR, 0))
                clear -= MAX_CLEAR
            subsamples.append((clear, size - 1))
            clear = 0
        else:
            clear += length_size + size
        position += length_size + size
    while clear > 0:
        subsamples.append((min(clear, MAX_CLEAR), 0))
        clear -= min(clear, MAX_CLEAR)
    return subsamples


def _subsample_bytes(subsamples: list[tuple[int, int]]) -> bytes:
    return struct.pack(">H", len(subsamples)) + b"".join(struct.pack(">HI", c, p) for c, p in subsamples)

