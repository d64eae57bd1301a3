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

from capture import CaptureError
from evidence.boxes import Box, boxes
from evidence.cenc import (
    COMMON_SYSTEM_ID,
    ENTRY_FIELDS,
    IV_SIZE,
    KEY_SIZE,
    PROTECTED_ENTRY,
    SCHEME,
    SCHEME_VERSION,
    SENC_SUBSAMPLES,
    TRACK_PATH,
    box,
    box_bytes,
    child,
    ctr,
    full_box,
    move_mfra,
    moved_trun,
    read_tfhd,
    read_trun,
    rebuild,
    track_id,
)

CODED_SLICE_NAL_TYPES = {1, 5}
MAX_CLEAR = 0xFFFF                                  # BytesOfClearData is 16 bits
SAIO_SIZE = 20                                      # one 32-bit offset

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
        return b"".join(self._protect_moov(data, found) if found.kind == b"moov" else box_bytes(data, found)
                        for found in boxes(data))

    def _protect_moov(self, data: bytes, moov: Box) -> bytes:
        children = [self._protect_trak(data, found) if found.kind == b"trak" else box_bytes(data, found)
                    for found in boxes(data, moov.body, moov.end)]
        pssh = full_box(b"pssh", 1, 0, COMMON_SYSTEM_ID, struct.pack(">I", 1), self.kid, struct.pack(">I", 0))
        return box(b"moov", *children, pssh)

    def _protect_trak(self, data: bytes, trak: Box) -> bytes:
        number = track_id(data, trak)
        return rebuild(data, trak, TRACK_PATH, lambda stsd: self._protect_stsd(data, stsd, number))

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
        return box(PROTECTED_ENTRY[entry.kind], data[entry.body:fields_end], *(box_bytes(data, f) for f in inner), sinf)

    # --- fragments --------------------------------------------------------------------------

    def fragment(self, data: bytes, offset_clear: int, offset_written: int) -> bytes:
        """A run of boxes holding one ``moof mdat`` pair, at ``offset_clear`` in the muxer's output
        and ``offset_written`` in the file; encrypted, with its auxiliary information."""
        out, walked = [], list(boxes(data))
        for position, found in enumerate(walked):
            if found.kind == b"mdat" and position and walked[position - 1].kind == b"moof":
                continue
            if found.kind == b"moof":
                if position + 1 == len(walked) or walked[position + 1].kind != b"mdat":
                    raise CaptureError("the muxer wrote a moof without its mdat")
                self._moved[offset_clear + found.offset] = offset_written + sum(map(len, out))
                out.append(self._protect_pair(data, found, walked[position + 1]))
            else:
                out.append(box_bytes(data, found))
        return b"".join(out)

    def _protect_pair(self, data: bytes, moof: Box, mdat: Box) -> bytes:
        payload = bytearray(data[moof.offset:mdat.end])   # from the moof's first byte: data offsets index it
        trafs = []
        for traf in boxes(data, moof.body, moof.end):
            if traf.kind == b"traf":
                trafs.append((traf, self._encrypt_traf(data, moof, traf, payload)))
        growth = sum(len(senc) + len(saiz) + SAIO_SIZE for _, (senc, saiz) in trafs)
        children, position = [], moof.body - moof.offset
        for inner in boxes(data, moof.body, moof.end):
            if inner.kind != b"traf":
                children.append(box_bytes(data, inner))
                position += inner.size
                continue
            aux = next(aux for traf, aux in trafs if traf.offset == inner.offset)
            rebuilt = self._rebuild_traf(data, inner, aux, growth, position)
            children.append(rebuilt)
            position += len(rebuilt)
        encrypted_mdat = bytes(payload[mdat.offset - moof.offset:])
        return box(b"moof", *children) + encrypted_mdat

    def _encrypt_traf(self, data: bytes, moof: Box, traf: Box, payload: bytearray) -> list[bytes]:
        """Encrypt the samples of one track fragment in ``payload``; its senc and saiz bodies."""
        number, default_size = read_tfhd(data, child(data, traf, b"tfhd"))
        track = self._tracks.get(number)
        if track is None:
            raise CaptureError(f"a fragment of track {number}, which the init part does not protect")
        records = []
        for start, size in read_trun(data, child(data, traf, b"trun"), default_size):
            iv = self._samples.to_bytes(IV_SIZE, "big")
            self._samples += 1
            sample = payload[start:start + size]
            subsamples = _subsamples(sample, track.nal_length_size) if track.nal_length_size else []
            payload[start:start + size] = self._encrypt(sample, iv, subsamples)
            records.append(iv + (_subsample_bytes(subsamples) if track.nal_length_size else b""))
        return [self._senc(records, bool(track.nal_length_size)), self._saiz(records)]

    def _encrypt(self, sample: bytearray, iv: bytes, subsamples: list[tuple[int, int]]) -> bytes:
        stream = ctr(self._key, iv)
        if not subsamples:
            return stream.update(bytes(sample))
        out, position = bytearray(), 0
        for clear, protected in subsamples:
            out += sample[position:position + clear]
            position += clear
            out += stream.update(bytes(sample[position:position + protected]))
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
        children = [moved_trun(box_bytes(data, inner), growth) if inner.kind == b"trun" else box_bytes(data, inner)
                    for inner in boxes(data, traf.body, traf.end)]
        senc_samples = position + 8 + sum(map(len, children)) + 8 + 4 + 4   # past senc's header and count
        saio = full_box(b"saio", 0, 0, struct.pack(">II", 1, senc_samples))
        return box(b"traf", *children, senc, saiz, saio)

    # --- the trailer ------------------------------------------------------------------------

    def trailer(self, data: bytes) -> bytes:
        """``mfra`` with each random-access entry pointing at its moof as written."""
        return b"".join(move_mfra(data, found, self._moved) if found.kind == b"mfra" else box_bytes(data, found)
                        for found in boxes(data))

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

