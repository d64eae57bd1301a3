"""The dock link's messages and their byte layouts (docs/dock-protocol.md, "Messages").

A message is a 5-byte header -- type (u8) and tag (u32) -- followed by its fields in a
fixed order; integers are big-endian. The layouts are declared once, in the annotations
of the classes below; encoding, parsing and the table in the document all follow them.
Parsing is strict: every message has exactly one encoding, and :func:`decode` accepts
only that (``decode(b).encode() == b``) or raises :class:`MessageError`.
"""
from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, fields
from typing import Annotated, Any, ClassVar, get_type_hints

from sync import MessageError
from sync.framing import MAX_PAYLOAD

VERSION = 1                  # the newest protocol version this code speaks
MIN_VERSION = 1              # the oldest one it still speaks
MAGIC = b"BCDL"              # opens every HELLO: "bodycam dock link"
MAX_CHUNK = 32768            # most data bytes in one DATA frame
MAX_WINDOW = 1024            # most DATA frames in flight
MAX_ID = 255                 # most UTF-8 bytes in an item id
HEADER = struct.Struct(">BI")


class Role(enum.IntEnum):
    DEVICE = 1
    DOCK = 2


class ErrorCode(enum.IntEnum):
    VERSION = 1        # no protocol version in common
    AUTH = 2           # not authenticated, or the signature or key is refused
    NOT_FOUND = 3      # no such item
    RANGE = 4          # offset beyond the end of the item
    RECEIPT = 5        # receipt refused: unknown item, wrong hash or bad signature
    UNSUPPORTED = 6    # this end cannot do that (e.g. set its clock)
    INTERNAL = 7       # the end failed (e.g. cannot read the item)


# --- field codecs --------------------------------------------------------------------------

class _Int:
    def __init__(self, spec: str, fmt: str) -> None:
        self.spec, self._struct = spec, struct.Struct(">" + fmt)

    def pack(self, value: int) -> bytes:
        try:
            return self._struct.pack(value)
        except struct.error as exc:
            raise MessageError(f"{value!r} does not fit a {self.spec}") from exc

    def unpack(self, buf: bytes, pos: int) -> tuple[Any, int]:
        end = pos + self._struct.size
        if end > len(buf):
            raise MessageError("message cut short")
        return self._struct.unpack_from(buf, pos)[0], end


class _Bytes:
    def __init__(self, size: int) -> None:
        self.spec, self.size = f"bytes{size}", size

    def pack(self, value: bytes) -> bytes:
        if len(value) != self.size:
            raise MessageError(f"{self.spec} field given {len(value)} bytes")
        return bytes(value)

    def unpack(self, buf: bytes, pos: int) -> tuple[Any, int]:
        end = pos + self.size
        if end > len(buf):
            raise MessageError("message cut short")
        return buf[pos:end], end


class _Str8:
    """u8 length (1..255) then that many bytes of UTF-8."""
    spec = "str8"

    def pack(self, value: str) -> bytes:
        raw = value.encode("utf-8")
        if not 1 <= len(raw) <= MAX_ID:
            raise MessageError(f"an id must be 1..{MAX_ID} bytes of UTF-8, got {len(raw)}")
        return bytes([len(raw)]) + raw

    def unpack(self, buf: bytes, pos: int) -> tuple[Any, int]:
        if pos >= len(buf):
            raise MessageError("message cut short")
        end = pos + 1 + buf[pos]
        if buf[pos] == 0 or end > len(buf):
            raise MessageError("bad id length")
        return _utf8(buf[pos + 1:end]), end


class _Rest:
    """All the bytes to the end of the message (only ever the last field)."""
    spec = "rest"

    def pack(self, value: bytes) -> bytes:
        return value

    def unpack(self, buf: bytes, pos: int) -> tuple[Any, int]:
        return buf[pos:], len(buf)


class _Text(_Rest):
    """UTF-8 text to the end of the message."""
    spec = "text"

    def pack(self, value: str) -> bytes:
        return value.encode("utf-8")

    def unpack(self, buf: bytes, pos: int) -> tuple[Any, int]:
        return _utf8(buf[pos:]), len(buf)


