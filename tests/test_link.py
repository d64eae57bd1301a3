"""The dock link end to end, over real pseudo-terminals opened with pyserial, through a relay
that drops, corrupts, duplicates and delays frames and cuts the cable. No timed asserts:
every wait is bounded and generous, every assert is about what arrived."""
from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import random
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import serial
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings, strategies as st

from bodycam_threads import OwnedThread
from evidence.keys import FileSigner
from evidence.receipts import RECEIPT_DOMAIN
from sync import LinkDown, PeerError, PortError
from sync.auth import Ed25519Authenticator
from sync.device import Device
from sync.dock import Dock, PullReport
from sync.framing import FrameDecoder, encode_frame
from sync.link import Incoming, Link, LinkConfig, Outgoing, PortHub, open_port
from sync.messages import MAGIC, Ack, Bye, Data, Done, ErrorCode, Hello, Item, Nak, Offer, Role, decode
from sync.ptywire import Faults, PtyWire
from sync.store import PARTIAL, DirectorySink, DirectorySource
from tests.waiting import wait_for

CONFIG = LinkConfig(window=8, chunk=4096, rto=0.1, dead_after=0.4)
WINDOW = CONFIG.window * CONFIG.chunk


class Key:
    """An Ed25519 key in memory (the device's real one lives in evidence.keys.FileSigner)."""

    def __init__(self) -> None:
        self._key = Ed25519PrivateKey.generate()
        self.public_key = self._key.public_key().public_bytes(serialization.Encoding.Raw,
                                                              serialization.PublicFormat.Raw)

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)


DEVICE_KEY, DOCK_KEY = Key(), Key()


def files(folder: Path, sizes: dict[str, int], seed: int = 0) -> dict[str, bytes]:
    rng = random.Random(seed)
    made = {}
    for name, size in sizes.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        made[name] = rng.randbytes(size)
        (folder / name).write_bytes(made[name])
    return made


def assert_arrived_once(made: dict[str, bytes], dest: Path) -> None:
    """Every file is in ``dest`` once, byte-identical, and nothing else (no partial left)."""
    found = {p.relative_to(dest).as_posix(): p.read_bytes() for p in dest.rglob("*")
             if p.is_file() and PARTIAL not in p.parts}
    assert found.keys() == made.keys()
    assert all(found[name] == data for name, data in made.items())
    assert not any((dest / PARTIAL).iterdir())


@contextlib.contextmanager
def device_on(path: str, source: DirectorySource, config: LinkConfig = CONFIG, trusted=(DOCK_KEY,), set_clock=None):
    port = open_port(path)
    device = Device(port, source, Ed25519Authenticator(DEVICE_KEY, [k.public_key for k in trusted]), config=config,
                    set_clock=set_clock)
    stop = threading.Event()
    thread = OwnedThread(device.serve, "device", args=(stop,), stopping=stop)
    thread.start()
    try:
        yield device
    finally:
        try:
            thread.stop(10)
        finally:
            port.close()


def pull(path: str, dest: Path, config: LinkConfig = CONFIG, auth=None, **options) -> PullReport:
    port = open_port(path)
    try:
        auth = auth or Ed25519Authenticator(DOCK_KEY, [DEVICE_KEY.public_key])
        return Dock(port, DirectorySink(dest), auth, config=config, **options).pull(patience=20)
    finally:
        port.close()


@pytest.fixture(params=["own thread", "port hub"])
def hub(request):
    """How the dock's link reads its port: in the dock's own thread (``bodycam-station pull``),
    or in a :class:`PortHub`'s thread that reads every bay's port (the dock service)."""
    if request.param == "own thread":
        yield None
    else:
        with PortHub() as hub:
            yield hub
            assert_hub_serves(hub)


def assert_hub_serves(hub: PortHub) -> None:
    """The hub's thread still reads: a link attached now receives a frame its peer sends."""
    with PtyWire() as wire:
        port, peer = open_port(wire.a), open_port(wire.b)
        try:
            link = Link(port, hub=hub)
            peer.write(encode_frame(Bye(99).encode()))
            assert link.receive(10) == Bye(99)
            link.close()
        finally:
            port.close()
            peer.close()


