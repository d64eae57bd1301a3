"""Recording with encryption on (issue 25): Common Encryption judged by a reader written from
ISO/IEC 23001-7, by FFmpeg (PyAV's libavformat) and by Chromium through EME Clear Key; the
content key wrapped for the agency in the signed open record, and nowhere on the card."""
from __future__ import annotations

import base64
import hashlib
import io
import json
import signal
import subprocess
import sys
from pathlib import Path

import av
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from evidence import EvidenceError
from evidence.cenc import clear_copy
from evidence.encryption import enrol_agency_key, unwrap
from evidence.paths import DataDir
from evidence.records import read_record
from evidence.verify import verify_paths
from firmware.config import ConfigError
from tests import cenc_reader, doc_verifier
from tests.conftest import decode_video, index_records, record, segments, write_config
from tests.test_evidence_format import documented_fields
from tests.waiting import wait_for

SECONDS = 3       # in 2 s segments: two segments, one boundary


def agency_pem(private: X25519PrivateKey) -> str:
    return private.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@pytest.fixture(scope="module")
def agency() -> X25519PrivateKey:
    return X25519PrivateKey.generate()


@pytest.fixture(scope="module")
def encrypted(tmp_path_factory, agency):
    """One 3 s session recorded with an enrolled agency key and encryption required."""
    data_dir = tmp_path_factory.mktemp("encrypted")
    enrol_agency_key(DataDir(data_dir).device, agency_pem(agency))
    progress = record(data_dir, SECONDS, encryption={"required": True})
    assert not progress.error
    return data_dir, progress.folder


def content_key(folder: Path, agency: X25519PrivateKey) -> tuple[bytes, bytes]:
    opened = read_record(folder / "session-open.json").body
    return unwrap(opened["encryption"], opened["session"], agency), bytes.fromhex(opened["encryption"]["kid"])


def ffmpeg_packets(path: Path, key: bytes | None = None) -> list[tuple[int, bytes]]:
    """Each packet as FFmpeg's MP4 demuxer (libavformat 62) gives it, decrypted when given the key."""
    with av.open(str(path), options={"decryption_key": key.hex()} if key else {}) as container:
        return [(packet.stream.index, bytes(packet)) for packet in container.demux() if packet.size]


def ffmpeg_clear_copy(path: Path, key: bytes, target: Path) -> Path:
    """FFmpeg's decryption alone (-c copy) of ``path`` into a clear fragmented MP4."""
    with av.open(str(path), options={"decryption_key": key.hex()}) as source, \
            av.open(str(target), "w", format="mp4", options={"movflags": "frag_keyframe+empty_moov"}) as out:
        streams = {stream.index: out.add_stream_from_template(stream) for stream in source.streams}
        for packet in source.demux():
            if packet.dts is not None:
                packet.stream = streams[packet.stream.index]
                out.mux(packet)
    return target


def test_the_open_record_carries_the_wrapped_key_and_unwraps_only_with_the_agency_key(encrypted, agency):
    _, folder = encrypted
    body = read_record(folder / "session-open.json").body
    assert set(body) == documented_fields("Common fields") | documented_fields("Session open (`type` = `session-open`)")
    member = body["encryption"]
    assert member["scheme"] == "cenc" and len(member["kid"]) == 32 and len(member["wrapped_key"]) == 128
    key, kid = content_key(folder, agency)
    assert len(key) == 16
    for segment in segments(folder):
        assert {track.kid for track in cenc_reader.read(segment).tracks.values()} == {kid}
    with pytest.raises(EvidenceError, match="wrapped for agency key"):
        unwrap(member, folder.name, X25519PrivateKey.generate())
    with pytest.raises(EvidenceError, match="does not unwrap"):
        unwrap(member, "another-session", agency)


