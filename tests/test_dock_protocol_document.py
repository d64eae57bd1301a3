"""A dock written from docs/dock-protocol.md alone -- the standard library plus an Ed25519
library, none of our code -- pulls from the reference device over a real pty: framing, the
handshake, paging, a transfer with ACKs, an empty item and a GET at offset = size (answered
at once by an empty DATA), receipts. If this breaks, the document and the code disagree."""
from __future__ import annotations

import hashlib
import os
import struct
import time
import tty
from types import SimpleNamespace

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sync.ptywire import PtyWire
from sync.store import DirectorySource
from tests.test_link import DEVICE_KEY, device_on, files

# --- "Framing" ---------------------------------------------------------------------------

CRC_TABLE = []
for byte in range(256):
    crc = byte
    for _ in range(8):
        crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    CRC_TABLE.append(crc)


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc = (crc >> 8) ^ CRC_TABLE[(crc ^ byte) & 0xFF]
    return crc ^ 0xFFFFFFFF


def cobs_encode(data: bytes) -> bytes:
    out, block = bytearray(), bytearray()
    for byte in data:
        if byte:
            block.append(byte)
        if not byte or len(block) == 254:
            out += bytes([len(block) + 1]) + block
            block.clear()
    return bytes(out + bytes([len(block) + 1]) + block)


def cobs_decode(body: bytes) -> bytes:
    out, i = bytearray(), 0
    while i < len(body):
        code = body[i]
        if code == 0 or i + code > len(body) + (1 if code == 1 else 0):
            raise ValueError("bad COBS")
        out += body[i + 1:i + code]
        i += code
        if code < 255 and i < len(body):
            out.append(0)
    return bytes(out)


def frame(payload: bytes) -> bytes:
    return b"\x00" + cobs_encode(payload + crc32c(payload).to_bytes(4, "little")) + b"\x00"


def test_the_worked_example():
    assert crc32c(b"123456789") == 0xE3069283
    assert frame(bytes.fromhex("0f00000001")) == bytes.fromhex("00020f01010601e3f008da00")


# --- "Messages" and "A session", from the dock's side ------------------------------------

HELLO, AUTH, LIST, OFFER, GET, DATA, ACK, RECEIPT, DONE, BYE = 1, 2, 3, 4, 5, 6, 7, 8, 9, 0x0F
WINDOW, CHUNK = 4, 1024