def test_everything_arrives_once_and_is_receipted(tmp_path, hub):
    made = files(tmp_path / "spool", {"empty": 0, "one": 1, "a/b/chunk": 4096, "a/odd": 4097, "big": 300_000})
    source = DirectorySource(tmp_path / "spool")
    set_to = []
    device_clock = lambda dock_ns: set_to.append(dock_ns) or dock_ns - 5_000_000_000   # 5 s slow
    with PtyWire() as wire, device_on(wire.a, source, set_clock=device_clock) as device:
        report = pull(wire.b, tmp_path / "dock", clock=time.time_ns, hub=hub)
    assert_arrived_once(made, tmp_path / "dock")
    assert sorted(report.items) == sorted(made) and not report.failed
    assert sorted(device.stats.receipts) == sorted(made) == sorted(source.receipts)
    assert report.drops == 0 and device.stats.rewinds == 0 and not device.stats.refused
    assert len(set_to) == 1 and report.clock_offset_ns == -5_000_000_000


def test_drops_corruption_duplicates_and_delays(tmp_path, hub):
    # Enough frames that each kind of fault surely happens (a kind missing by chance fails the test).
    made = files(tmp_path / "spool", {"x": 600_000, "y": 300_001, "z": 1}, seed=1)
    faults = Faults(drop=0.04, corrupt=0.04, duplicate=0.04, delay=0.04, seed=7)
    source = DirectorySource(tmp_path / "spool")
    with PtyWire(faults=faults) as wire, device_on(wire.a, source) as device:
        report = pull(wire.b, tmp_path / "dock", hub=hub)
    assert_arrived_once(made, tmp_path / "dock")
    assert sorted(device.stats.receipts) == sorted(made) and sorted(report.items) == sorted(made)
    assert all(count > 0 for name, count in wire.counts.items() if name != "cut")
    assert device.stats.rewinds > 0


@pytest.mark.parametrize("rate", [0.01, 0.001])
def test_corrupted_frames_cost_a_go_back_each_not_a_session(tmp_path, rate):
    """A relay changes one byte in 1 % (0.1 %) of the frames, both directions: the pull
    completes byte-identical in one session, and each corrupted frame costs at most one
    window sent again (a NAK's go-back; bench/bench_link.py times it against a clean pull)."""
    made = files(tmp_path / "spool", {"clip": 3_000_000, "small": 5000}, seed=4)
    with PtyWire(faults=Faults(corrupt=rate, seed=3)) as wire, \
            device_on(wire.a, DirectorySource(tmp_path / "spool")) as device:
        report = pull(wire.b, tmp_path / "dock")
    assert_arrived_once(made, tmp_path / "dock")
    assert sorted(report.items) == sorted(made) and report.drops == 0
    corrupted = wire.counts["corrupt"]
    assert corrupted > 0 and device.stats.rewinds <= corrupted
    assert device.stats.data_bytes - sum(map(len, made.values())) <= corrupted * WINDOW


def test_get_at_the_end_and_an_empty_item_complete_at_once(tmp_path):
    """An empty item and one the dock already holds whole need no DATA: the reference dock
    sends no GET for them, and a GET at offset = size is answered by one empty DATA (see
    tests/test_dock_protocol_document.py for a dock that asks)."""
    made = files(tmp_path / "spool", {"empty": 0, "held": 7000}, seed=5)
    held = Item("held", 7000, hashlib.sha256(made["held"]).digest())
    partial = DirectorySink(tmp_path / "dock").resume(held)
    partial.write(made["held"])
    partial.close()
    slow = LinkConfig(rto=5.0, dead_after=20.0)           # a wait for any answer would show as a retry
    with PtyWire(record=True) as wire, device_on(wire.a, DirectorySource(tmp_path / "spool"), slow) as device:
        report = pull(wire.b, tmp_path / "dock", slow)
        sent = FrameDecoder().feed(bytes(wire.recorded[1]))
    assert_arrived_once(made, tmp_path / "dock")
    assert sorted(report.items) == sorted(made) and sorted(device.stats.receipts) == sorted(made)
    requests = [decode(payload) for payload in sent]
    assert len(requests) == len({message.tag for message in requests})      # nothing was sent twice
    assert device.stats.gets == [] and report.resumed == []