def test_our_decryption_and_ffmpegs_give_identical_samples_that_play(encrypted, agency, tmp_path):
    _, folder = encrypted
    key, _ = content_key(folder, agency)
    previous_barcode = None
    for segment in segments(folder):
        reading = cenc_reader.read(segment)
        assert all(track.protected and track.scheme == b"cenc" for track in reading.tracks.values())
        ours = reading.decrypted(key)
        assert [data for _, data in ffmpeg_packets(segment, key)] == ours
        assert [data for _, data in ffmpeg_packets(segment)] != ours
        frames = decode_video(ffmpeg_clear_copy(segment, key, tmp_path / segment.name))
        barcodes = [barcode for _, _, barcode, _ in frames]
        assert len(frames) == sum(1 for r in index_records(segment) if "type" not in r)
        assert barcodes == list(range(barcodes[0], barcodes[0] + len(barcodes)))
        assert previous_barcode is None or barcodes[0] == previous_barcode + 1
        previous_barcode = barcodes[-1]


def test_the_stations_clear_copy_plays_in_debians_ffmpeg_with_ffmpegs_decrypted_samples(encrypted, agency,
                                                                                         tmp_path):
    _, folder = encrypted
    key, _ = content_key(folder, agency)
    for segment in segments(folder):
        copy = tmp_path / segment.name
        copy.write_bytes(clear_copy(segment.read_bytes(), key))
        assert ffmpeg_packets(copy) == ffmpeg_packets(segment, key)
        result = subprocess.run(["ffmpeg", "-v", "error", "-i", str(copy), "-f", "framemd5", "-"],
                                capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0 and result.stderr == ""
        frames = [line for line in result.stdout.splitlines() if line.startswith("0,")]
        assert len(frames) == sum(1 for r in index_records(segment) if "type" not in r)


def test_without_the_key_no_picture_decodes_and_no_sound_is_in_clear(encrypted, agency, tmp_path):
    _, folder = encrypted
    segment = segments(folder)[0]
    key, _ = content_key(folder, agency)
    clear = tmp_path / segment.name
    clear.write_bytes(clear_copy(segment.read_bytes(), key))
    strict = subprocess.run(["ffmpeg", "-v", "error", "-xerror", "-i", str(segment), "-map", "0:v", "-f", "null", "-"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert strict.returncode != 0 and strict.stderr, "Debian's ffmpeg decoded the encrypted pictures without an error"
    clear_pictures = set(picture_hashes(clear))
    assert len(clear_pictures) > 1
    assert not clear_pictures & set(picture_hashes(segment))          # not one picture decodes as recorded
    sounds, clear_sounds = sound_packets(segment), sound_packets(clear)
    assert len(sounds) == len(clear_sounds) > 0
    assert all(sound != clear_sound for sound, clear_sound in zip(sounds, clear_sounds))


def picture_hashes(path: Path) -> list[str]:
    """The MD5 of each picture FFmpeg (PyAV, no key) decodes, until its decoder gives up."""
    hashes = []
    with av.open(str(path)) as container:
        try:
            for frame in container.decode(video=0):
                hashes.append(hashlib.md5(frame.to_ndarray().tobytes()).hexdigest())
        except av.FFmpegError:
            pass
    return hashes


def sound_packets(path: Path) -> list[bytes]:
    """The sound's samples as stored (FFmpeg's MP4 demuxer, no key)."""
    with av.open(str(path)) as container:
        return [bytes(packet) for packet in container.demux(audio=0) if packet.size]


def test_the_device_refuses_to_show_a_picture_of_an_encrypted_segment_and_inspect_says_it_is_encrypted(encrypted, tmp_path):
    _, folder = encrypted
    shown = subprocess.run([sys.executable, "-m", "firmware", "snapshot", str(segments(folder)[0]), "--out",
                            str(tmp_path / "frame.png")], capture_output=True, text=True, timeout=60, check=False)
    assert shown.returncode != 0 and "encrypted for the agency" in shown.stderr
    assert not (tmp_path / "frame.png").exists()
    data_dir, _ = encrypted
    listed = subprocess.run([sys.executable, "-m", "firmware", "inspect", "--data-dir", str(data_dir)],
                            capture_output=True, text=True, timeout=60, check=True).stdout.splitlines()
    segment_lines = [line for line in listed if line.strip().startswith("seg-")]
    assert segment_lines and all("encrypted for the agency" in line and "decodable" not in line
                                 for line in segment_lines)


def test_nothing_on_the_card_holds_the_content_key(encrypted, agency):
    data_dir, folder = encrypted
    key, _ = content_key(folder, agency)
    forms = [key, key.hex().encode(), key.hex().upper().encode(), base64.b64encode(key).rstrip(b"="),
             base64.urlsafe_b64encode(key).rstrip(b"=")]
    files = [path for path in data_dir.rglob("*") if path.is_file()]
    assert len(files) > 10
    for path in files:
        data = path.read_bytes()
        assert not any(form in data for form in forms), f"{path} holds the content key"


def test_sealing_is_on_the_encrypted_bytes_and_every_verifier_passes_without_a_key(encrypted):
    data_dir, folder = encrypted
    verdicts = verify_paths([data_dir / "spool"])
    assert verdicts and all(verdict.ok for verdict in verdicts)
    _, passes = doc_verifier.verify([data_dir / "spool"])
    assert passes
    manifest = read_record(segments(folder)[0].with_name("seg-000001.mp4.manifest")).body
    data = segments(folder)[0].read_bytes()
    assert manifest["file"]["size"] == len(data)
    init = manifest["parts"][0]
    assert b"encv" in data[init["offset"]:init["offset"] + init["size"]]


def test_chromium_plays_an_encrypted_session_across_a_segment_boundary(encrypted, agency):
    pytest.importorskip("playwright.sync_api")
    from tests import eme_judge

    _, folder = encrypted
    key, kid = content_key(folder, agency)
    first_end = max(r["pts"] for r in index_records(segments(folder)[0]) if "type" not in r) / 30
    report = eme_judge.play(segments(folder), key, kid, "avc1.640028", "mp4a.40.2",
                            until_media_time=first_end + 0.5)
    assert report["errors"] == [] and report["lastMediaTime"] >= first_end + 0.5, report
    assert report["encryptedEvents"] >= 1                 # the pssh names the key id
    wrong = eme_judge.play(segments(folder)[:1], bytes(16), kid, "avc1.640028", "mp4a.40.2", until_media_time=0.5)
    assert wrong["errors"] and wrong["frames"] == 0, wrong


def test_encryption_required_without_an_agency_key_refuses_to_record(tmp_path):
    with pytest.raises(ConfigError, match="no agency key is enrolled") as refused:
        record(tmp_path, 1, encryption={"required": True})
    assert str(refused.value).count(". ") == 0
    assert not (tmp_path / "spool").exists() or not any((tmp_path / "spool").iterdir())


def test_enroll_takes_the_agency_key_and_a_recording_is_then_encrypted(tmp_path, agency):
    config = write_config(tmp_path)
    dock = tmp_path / "dock.pub"
    dock.write_text("11" * 32)
    pem = tmp_path / "agency.pub"
    pem.write_text(agency_pem(agency))
    enrolled = subprocess.run([sys.executable, "-m", "firmware", "enroll", "--config", str(config), "--dock-key",
                               str(dock), "--agency-key", str(pem)], capture_output=True, text=True, timeout=60, check=False)
    assert enrolled.returncode == 0 and "agency key" in enrolled.stdout, enrolled.stderr
    subprocess.run([sys.executable, "-m", "firmware", "record", "--seconds", "1", "--config", str(config)],
                   check=True, capture_output=True, timeout=60)
    folder = next((tmp_path / "data" / "spool").iterdir())
    key, _ = content_key(folder, agency)
    reading = cenc_reader.read(segments(folder)[0])
    assert reading.decrypted(key) == [data for _, data in ffmpeg_packets(segments(folder)[0], key)]


def test_a_power_cut_while_recording_encrypted_is_recovered_and_verifies(tmp_path, agency):
    config = write_config(tmp_path, extra="[encryption]\nrequired = true\n")
    enrol_agency_key(DataDir(tmp_path / "data").device, agency_pem(agency))
    spool = tmp_path / "data" / "spool"
    recorder = subprocess.Popen([sys.executable, "-m", "firmware", "record", "--config", str(config)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        segment = wait_for(lambda: next(iter(spool.glob("*/seg-000001.mp4")), None), "the first segment", 60)
        wait_for(lambda: sum(1 for r in index_records(segment) if r.get("type") == "fragment") >= 20,
                 "twenty fragments", 60)
        recorder.send_signal(signal.SIGKILL)
        recorder.wait(timeout=10)
    finally:
        if recorder.poll() is None:
            recorder.kill()
    restart = subprocess.run([sys.executable, "-m", "firmware", "record", "--seconds", "1", "--config", str(config)],
                             check=True, capture_output=True, text=True, timeout=60)
    assert f"recovered {segment.parent.name}/{segment.name}" in restart.stdout
    manifest = read_record(segment.with_name(segment.name + ".manifest")).body
    assert "recovered" in manifest["flags"] and manifest["frames"]["count"] >= 20
    assert all(verdict.ok for verdict in verify_paths([spool]))
    key, _ = content_key(segment.parent, agency)
    sealed = segment.read_bytes()[:manifest["file"]["size"]]
    clear = cenc_reader.read(sealed).decrypted(key)
    with av.open(io.BytesIO(sealed), options={"decryption_key": key.hex()}) as container:
        assert [bytes(p) for p in container.demux() if p.size] == clear


def test_the_document_alone_unwraps_the_key_and_ffmpeg_decrypts_a_segment_with_it(encrypted, agency):
    """A stranger's unwrapping, from docs/evidence-format.md alone (tests/doc_verifier.py), and FFmpeg."""
    _, folder = encrypted
    private = agency.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                   serialization.NoEncryption())
    key = doc_verifier.content_key(read_record(folder / "session-open.json").body, private)
    assert key == content_key(folder, agency)[0]
    segment = segments(folder)[-1]
    assert [data for _, data in ffmpeg_packets(segment, key)] == cenc_reader.read(segment).decrypted(key)


def test_hpke_is_rfc_9180_base_mode_x25519_sha256_aes128gcm():
    """RFC 9180 appendix A.1.1 (Base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM):
    the first encryption of its vector opens with cryptography's HPKE as ``enc || ciphertext``."""
    from cryptography.hazmat.bindings._rust import openssl as rust_openssl

    from evidence.encryption import SUITE

    receiver = X25519PrivateKey.from_private_bytes(
        bytes.fromhex("4612c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8ac8"))
    enc = bytes.fromhex("37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431")
    ciphertext = bytes.fromhex("f938558b5d72f1a23810b4be2ab4f84331acc02fc97babc53a52ae8218a355a9"
                               "6d8770ac83d07bea87e13c512a")
    opened = rust_openssl.hpke._decrypt_with_aad(SUITE, enc + ciphertext, receiver, info=b"Ode on a Grecian Urn",
                                                 aad=b"Count-0")
    assert opened == b"Beauty is truth, truth beauty"


def test_the_documented_wrapping_vector_unwraps():
    """docs/evidence-format.md's test vector: a stranger's HPKE gives the same content key."""
    doc = (Path(__file__).resolve().parent.parent / "docs" / "evidence-format.md").read_text()
    vector = json.loads(doc.split("<!-- wrapping vector -->", 1)[1].split("```json", 1)[1].split("```", 1)[0])
    private = X25519PrivateKey.from_private_bytes(bytes.fromhex(vector["agency_private_key"]))
    assert unwrap(vector["encryption"], vector["session"], private).hex() == vector["content_key"]
