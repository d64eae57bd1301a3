"""The picamera2 adapter, driven by the fake picamera2 module in tests/fakes."""
from __future__ import annotations

import importlib.util
import inspect
import sys
import time

import numpy as np
import pytest

import hw.picamera2_camera as adapter
from hw import HardwareError
from hw.picamera2_camera import Picamera2Camera, compact_i420, to_monotonic
from hw.sources import open_camera
from tests.fakes import picamera2 as fake

# The real API, read from github.com/raspberrypi/picamera2 at commit
# 3e6dff099d3982c8fbdb25f7cbe2e4c17bac34f7 (v0.3.36 + 2 CI commits): picamera2/picamera2.py and
# picamera2/request.py. Parameter lists as in the source (return annotations left out; the
# overloads of capture_request share the implementation's parameters).
REAL_SIGNATURES = {
    "Picamera2.__init__": "(self, camera_num=0, verbose_console=None, tuning=None, allocator=None)",
    "Picamera2.create_video_configuration": (
        "(self, main={}, lores=None, raw={}, transform=libcamera.Transform(), colour_space=None, "
        "buffer_count=6, controls={}, display='main', encode='main', queue=True, sensor={}, use_case='video')"),
    "Picamera2.configure": "(self, camera_config=None)",
    "Picamera2.stream_configuration": "(self, name='main')",
    "Picamera2.start": "(self, config=None, show_preview=False)",
    "Picamera2.capture_request": "(self, wait=None, signal_function=None, flush=None)",
    "Picamera2.stop": "(self)",
    "Picamera2.close": "(self)",
    "CompletedRequest.make_array": "(self, name: str)",
    "CompletedRequest.get_metadata": "(self)",
    "CompletedRequest.release": "(self)",
}

W, H, FPS = 64, 48, 30
SECOND = 1_000_000_000


@pytest.fixture
def picamera2(monkeypatch):
    """The fake module installed as ``picamera2``, with a fresh list of opened cameras."""
    monkeypatch.setitem(sys.modules, "picamera2", fake)
    monkeypatch.setattr(fake.Picamera2, "instances", [])
    return fake


def opened(camera: Picamera2Camera) -> fake.Picamera2:
    [picam2] = fake.Picamera2.instances
    return picam2


@pytest.mark.parametrize("name", sorted(REAL_SIGNATURES))
def test_fake_matches_the_recorded_real_api(name):
    cls, method = name.split(".")
    assert str(inspect.signature(getattr(getattr(fake, cls), method))) == REAL_SIGNATURES[name]