def test_cable_cut_mid_file_resumes_from_what_the_dock_holds(tmp_path, hub):
    made = files(tmp_path / "spool", {"clip": 600_000}, seed=2)
    with PtyWire() as wire, device_on(wire.a, DirectorySource(tmp_path / "spool")) as device:
        cut = wire.cut_after(200_000, seconds=1.0)        # longer than dead_after: both sides give up
        report = pull(wire.b, tmp_path / "dock", hub=hub)
    assert cut.is_set()
    assert_arrived_once(made, tmp_path / "dock")
    assert report.drops >= 1 and len(report.resumed) == 1
    (name, offset), = report.resumed
    assert name == "clip" and 0 < offset < 600_000
    assert device.stats.gets == [("clip", 0), ("clip", offset)]
    assert device.stats.data_bytes - 600_000 <= WINDOW        # at most one window sent twice


def test_dock_killed_mid_file_and_restarted_resumes(tmp_path):
    made = files(tmp_path / "spool", {"clip": 1_500_000}, seed=3)
    dock_key = FileSigner.generate(tmp_path / "dock.pem")
    dest = tmp_path / "dock"

    def dock_process(port: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "sync", "pull", "--port", port, "--dir", str(dest), "--key", str(tmp_path / "dock.pem"),
             "--trust", DEVICE_KEY.public_key.hex(), "--window", "8", "--chunk", "4096", "--rto", "0.1",
             "--dead-after", "0.4"], stdout=subprocess.PIPE, text=True)

    with PtyWire() as wire, device_on(wire.a, DirectorySource(tmp_path / "spool"), trusted=(dock_key,)) as device:
        cut = wire.cut_after(700_000)                     # cut until mended
        first = dock_process(wire.b)
        assert cut.wait(timeout=60)
        partial = dest / PARTIAL / hashlib.sha256(made["clip"]).hexdigest()
        wait_for(lambda: partial.exists() and partial.stat().st_size > 0, "a partial copy with bytes in it")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        held = partial.stat().st_size
        second = dock_process(wire.b)
        wire.mend()
        out, _ = second.communicate(timeout=60)
    assert second.returncode == 0
    report = json.loads(out)
    assert 0 < held < 1_500_000 and report["resumed"] == [["clip", held]]
    assert device.stats.gets[0] == ("clip", 0) and device.stats.gets[-1] == ("clip", held)
    assert device.stats.receipts == ["clip"]
    assert_arrived_once(made, dest)


def test_unenrolled_dock_gets_nothing(tmp_path):
    files(tmp_path / "spool", {"secret": 1000})
    stranger = Ed25519Authenticator(Key(), [DEVICE_KEY.public_key])
    with PtyWire() as wire, device_on(wire.a, DirectorySource(tmp_path / "spool")) as device:
        with pytest.raises(PeerError) as refused:
            pull(wire.b, tmp_path / "dock", auth=stranger)
    assert refused.value.code == ErrorCode.AUTH
    assert device.stats.gets == [] and device.stats.receipts == []
    assert device.stats.refused and "not enrolled" in device.stats.refused[0]
    assert not (tmp_path / "dock" / "secret").exists()


class ForgingDock(Ed25519Authenticator):
    """A dock with an enrolled key whose receipts are not what it signed."""

    def sign(self, data: bytes) -> bytes:
        signature = super().sign(data)
        return bytes(64) if data.startswith(RECEIPT_DOMAIN) else signature


def test_forged_receipt_releases_nothing(tmp_path):
    files(tmp_path / "spool", {"clip": 20_000})
    source = DirectorySource(tmp_path / "spool")
    with PtyWire() as wire, device_on(wire.a, source) as device:
        report = pull(wire.b, tmp_path / "dock", auth=ForgingDock(DOCK_KEY, [DEVICE_KEY.public_key]))
    assert "receipt refused" in report.failed["clip"] and report.items == []
    assert source.receipts == {} and device.stats.receipts == []
    assert any("bad signature" in line for line in device.stats.refused)