@dataclass(frozen=True, slots=True)
class Item:
    """One thing to transfer, as OFFER lists it: id, size, SHA-256 and priority (higher first)."""
    id: str
    size: int
    sha256: bytes
    priority: int = 0


class _Items:
    """u16 count, then per item: priority u8, size u64, sha256 bytes32, id str8."""
    spec = "items"
    _count, _fixed = struct.Struct(">H"), struct.Struct(">BQ32s")

    def pack(self, value: tuple[Item, ...]) -> bytes:
        parts = [self._count.pack(len(value))]
        for item in value:
            if len(item.sha256) != 32:
                raise MessageError(f"item {item.id!r}: a SHA-256 is 32 bytes")
            try:
                parts.append(self._fixed.pack(item.priority, item.size, item.sha256))
            except struct.error as exc:
                raise MessageError(f"item {item.id!r} does not fit its fields") from exc
            parts.append(_Str8().pack(item.id))
        return b"".join(parts)

    def unpack(self, buf: bytes, pos: int) -> tuple[Any, int]:
        if pos + 2 > len(buf):
            raise MessageError("message cut short")
        (count,), pos = self._count.unpack_from(buf, pos), pos + 2
        items = []
        for _ in range(count):
            if pos + self._fixed.size > len(buf):
                raise MessageError("message cut short")
            priority, size, sha256 = self._fixed.unpack_from(buf, pos)
            item_id, pos = _Str8().unpack(buf, pos + self._fixed.size)
            items.append(Item(item_id, size, sha256, priority))
        return tuple(items), pos