class DocumentDock:
    def __init__(self, path: str, key: Ed25519PrivateKey) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.fd)
        self.key = key
        self.public_key = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.tag, self.buffer, self.sent = 1000, b"", []

    def send(self, kind: int, tag: int, body: bytes = b"") -> bytes:
        payload = struct.pack(">BI", kind, tag) + body
        os.write(self.fd, frame(payload))
        self.sent.append(kind)
        return payload

    def next_message(self, deadline: float) -> tuple[int, int, bytes, bytes]:
        """(type, tag, body, payload) of the next frame with a good CRC."""
        while time.monotonic() < deadline:
            if b"\x00" in self.buffer:
                body, self.buffer = self.buffer.split(b"\x00", 1)
                if body:
                    raw = cobs_decode(body)
                    payload, crc = raw[:-4], raw[-4:]
                    if crc32c(payload).to_bytes(4, "little") == crc:
                        kind, tag = struct.unpack_from(">BI", payload)
                        return kind, tag, payload[5:], payload
                continue
            self.buffer += os.read(self.fd, 65536)
        raise AssertionError("the device did not answer in time")

    def request(self, kind: int, body: bytes = b"") -> tuple[int, bytes, bytes, bytes]:
        """Send a request with a new tag and return (type, body, payload, request payload) of its answer."""
        self.tag += 1
        sent = self.send(kind, self.tag, body)
        deadline = time.monotonic() + 10
        while True:
            answer, tag, answer_body, payload = self.next_message(deadline)
            if tag == self.tag:
                return answer, answer_body, payload, sent

    def handshake(self) -> bytes:
        """HELLO and AUTH; returns the device's raw public key."""
        hello = struct.pack(">4sBBBHH32s32s", b"BCDL", 1, 1, 2, WINDOW, CHUNK, self.public_key, os.urandom(32))
        kind, body, device_hello, dock_hello = self.request(HELLO, hello)
        assert kind == HELLO
        magic, _, _, role, window, chunk, device_key, _ = struct.unpack(">4sBBBHH32s32s", body)
        assert (magic, role) == (b"BCDL", 1)
        transcript = hashlib.sha256(dock_hello + device_hello).digest()
        kind, body, _, _ = self.request(AUTH, self.key.sign(b"bodycam-dock/1 auth\n" + b"\x02" + transcript))
        assert kind == AUTH
        Ed25519PublicKey.from_public_bytes(device_key).verify(body, b"bodycam-dock/1 auth\n" + b"\x01" + transcript)
        return device_key

    def offer(self) -> list[tuple[str, int, bytes]]:
        items: list[tuple[str, int, bytes]] = []
        while True:
            kind, body, _, _ = self.request(LIST, struct.pack(">I", len(items)))
            assert kind == OFFER
            _, total, count = struct.unpack_from(">IIH", body)
            pos = 10
            for _ in range(count):
                _, size, sha256, length = struct.unpack_from(">BQ32sB", body, pos)
                items.append((body[pos + 42:pos + 42 + length].decode("utf-8"), size, sha256))
                pos += 42 + length
            if len(items) >= total:
                return items

    def fetch(self, item_id: str, size: int, offset: int = 0) -> bytes:
        """GET from ``offset``; take DATA in order, ACK every window/2 frames and at the end."""
        self.tag += 1
        get_tag = self.tag
        self.send(GET, get_tag, struct.pack(">QB", offset, len(item_id.encode())) + item_id.encode())
        held, taken, deadline = bytearray(), 0, time.monotonic() + 10
        while True:
            kind, tag, body, _ = self.next_message(deadline)
            if kind != DATA or tag != get_tag:
                continue
            (at,), data = struct.unpack_from(">Q", body), body[8:]
            if not data:
                assert at == size == offset + len(held)
                return bytes(held)
            if at == offset + len(held):
                held += data
                taken += 1
                if taken % max(1, WINDOW // 2) == 0 or offset + len(held) == size:
                    self.send(ACK, get_tag, struct.pack(">QH", offset + len(held), WINDOW))
                if offset + len(held) == size:
                    return bytes(held)

    def receipt(self, device_key: bytes, item_id: str, sha256: bytes) -> int:
        signature = self.key.sign(b"bodycam-dock/1 receipt\n" + device_key + sha256 + item_id.encode())
        kind, _, _, _ = self.request(RECEIPT, sha256 + signature + bytes([len(item_id.encode())]) + item_id.encode())
        return kind


def test_a_dock_from_the_document_pulls_everything(tmp_path):
    made = files(tmp_path / "spool", {"empty": 0, "a/one": 3000, "b": 10})
    source = DirectorySource(tmp_path / "spool")
    key = Ed25519PrivateKey.generate()
    enrolled = SimpleNamespace(public_key=key.public_key().public_bytes(serialization.Encoding.Raw,
                                                                        serialization.PublicFormat.Raw))
    with PtyWire() as wire, device_on(wire.a, source, trusted=(enrolled,)) as device:
        dock = DocumentDock(wire.b, key)
        try:
            device_key = dock.handshake()
            assert device_key == DEVICE_KEY.public_key
            items = dock.offer()
            assert sorted(item_id for item_id, _, _ in items) == sorted(made)
            for item_id, size, sha256 in items:
                data = dock.fetch(item_id, size)
                assert data == made[item_id] and hashlib.sha256(data).digest() == sha256
                if item_id == "b":       # a dock that holds it whole may still ask: answered at once
                    assert dock.fetch(item_id, size, offset=size) == b""
                assert dock.receipt(device_key, item_id, sha256) == DONE
            dock.request(BYE)
        finally:
            os.close(dock.fd)
    assert sorted(device.stats.receipts) == sorted(made)
    assert dock.sent.count(GET) == 4 and dock.sent.count(ACK) >= 2      # every GET answered the first time
    assert ("empty", 0) in device.stats.gets and ("b", 10) in device.stats.gets