def test_a_replayed_dock_session_gets_nothing_and_is_logged(tmp_path, caplog):
    """Everything a genuine, enrolled dock sent in a whole session -- HELLO, AUTH, LIST, GET,
    ACKs, RECEIPT, BYE -- recorded on the cable and played back to the device later: the
    device's fresh nonce makes the old AUTH signature fail, so nothing is listed, sent or
    released, and each refusal is logged."""
    files(tmp_path / "spool", {"clip": 50_000})
    with PtyWire(record=True) as wire, device_on(wire.a, DirectorySource(tmp_path / "spool")):
        assert pull(wire.b, tmp_path / "dock").items == ["clip"]
        recorded = bytes(wire.recorded[1])
    source = DirectorySource(tmp_path / "spool")
    with PtyWire() as wire, device_on(wire.a, source) as device:
        port = open_port(wire.b)
        try:
            port.write(recorded)
            answers = answers_until_bye(port)
        finally:
            port.close()
    assert isinstance(answers[0], Hello)
    assert not any(isinstance(answer, (Offer, Data, Done)) for answer in answers)
    assert device.stats.gets == [] and device.stats.receipts == [] and source.receipts == {}
    assert "signature fails" in device.stats.refused[0]
    assert any(line.startswith("RECEIPT: authenticate first") for line in device.stats.refused)
    logged = [record.getMessage() for record in caplog.records if record.name == "sync.device"]
    assert len(logged) >= len(device.stats.refused) and "refused AUTH" in logged[0]


def answers_until_bye(port, timeout: float = 20.0) -> list:
    decoder, answers, deadline = FrameDecoder(), [], time.monotonic() + timeout
    port.timeout = 0.05
    while time.monotonic() < deadline:
        answers += [decode(payload) for payload in decoder.feed(port.read(max(1, port.in_waiting)))]
        if answers and isinstance(answers[-1], Bye):
            return answers
    raise AssertionError(f"no BYE after {answers}")


@pytest.fixture(scope="module")
def raw_device(tmp_path_factory):
    """A device on one end of a pty pair; the test speaks raw bytes on the other end."""
    spool = tmp_path_factory.mktemp("spool")
    files(spool, {"clip": 1000})
    with PtyWire() as wire, device_on(wire.a, DirectorySource(spool)):
        port = open_port(wire.b)
        yield port
        port.close()


def first_answer(port, timeout: float = 10.0):
    decoder, deadline = FrameDecoder(), time.monotonic() + timeout
    while time.monotonic() < deadline:
        for payload in decoder.feed(port.read(max(1, port.in_waiting))):
            return decode(payload)
    raise AssertionError("no answer")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(noise=st.binary(max_size=300), framed=st.lists(st.binary(max_size=40), max_size=3), tag=st.integers(0, 2**32 - 1))
def test_garbage_is_never_answered(raw_device, noise, framed, tag):
    """Arbitrary bytes, and well-framed payloads that are not messages, get no answer at all:
    the first thing the device says afterwards answers the HELLO that follows them."""
    port = raw_device
    port.timeout = 0.05
    junk = [payload for payload in framed if not parses(payload)]
    hello = Hello(tag, MAGIC, 1, 1, Role.DOCK, 8, 4096, DOCK_KEY.public_key, os.urandom(32))
    port.write(noise + b"".join(encode_frame(p) for p in junk) + encode_frame(hello.encode()))
    answer = first_answer(port)
    assert isinstance(answer, Hello) and answer.tag == tag and answer.role == Role.DEVICE


def parses(payload: bytes) -> bool:
    try:
        decode(payload)
        return True
    except ValueError:
        return False


def test_large_frames_on_a_slow_line_are_not_sent_twice(tmp_path):
    """At 46 kB/s (460,800 baud) one 32 KiB frame takes 0.7 s, longer than the RTO: the dock
    sees bytes coming and does not send the device back, so nothing is sent twice."""
    made = files(tmp_path / "spool", {"clip": 200_000})
    config = LinkConfig()                                 # the defaults: 8 frames of 32 KiB, RTO 0.2 s
    with PtyWire(rate=46_080) as wire, device_on(wire.a, DirectorySource(tmp_path / "spool"), config) as device:
        report = pull(wire.b, tmp_path / "dock", config)
    assert report.items == ["clip"]
    assert_arrived_once(made, tmp_path / "dock")
    assert device.stats.rewinds == 0 and device.stats.data_bytes == 200_000


def test_a_line_too_slow_for_a_half_window_within_dead_after_keeps_its_session(tmp_path):
    """At 46 kB/s half the window (4 frames of 32 KiB) takes 2.8 s, longer than the device's
    2 s of patience: the dock tells the device it is still there while frames arrive, so the
    session is not dropped and nothing is resumed or sent twice (at 115,200 baud the same
    happens with the default 5 s)."""
    made = files(tmp_path / "spool", {"clip": 300_000})
    config = LinkConfig(dead_after=2.0)
    with PtyWire(rate=46_080) as wire, device_on(wire.a, DirectorySource(tmp_path / "spool"), config) as device:
        report = pull(wire.b, tmp_path / "dock", config)
    assert report.items == ["clip"] and report.drops == 0 and report.resumed == []
    assert_arrived_once(made, tmp_path / "dock")
    assert device.stats.sessions == 1 and device.stats.data_bytes == 300_000