def _utf8(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MessageError("text is not UTF-8") from exc


U8 = Annotated[int, _Int("u8", "B")]
U16 = Annotated[int, _Int("u16", "H")]
U32 = Annotated[int, _Int("u32", "I")]
U64 = Annotated[int, _Int("u64", "Q")]
I64 = Annotated[int, _Int("i64", "q")]
Bytes4 = Annotated[bytes, _Bytes(4)]
Bytes32 = Annotated[bytes, _Bytes(32)]
Bytes64 = Annotated[bytes, _Bytes(64)]
Str8 = Annotated[str, _Str8()]
Rest = Annotated[bytes, _Rest()]
Text = Annotated[str, _Text()]
Items = Annotated[tuple, _Items()]


# --- messages ------------------------------------------------------------------------------

TYPES: dict[int, type[Message]] = {}


@dataclass(frozen=True, slots=True)
class Message:
    """Header fields common to all messages. ``tag`` pairs a request with its answer(s)."""
    CODE: ClassVar[int]
    NAME: ClassVar[str]
    FIELDS: ClassVar[tuple[tuple[str, Any], ...]]
    tag: int

    def __post_init__(self) -> None:
        if not 0 <= self.tag < 2**32:
            raise MessageError(f"tag {self.tag} does not fit a u32")

    def encode(self) -> bytes:
        parts = [HEADER.pack(self.CODE, self.tag)]
        parts += [codec.pack(getattr(self, name)) for name, codec in self.FIELDS]
        payload = b"".join(parts)
        if len(payload) > MAX_PAYLOAD:
            raise MessageError(f"{self.NAME} of {len(payload)} bytes exceeds the maximum frame")
        return payload


def _message(code: int, name: str):
    """Register a message class: its wire fields are its annotated dataclass fields, in order."""
    def register(cls):
        cls = dataclass(frozen=True, slots=True)(cls)
        hints = get_type_hints(cls, include_extras=True)
        cls.CODE, cls.NAME = code, name
        cls.FIELDS = tuple((f.name, hints[f.name].__metadata__[0]) for f in fields(cls) if f.name != "tag")
        TYPES[code] = cls
        return cls
    return register


@_message(0x01, "HELLO")
class Hello(Message):
    magic: Bytes4
    version_min: U8
    version_max: U8
    role: U8
    window: U16          # DATA frames the sender will have in flight / accept beyond an ACK
    chunk: U16           # largest DATA payload the sender will send / accept
    public_key: Bytes32  # the sender's Ed25519 public key: its identity
    nonce: Bytes32       # fresh random bytes: makes every session's transcript unique

    def __post_init__(self) -> None:
        Message.__post_init__(self)
        if self.magic != MAGIC:
            raise MessageError("HELLO without the protocol's magic")
        if not 1 <= self.version_min <= self.version_max:
            raise MessageError(f"bad version range {self.version_min}..{self.version_max}")
        if self.role not in set(Role):
            raise MessageError(f"unknown role {self.role}")
        _check_window(self.window)
        _check_chunk(self.chunk)


@_message(0x02, "AUTH")
class Auth(Message):
    signature: Bytes64


@_message(0x03, "LIST")
class ListItems(Message):
    start: U32


@_message(0x04, "OFFER")
class Offer(Message):
    start: U32
    total: U32
    items: Items

    def __post_init__(self) -> None:
        Message.__post_init__(self)
        if self.start + len(self.items) > self.total:
            raise MessageError(f"OFFER runs past its total ({self.start}+{len(self.items)} > {self.total})")


@_message(0x05, "GET")
class Get(Message):
    offset: U64
    id: Str8


@_message(0x06, "DATA")
class Data(Message):
    offset: U64
    data: Rest           # empty only at the item's end: the answer to a GET with offset = size

    def __post_init__(self) -> None:
        Message.__post_init__(self)
        if len(self.data) > MAX_CHUNK:
            raise MessageError(f"DATA carries at most {MAX_CHUNK} bytes, not {len(self.data)}")


@_message(0x07, "ACK")
class Ack(Message):
    offset: U64          # every byte before this one has been received in order
    window: U16          # DATA frames the receiver accepts beyond ``offset``

    def __post_init__(self) -> None:
        Message.__post_init__(self)
        _check_window(self.window)


@_message(0x0C, "NAK")
class Nak(Message):
    offset: U64          # every byte before this one has been received in order: send again from here
    window: U16

    def __post_init__(self) -> None:
        Message.__post_init__(self)
        _check_window(self.window)


@_message(0x08, "RECEIPT")
class Receipt(Message):
    sha256: Bytes32
    signature: Bytes64
    id: Str8


@_message(0x09, "DONE")
class Done(Message):
    sha256: Bytes32
    id: Str8


@_message(0x0A, "SET_CLOCK")
class SetClock(Message):
    time_ns: I64         # the dock's UTC clock, nanoseconds since 1970


@_message(0x0B, "CLOCK")
class Clock(Message):
    time_ns: I64         # SET_CLOCK's time, echoed
    device_ns: I64       # the device's clock just before it was set


@_message(0x0E, "ERROR")
class Error(Message):
    code: U16
    text: Text


@_message(0x0F, "BYE")
class Bye(Message):
    pass


def _check_window(window: int) -> None:
    if not 1 <= window <= MAX_WINDOW:
        raise MessageError(f"window must be 1..{MAX_WINDOW} frames, got {window}")


def _check_chunk(chunk: int) -> None:
    if not 1 <= chunk <= MAX_CHUNK:
        raise MessageError(f"chunk must be 1..{MAX_CHUNK} bytes, got {chunk}")


def decode(payload: bytes) -> Message:
    """Parse one frame's payload; raises :class:`MessageError` unless it is exactly one message."""
    if len(payload) < HEADER.size:
        raise MessageError("shorter than a message header")
    code, tag = HEADER.unpack_from(payload)
    cls = TYPES.get(code)
    if cls is None:
        raise MessageError(f"unknown message type 0x{code:02x}")
    values, pos = [], HEADER.size
    for _, codec in cls.FIELDS:
        value, pos = codec.unpack(payload, pos)
        values.append(value)
    if pos != len(payload):
        raise MessageError(f"{len(payload) - pos} stray bytes after {cls.NAME}")
    return cls(tag, *values)


def layout(cls: type[Message]) -> str:
    """The body of a message type as the protocol document writes it: ``name:type ...``."""
    return " ".join(f"{name}:{codec.spec}" for name, codec in cls.FIELDS)
