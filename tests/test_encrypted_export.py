"""An export of an encrypted session (issue 25): the encrypted originals byte for byte as
today, and for the recipient the session's content key and clear copies made by decryption
alone, each clear copy's SHA-256 on the record form beside the original's."""
from __future__ import annotations

import functools
import hashlib
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import av
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from evidence import EvidenceError
from evidence.encryption import ContentKey, enrol_agency_key, read_agency_key, unwrap, wrap
from evidence.paths import DataDir
from evidence.records import read_record
from station.catalogue.footage import read_session
from station.custody import package
from station.custody.contentkeys import by_id, load_agency_key
from station.services import pull
from sync.ptywire import PtyWire
from tests.conftest import copy_archive, record
from tests.test_dock_archive import device_serving, enrolled_copy
from tests.test_station_access import OFFICER, UNIT, Desk, approved_package, pdf_text


@pytest.fixture(scope="module")
def agency() -> X25519PrivateKey:
    return X25519PrivateKey.generate()


@pytest.fixture(scope="module")
def pulled_encrypted(tmp_path_factory, agency) -> Path:
    base = tmp_path_factory.mktemp("pulled")
    recorded = base / "recorded"
    public = agency.public_key().public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    enrol_agency_key(DataDir(recorded).device, public)
    record(recorded, 3, officer=OFFICER, unit=UNIT)
    device, archive = enrolled_copy(recorded, base)
    with PtyWire() as wire, device_serving(device, wire):
        assert not pull(archive, wire.b).failed
    return archive


class AgencyDesk(Desk):
    """A station on its own copy of ``pulled``, making packages with ``agency`` (or without one)."""

    def __init__(self, pulled: Path, copy: Path, agency: X25519PrivateKey | None) -> None:
        copy_archive(pulled, copy)
        super().__init__(copy)
        self.agency = by_id([agency]) if agency else None

    def build(self):
        return functools.partial(package.build, archive=self.archive, footage=self.footage, agency=self.agency)


def debian_ffmpeg_frames(path: Path) -> int:
    """How many video frames Debian's ffmpeg decodes from ``path`` (it fails on any error)."""
    done = subprocess.run(["ffmpeg", "-v", "error", "-xerror", "-i", str(path), "-map", "0:v", "-f", "framemd5", "-"],
                          check=True, capture_output=True, text=True, timeout=60)
    return sum(1 for line in done.stdout.splitlines() if line[:1].isdigit())


def pictures(path: Path, key: bytes | None = None) -> list[str]:
    """The MD5 of each decoded picture (PyAV's FFmpeg; given a key, it decrypts Common Encryption)."""
    with av.open(str(path), options={"decryption_key": key.hex()} if key else {}) as container:
        return [hashlib.md5(frame.to_ndarray().tobytes()).hexdigest() for frame in container.decode(video=0)]


def test_an_encrypted_sessions_export_holds_its_key_and_clear_copies_that_play(pulled_encrypted, agency, tmp_path):
    desk = AgencyDesk(pulled_encrypted, tmp_path / "archive", agency)
    made = approved_package(desk, tmp_path / "out")
    session = read_session(desk.footage.folder(desk.sessions[0]))
    opened = read_record(session.folder / "session-open.json").body
    key = unwrap(opened["encryption"], opened["session"], agency)
    stored = json.loads((made / "keys" / "content" / f"{session.id}.json").read_text())
    assert stored["key"] == key.hex() and stored["kid"] == opened["encryption"]["kid"]
    sums = dict(reversed(line.split("  ", 1)) for line in (made / "SHA256SUMS").read_text().splitlines())
    form = pdf_text(made / "record-form.pdf")
    for segment in session.segments:
        original = made / "footage" / session.id / segment.video.name
        clear = made / "clear" / session.id / segment.video.name
        assert original.read_bytes() == segment.video.read_bytes()
        digest = hashlib.sha256(clear.read_bytes()).hexdigest()
        assert sums[f"clear/{session.id}/{segment.video.name}"] == digest
        assert digest in form and segment.manifest.body["file"]["sha256"] in form
        assert debian_ffmpeg_frames(clear) == segment.manifest.body["frames"]["count"] > 0
        assert pictures(clear) == pictures(original, key)
    assert "Common Encryption" in (made / "README.txt").read_text()
    checked = json.loads((made / "verification.json").read_text())
    assert all(session["ok"] for session in checked["sessions"])
    assert {entry["state"] for entry in checked["c2pa"]} == {"Trusted"}     # C2PA on the encrypted originals