def test_a_peer_that_stops_reading_brings_the_link_down(hub):
    """Nobody reads end b: the ptys and the relay fill up, then the link says so instead of
    blocking; closing it then gives up on the queued bytes (CLOSE_TIMEOUT) and returns."""
    with PtyWire() as wire:
        port = open_port(wire.a)
        try:
            link = Link(port, write_timeout=0.3, hub=hub)
            link.send(*(Data(1, offset, bytes(32768)) for offset in range(0, 4 << 20, 32768)))
            with pytest.raises(LinkDown, match="stopped reading"):
                while True:
                    link.receive(1.0)
            assert link.receive(0.2) is None      # the stale queue went with it: no endless LinkDown
            link.close()
        finally:
            port.close()


def test_bytes_that_never_become_a_frame_stop_counting_as_a_frame_arriving(hub):
    """A stream of bytes without a delimiter keeps a dock from calling the line silent only
    for one largest frame's worth; after that it is noise, and the timers run (the document's
    bound on "bytes still arriving"). A valid frame counts again."""
    with PtyWire() as wire:
        port, peer = open_port(wire.a), open_port(wire.b)
        try:
            link = Link(port, hub=hub)

            def noise(nbytes: int) -> None:          # a little at a time: the ptys buffer only a few KiB
                for _ in range(0, nbytes, 4096):
                    peer.write(b"\x01" * 4096)
                    assert link.receive(0.01) is None

            noise(40_960)                                 # longer than any frame's body
            deadline = time.monotonic() + 10
            while link.dropped_frames == 0 and time.monotonic() < deadline:
                link.receive(0.05)
            assert link.dropped_frames == 1
            before = time.monotonic()
            noise(40_960)
            assert link.receive(0.3) is None and link.heard < before
            peer.write(encode_frame(Bye(7).encode()))
            assert link.receive(10) == Bye(7) and link.heard >= before
        finally:
            port.close()
            peer.close()


def test_one_hub_pulls_three_devices_at_once_over_faulty_lines(tmp_path):
    """Three docks on one port hub, each line dropping and corrupting frames: every file of
    every device arrives once, byte-identical, and is receipted."""
    made = [files(tmp_path / f"spool{n}", {"clip": 400_000 + n, "tail": 5_000}, seed=10 + n) for n in range(3)]
    sources = [DirectorySource(tmp_path / f"spool{n}") for n in range(3)]
    reports: dict[int, PullReport] = {}
    with PortHub() as hub, contextlib.ExitStack() as stack:
        wires = [stack.enter_context(PtyWire(faults=Faults(drop=0.02, corrupt=0.02, seed=n))) for n in range(3)]
        for wire, source in zip(wires, sources):
            stack.enter_context(device_on(wire.a, source))
        docks = [OwnedThread(lambda n=n: reports.setdefault(n, pull(wires[n].b, tmp_path / f"dock{n}", hub=hub)),
                             f"dock {n}") for n in range(3)]
        for dock in docks:
            dock.start()
        for dock in docks:
            dock.join(60)
    for n in range(3):
        assert_arrived_once(made[n], tmp_path / f"dock{n}")
        assert sorted(reports[n].items) == sorted(made[n]) == sorted(sources[n].receipts)


def test_a_port_that_fails_on_a_hub_fails_its_own_link_only():
    """The device end of one port goes away (its pty closed: reads fail with EIO) just after its
    last frame: that link's owner gets the frame, then the port's error, and the other link on
    the same hub goes on receiving."""
    master, slave = os.openpty()
    with PortHub() as hub, PtyWire() as wire:
        failing, working, peer = open_port(os.ttyname(slave)), open_port(wire.a), open_port(wire.b)
        os.close(slave)
        try:
            doomed, alive = Link(failing, hub=hub), Link(working, hub=hub)
            os.write(master, encode_frame(Bye(2).encode()))
            wait_for(lambda: not doomed._arrivals.empty(), "the hub to hand over the frame")
            os.close(master)
            wait_for(lambda: doomed._failure is not None, "the hub to meet the closed pty")
            assert doomed.receive(0) == Bye(2)      # what came before the failure is handed over first
            with pytest.raises(PortError, match="cannot read from the port"):
                doomed.receive(10)
            with pytest.raises(PortError):
                doomed.receive(0)                  # it stays failed: no silent wait for the timeout
            peer.write(encode_frame(Bye(3).encode()))
            assert alive.receive(10) == Bye(3)
        finally:
            for port in (failing, working, peer):
                port.close()