@pytest.mark.parametrize("stride_align", [2, 64])
def test_frames_are_compact_i420_of_the_asked_size(picamera2, monkeypatch, stride_align):
    monkeypatch.setattr(fake.Picamera2, "stride_align", stride_align)
    with Picamera2Camera(W, H, FPS) as camera:
        frames = [camera.read() for _ in range(3)]
        assert opened(camera).stream_configuration()["stride"] == (64 if stride_align == 64 else W)
    for n, frame in enumerate(frames):
        assert frame.image.shape == (H * 3 // 2, W) and frame.image.dtype == np.uint8
        np.testing.assert_array_equal(frame.image, fake.expected_i420(n, W, H))


def test_padded_rows_are_removed_from_every_plane(picamera2, monkeypatch):
    monkeypatch.setattr(fake.Picamera2, "stride_align", 128)  # stride 128 for a width of 100
    with Picamera2Camera(100, 50, FPS) as camera:
        assert opened(camera).stream_configuration()["stride"] == 128
        frame = camera.read()
    np.testing.assert_array_equal(frame.image, fake.expected_i420(0, 100, 50))


def test_camera_is_configured_as_asked(picamera2):
    with Picamera2Camera(W, H, FPS, camera_num=0) as camera:
        config = opened(camera).camera_config
        assert camera.description == "Raspberry Pi camera 0 (picamera2)" and camera.simulated is False
    assert config["main"]["format"] == "YUV420" and config["main"]["size"] == (W, H)
    assert config["controls"] == {"FrameRate": FPS}


def test_image_is_ours_and_every_request_is_released_once(picamera2):
    with Picamera2Camera(W, H, FPS) as camera:
        frames = [camera.read() for _ in range(4)]  # the fake reuses the released buffer each time
        frames[1].image[:] = 0
        later = camera.read()
        picam2 = opened(camera)
    for n in (0, 2, 3):
        np.testing.assert_array_equal(frames[n].image, fake.expected_i420(n, W, H))
    np.testing.assert_array_equal(later.image, fake.expected_i420(4, W, H))
    assert [r.releases for r in picam2.requests] == [1] * 5
    assert not any(np.shares_memory(f.image, r.buffer) for f in frames for r in picam2.requests)


def test_request_is_released_when_reading_it_fails(picamera2, monkeypatch):
    def broken(self, name):
        raise RuntimeError("mapping failed")
    monkeypatch.setattr(fake.CompletedRequest, "make_array", broken)
    with Picamera2Camera(W, H, FPS) as camera:
        with pytest.raises(RuntimeError, match="mapping failed"):
            camera.read()
        assert [r.releases for r in opened(camera).requests] == [1]


def test_monotonic_stamps_are_the_sensor_timestamps(picamera2):
    with Picamera2Camera(W, H, FPS) as camera:
        frames = [camera.read() for _ in range(3)]
        stamps = [r.metadata["SensorTimestamp"] for r in opened(camera).requests]
    assert [f.monotonic_ns for f in frames] == stamps
    wall_minus_monotonic = time.time_ns() - time.monotonic_ns()
    for frame in frames:  # both times name the same instant: they differ by the clocks' offset
        assert abs((frame.wall_ns - frame.monotonic_ns) - wall_minus_monotonic) < SECOND // 10


def test_boottime_stamps_are_moved_to_the_monotonic_clock(picamera2, monkeypatch):
    suspended = 5 * 3600 * SECOND  # boottime runs ahead of monotonic by the time spent suspended
    monkeypatch.setattr(fake.Picamera2, "clock_offset_ns", suspended)
    monkeypatch.setattr(adapter, "_boottime_offset_ns", lambda: suspended)
    with Picamera2Camera(W, H, FPS) as camera:
        frames = [camera.read() for _ in range(2)]
        stamps = [r.metadata["SensorTimestamp"] for r in opened(camera).requests]
    assert [f.monotonic_ns for f in frames] == [s - suspended for s in stamps]


def test_to_monotonic():
    assert to_monotonic(900, monotonic_now=1000, boottime_offset_ns=5000) == 900   # already monotonic
    assert to_monotonic(5900, monotonic_now=1000, boottime_offset_ns=5000) == 900  # on CLOCK_BOOTTIME
    assert to_monotonic(1000, monotonic_now=1000, boottime_offset_ns=5000) == 1000
    past = time.monotonic_ns() - SECOND
    assert to_monotonic(past) == past  # against the real clocks


def test_sequence_counts_frames_and_jumps_over_lost_ones(picamera2, monkeypatch):
    monkeypatch.setattr(fake.Picamera2, "dropped", frozenset({2, 5, 6}))
    with Picamera2Camera(W, H, FPS) as camera:
        sequences = [camera.read().sequence for _ in range(5)]
    assert sequences == [0, 1, 3, 4, 7]


def test_close_twice_is_safe(picamera2):
    camera = Picamera2Camera(W, H, FPS)
    camera.read()
    camera.close()
    camera.close()
    picam2 = opened(camera)
    assert camera.closed and not picam2.is_open and not picam2.started
    assert picam2.calls.count("close") == 1
    with pytest.raises(HardwareError, match="closed"):
        camera.read()


def test_missing_picamera2_is_a_hardware_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "picamera2", None)  # makes "import picamera2" fail
    # A fresh copy of the adapter module imports without picamera2 (the PC case).
    spec = importlib.util.spec_from_file_location("fresh_picamera2_camera", adapter.__file__)
    fresh = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fresh)
    with pytest.raises(HardwareError, match="picamera2 package cannot be imported.*apt install python3-picamera2"):
        fresh.Picamera2Camera(W, H, FPS)


def test_absent_camera_is_a_hardware_error(picamera2):
    with pytest.raises(HardwareError, match="cannot open Raspberry Pi camera 1 \\(picamera2\\)"):
        Picamera2Camera(W, H, FPS, camera_num=1)
    assert fake.Picamera2.instances == []


@pytest.mark.parametrize("method", ["create_video_configuration", "configure", "start"])
def test_failure_while_opening_closes_the_camera(picamera2, monkeypatch, method):
    monkeypatch.setattr(fake.Picamera2, "fail_in", method)
    with pytest.raises(HardwareError, match=f"fake failure in {method}"):
        Picamera2Camera(W, H, FPS)
    [picam2] = fake.Picamera2.instances
    assert not picam2.is_open and not picam2.started
    assert "close" in picam2.calls


def test_size_the_camera_cannot_deliver_is_refused(picamera2):
    with pytest.raises(HardwareError, match="cannot deliver 65x48 \\(it offers 64x48\\)"):
        Picamera2Camera(65, 48, FPS)
    assert not fake.Picamera2.instances[0].is_open


def test_open_camera_url_selects_the_adapter(picamera2):
    with open_camera("picamera2:0", W, H, FPS) as camera:
        assert isinstance(camera, Picamera2Camera)
        assert camera.read().image.shape == (H * 3 // 2, W)


def test_compact_i420_refuses_a_buffer_of_the_wrong_shape():
    with pytest.raises(HardwareError, match="unexpected YUV420 buffer"):
        compact_i420(np.zeros((H, W), np.uint8), W, H)