def test_the_readmes_ffmpeg_instruction_gives_the_frames_of_the_packages_clear_copies(pulled_encrypted, agency,
                                                                                      tmp_path):
    """The README's own command line, each placeholder filled from the package, run with an FFmpeg
    of libavformat 62 (PyAV's: no such ffmpeg command is installed here), decodes to the clear
    copy's pictures and sound, frame for frame (Debian's ffmpeg, -f framemd5)."""
    desk = AgencyDesk(pulled_encrypted, tmp_path / "archive", agency)
    made = approved_package(desk, tmp_path / "out")
    (session,) = [folder.name for folder in (made / "clear").iterdir()]
    key = json.loads((made / "keys" / "content" / f"{session}.json").read_text())["key"]
    (instruction,) = re.findall(r"`(ffmpeg -decryption_key [^`]+)`", (made / "README.txt").read_text())
    originals = sorted((made / "footage" / session).glob("seg-*.mp4"))
    assert len(originals) == 2
    for original in originals:
        argv = shlex.split(instruction.replace("<key>", key).replace("<session>", session)
                           .replace("seg-NNNNNN.mp4", original.name))
        made_by_ffmpeg = ffmpeg_copy(argv, cwd=made, out=tmp_path / original.name)
        assert framemd5(made_by_ffmpeg) == framemd5(made / "clear" / session / original.name)


def ffmpeg_copy(argv: list[str], cwd: Path, out: Path) -> Path:
    """``ffmpeg [input options] -i INPUT -c copy OUTPUT`` done by FFmpeg's libraries through PyAV
    (the input options given to the demuxer, every stream copied; the output written to ``out``)."""
    assert argv[0] == "ffmpeg" and argv[-5] == "-i" and argv[-3:-1] == ["-c", "copy"], argv
    options = dict(zip(argv[1:-5:2], argv[2:-5:2]))
    assert all(name.startswith("-") for name in options), argv
    with av.open(str(cwd / argv[-4]), options={name[1:]: value for name, value in options.items()}) as source, \
            av.open(str(out), "w") as copy:
        streams = {stream.index: copy.add_stream_from_template(stream) for stream in source.streams}
        for packet in source.demux():
            if packet.dts is not None:
                packet.stream = streams[packet.stream.index]
                copy.mux(packet)
    return out


def framemd5(path: Path) -> dict[str, list[str]]:
    """The MD5 of each decoded picture and sound frame, stream by stream, as Debian's ffmpeg gives
    them (-f framemd5; how the streams interleave and the timestamps, which each muxer writes its
    own way, left out)."""
    done = subprocess.run(["ffmpeg", "-v", "error", "-xerror", "-i", str(path), "-f", "framemd5", "-"],
                          check=True, capture_output=True, text=True, timeout=60)
    streams: dict[str, list[str]] = {}
    for line in done.stdout.splitlines():
        if line[:1].isdigit():
            fields = line.split(",")
            streams.setdefault(fields[0].strip(), []).append(fields[-1].strip())
    assert set(streams) == {"0", "1"} and all(streams.values())          # pictures and sound
    return streams


def test_an_encrypted_session_is_not_exported_without_the_agency_key(pulled_encrypted, tmp_path):
    desk = AgencyDesk(pulled_encrypted, tmp_path / "archive", None)
    with pytest.raises(EvidenceError, match="no agency key"):
        approved_package(desk, tmp_path / "out")


def test_agency_key_makes_a_pair_the_device_enrols_and_the_station_unwraps_with(tmp_path):
    private, device = tmp_path / "keys" / "agency.key", DataDir(tmp_path / "data").device
    made = subprocess.run([sys.executable, "-m", "station", "agency-key", str(private)],
                          capture_output=True, text=True, check=False)
    assert made.returncode == 0, made.stderr
    assert private.stat().st_mode & 0o777 == 0o600
    key_id = enrol_agency_key(device, private.with_suffix(".pub").read_text())
    assert made.stdout.startswith(f"agency key {key_id}: private key in {private}")
    content = ContentKey.draw()
    member = wrap(content, read_agency_key(device), "a-session")
    assert unwrap(member, "a-session", load_agency_key(private)) == bytes(content.key)
    again = subprocess.run([sys.executable, "-m", "station", "agency-key", str(private)],
                           capture_output=True, text=True, check=False)
    assert again.returncode == 1 and again.stderr.count("\n") == 1 and "never replaced" in again.stderr
    assert unwrap(member, "a-session", load_agency_key(private)) == bytes(content.key)     # the key kept
    public = subprocess.run([sys.executable, "-m", "station", "agency-key", str(tmp_path / "agency.pub")],
                            capture_output=True, text=True, check=False)
    assert public.returncode == 1 and "public key's name" in public.stderr and not (tmp_path / "agency.pub").exists()