def test_a_link_closed_while_its_peer_floods_it_leaves_the_hub_serving():
    """A bay gives up while its line still pours in bytes: its link and its port are closed
    while the hub's thread may be reading them. The hub goes on serving every other port."""
    with PortHub() as hub, PtyWire() as wire:
        port, peer = open_port(wire.a), open_port(wire.b)
        peer.write_timeout = 0.1               # once nobody reads, the flood must still see ``stop``
        stop = threading.Event()

        def flood() -> None:
            while not stop.is_set():
                with contextlib.suppress(serial.SerialTimeoutException):
                    peer.write(encode_frame(Data(1, 0, bytes(32768)).encode()))

        flooding = OwnedThread(flood, "flood")
        flooding.start()
        try:
            for _ in range(20):
                link = Link(port, hub=hub)
                assert isinstance(link.receive(10), Data)
                link.close()
            port.close()
            assert_hub_serves(hub)
        finally:
            stop.set()
            port.close()
            flooding.join(10)
            peer.close()


def test_a_fault_reading_one_port_costs_that_link_only_not_the_hub(caplog):
    """Whatever goes wrong while the hub's thread serves one port (here its decoder breaks)
    reaches that link's owner as the port's error; the hub's thread goes on serving the rest."""
    with PortHub() as hub, PtyWire() as broken_wire, PtyWire() as wire:
        ports = [open_port(path) for path in (broken_wire.a, broken_wire.b, wire.a, wire.b)]
        try:
            broken, alive = Link(ports[0], hub=hub), Link(ports[2], hub=hub)

            def fail(data: bytes) -> list[bytes]:
                raise RuntimeError("decoder fault")
            broken._decoder.feed = fail
            ports[1].write(encode_frame(Bye(1).encode()))
            with pytest.raises(PortError, match="reading the port failed: decoder fault"):
                broken.receive(10)
            ports[3].write(encode_frame(Bye(2).encode()))
            assert alive.receive(10) == Bye(2)
            assert "decoder fault" in caplog.text
            assert_hub_serves(hub)
        finally:
            for port in ports:
                port.close()


def test_a_write_error_of_the_dock_storage_reaches_the_caller_and_keeps_a_sound_prefix(tmp_path):
    """The partial copy is stored in a thread of its own; when the disk refuses (here: a file
    size limit, EFBIG) the error is raised to the dock, and what is on disk is a prefix of
    the item from which the next session resumes."""
    data = random.Random(1).randbytes(3 << 20)
    item = Item("big", len(data), hashlib.sha256(data).digest())
    sink = DirectorySink(tmp_path)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, hard))
    try:
        partial = sink.resume(item)
        with pytest.raises(OSError) as refused:
            try:
                for start in range(0, len(data), 32768):
                    partial.write(data[start:start + 32768])
            finally:
                partial.close()
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old_handler)
    assert refused.value.errno == errno.EFBIG
    again = sink.resume(item)
    assert 0 < again.offset <= 1 << 20
    again.write(data[again.offset:])
    again.commit()
    assert (tmp_path / "big").read_bytes() == data


def test_sender_keeps_a_window_and_goes_back_only_on_a_nak():
    out = Outgoing(tag=1, start=0, size=10 * 100, chunk=100, window=4)
    sent = [out.take() for _ in range(4)]
    assert sent == [(0, 100), (100, 100), (200, 100), (300, 100)] and not out.ready()
    out.on_ack(Ack(1, 200, 4))
    assert out.ready() and out.take() == (400, 100)
    out.on_ack(Ack(1, 100, 4))                        # late: ignored
    assert (out.acked, out.next) == (200, 500)
    out.on_ack(Ack(1, 200, 4))                        # a repeated ACK (a duplicate on the line): no go-back
    assert (out.next, out.rewinds) == (500, 0)
    out.on_ack(Nak(1, 300, 4))                        # acknowledges 300 and sends the sender back to it
    assert (out.acked, out.next, out.rewinds) == (300, 300, 1)
    out.on_ack(Nak(1, 300, 4))                        # the same NAK again with nothing sent since: nothing lost
    assert (out.acked, out.next, out.rewinds) == (300, 300, 1)
    out.on_ack(Ack(1, 500, 2))                        # from before the go-back: skip ahead, smaller window
    assert (out.acked, out.next, out.window) == (500, 500, 2)
    out.on_ack(Ack(1, 5000, 4))                       # past the end: ignored
    assert out.acked == 500


def test_receiver_takes_data_in_order_and_naks_a_gap_once_per_go_back():
    incoming = Incoming(tag=1, start=0, size=1000, window=4, rto=60)
    assert incoming.accept(Data(1, 0, b"x" * 100)) and incoming.reply(0.0) == ()   # ACK every window/2 frames
    assert incoming.accept(Data(1, 100, b"x" * 100)) and incoming.reply(0.0) == (Ack(1, 200, 4),)
    assert not incoming.accept(Data(1, 100, b"x" * 100)) and incoming.reply(0.0) == ()   # duplicate
    assert not incoming.accept(Data(1, 300, b"x" * 100))                         # 200 was lost
    assert incoming.reply(0.0) == (Nak(1, 200, 4),) * 2
    assert not incoming.accept(Data(1, 400, b"x" * 100)) and incoming.reply(0.0) == ()   # same gap
    assert not incoming.accept(Data(1, 300, b"x" * 100))       # the sender went back and lost 200 again
    assert incoming.reply(0.0) == (Nak(1, 200, 4),) * 2
    assert incoming.accept(Data(1, 200, b"x" * 100)) and incoming.reply(0.0) == ()
    assert not incoming.accept(Data(1, 500, b"x" * 100))       # a new gap after progress: NAK at once
    assert incoming.reply(0.0) == (Nak(1, 300, 4),) * 2
    assert incoming.accept(Data(1, 300, b"x" * 700)) and incoming.done and incoming.reply(0.0) == (Ack(1, 1000, 4),)


def test_an_empty_data_takes_nothing():
    incoming = Incoming(tag=1, start=100, size=1000, window=8, rto=60)
    assert not incoming.accept(Data(1, 100, b"")) and incoming.expected == 100 and incoming.reply(0.0) == ()


def test_receiver_nudges_a_stalled_sender():
    incoming = Incoming(tag=1, start=0, size=1000, window=8, rto=0.05)
    assert incoming.accept(Data(1, 0, b"x" * 100))
    time.sleep(0.1)                                   # longer than the RTO
    assert incoming.reply(0.0) == (Nak(1, 100, 8),)


def test_a_frame_still_arriving_on_a_slow_line_is_no_stall():
    """Bytes came in within the RTO (a 32 KiB frame takes 1 s at 300 kbaud): no nudge, which
    would send the device back for nothing; once bytes stop too, the nudge comes."""
    incoming = Incoming(tag=1, start=0, size=1000, window=8, rto=0.05)
    assert incoming.accept(Data(1, 0, b"x" * 100))
    time.sleep(0.1)
    assert incoming.reply(heard=time.monotonic()) == ()
    assert incoming.idle(heard=time.monotonic()) < 0.05 < incoming.idle(heard=0.0)
    assert incoming.reply(heard=time.monotonic() - 0.1) == (Nak(1, 100, 8),)


def test_a_receiver_on_a_slow_line_acks_at_least_every_keepalive_once_data_came():
    """Fewer frames than half the window in ``keepalive`` seconds, bytes still arriving: an
    ACK all the same, so the sender does not take the silence for a dead dock; none before the
    transfer's first frame, when a reply would be its GET again."""
    incoming = Incoming(tag=1, start=0, size=1000, window=8, rto=60, keepalive=0.05)
    time.sleep(0.1)
    assert incoming.reply(heard=time.monotonic()) == ()
    assert incoming.accept(Data(1, 0, b"x" * 100))
    assert incoming.reply(heard=time.monotonic()) == (Ack(1, 100, 8),)     # silent for longer than keepalive
    assert incoming.reply(heard=time.monotonic()) == ()
    time.sleep(0.1)
    assert incoming.reply(heard=time.monotonic()) == (Ack(1, 100, 8),)
    assert incoming.reply(heard=time.monotonic()) == ()
