"""A fake ``picamera2`` module: the parts of its API that hw.picamera2_camera uses.

Tests put this module in ``sys.modules["picamera2"]``. The method signatures are the real
ones (tests/test_picamera2_camera.py checks them against the recorded real API). Behaviour
follows the real module where the adapter depends on it:

* a YUV420 main stream's ``make_array`` has shape ``(height * 3 // 2, stride)``, the U and
  V planes packed after the Y plane with a row length of ``stride // 2``;
* buffers are recycled once a request is released (here the released buffer is the very
  next one used, and ``make_array`` returns a view of it, which is stricter than the real
  method's copy, so an adapter that forgets to copy is caught);
* ``get_metadata()`` holds ``SensorTimestamp`` (ns) and ``FrameDuration`` (us), one frame
  duration apart, on CLOCK_MONOTONIC (plus ``clock_offset_ns``).

Tests set the class attributes below (with monkeypatch) to shape the camera.
"""
import time

import numpy as np

PADDING_BYTE = 0xEE  # fills the bytes past the width of each row


class _Source:
    """A default value that prints as the real module's source text in a signature."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def expected_i420(n: int, width: int, height: int) -> np.ndarray:
    """The compact I420 picture of frame ``n``: every plane varies along both axes and with ``n``."""
    rows, cols = np.indices((height, width))
    crow, ccol = np.indices((height // 2, width // 2))
    y = (n + rows + cols) % 256
    u = (2 * n + crow + 2 * ccol + 50) % 256
    v = (3 * n + 2 * crow + ccol + 150) % 256
    return np.concatenate([y.ravel(), u.ravel(), v.ravel()]).astype(np.uint8).reshape(height * 3 // 2, width)


class Picamera2:
    cameras = 1                 # cameras attached: a larger camera_num fails as the real one does
    fail_in: str | None = None  # name of a method that raises RuntimeError when called
    stride_align = 2            # the ISP pads each row of the main stream to a multiple of this
    dropped: frozenset = frozenset()  # sensor frame numbers that never reach the application
    clock_offset_ns = 0         # added to SensorTimestamp: CLOCK_BOOTTIME after a suspend
    instances: list = []        # every camera opened, for tests to inspect

    def __init__(self, camera_num=0, verbose_console=None, tuning=None, allocator=None):
        # The real constructor indexes global_camera_info() and so raises IndexError.
        if camera_num >= self.cameras:
            raise IndexError("list index out of range")
        self.camera_num = camera_num
        self.is_open, self.started = True, False
        self.camera_config: dict = {}
        self.calls: list[str] = []
        self.requests: list[CompletedRequest] = []
        self._free: list[np.ndarray] = []
        self._frame = 0
        Picamera2.instances.append(self)

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if self.fail_in == name:
            raise RuntimeError(f"fake failure in {name}")

    def create_video_configuration(self, main={}, lores=None, raw={}, transform=_Source("libcamera.Transform()"),
                                   colour_space=None, buffer_count=6, controls={}, display='main', encode='main',
                                   queue=True, sensor={}, use_case='video'):
        self._call("create_video_configuration")
        main = {"format": "XBGR8888", "size": (1280, 720), "preserve_ar": True} | main
        width, height = main["size"]
        main["size"] = (width - width % 2, height - height % 2)  # as align_stream(optimal=False)
        return {"use_case": use_case, "transform": transform, "colour_space": colour_space,
                "buffer_count": buffer_count, "queue": queue, "main": main, "lores": lores, "raw": raw,
                "controls": dict(controls), "sensor": sensor, "display": display, "encode": encode}

    def configure(self, camera_config=None):
        self._call("configure")
        if self.started:
            raise RuntimeError("Camera must be stopped before configuring")
        if not isinstance(camera_config, dict) or camera_config["main"]["format"] != "YUV420":
            raise NotImplementedError("the fake supports only a dict configuration with a YUV420 main stream")
        config = {**camera_config, "main": dict(camera_config["main"])}
        width, height = config["main"]["size"]
        stride = -(-width // self.stride_align) * self.stride_align
        config["main"].update(stride=stride, framesize=stride * height * 3 // 2)
        self.camera_config = config
        self._free = [np.zeros(stride * height * 3 // 2, np.uint8) for _ in range(config["buffer_count"])]

    def stream_configuration(self, name='main'):
        return self.camera_config[name]

    def start(self, config=None, show_preview=False):
        self._call("start")
        if config is not None:
            self.configure(config)
        if not self.camera_config:
            raise RuntimeError("Camera has not been configured")
        self.started = True
        self.frame_duration_us = int(1_000_000 / self.camera_config["controls"].get("FrameRate", 30))
        # Frames of the past hour: every stamp lies behind the monotonic clock, as a real one does.
        self._epoch_ns = time.monotonic_ns() - 3600 * 1_000_000_000

    def capture_request(self, wait=None, signal_function=None, flush=None):
        self._call("capture_request")
        if wait is False or signal_function is not None or flush:
            raise NotImplementedError("the fake supports only blocking captures without flush")
        if not self.started:
            raise RuntimeError("fake: capture_request on a camera that is not started")
        if not self._free:
            raise RuntimeError("fake: every buffer is held by an unreleased request")
        while self._frame in self.dropped:
            self._frame += 1
        n, self._frame = self._frame, self._frame + 1
        buffer = self._free.pop()
        self._fill(buffer, n)
        metadata = {"SensorTimestamp": self._epoch_ns + n * self.frame_duration_us * 1000 + self.clock_offset_ns,
                    "FrameDuration": self.frame_duration_us, "ExposureTime": self.frame_duration_us // 2}
        request = CompletedRequest(self, buffer, metadata)
        self.requests.append(request)
        return request

    def _fill(self, buffer: np.ndarray, n: int) -> None:
        main = self.camera_config["main"]
        (width, height), stride = main["size"], main["stride"]
        picture = expected_i420(n, width, height).ravel()
        buffer[:] = PADDING_BYTE
        luma, chroma = width * height, width * height // 4
        buffer[:height * stride].reshape(height, stride)[:, :width] = picture[:luma].reshape(height, width)
        planes = buffer[height * stride:].reshape(2, height // 2, stride // 2)
        planes[0, :, :width // 2] = picture[luma:luma + chroma].reshape(height // 2, width // 2)
        planes[1, :, :width // 2] = picture[luma + chroma:].reshape(height // 2, width // 2)

    def stop(self):
        self.calls.append("stop")
        self.started = False

    def close(self):
        self.calls.append("close")
        if not self.is_open:
            return
        self.stop()
        self.is_open = False


class CompletedRequest:
    def __init__(self, picam2: Picamera2, buffer: np.ndarray, metadata: dict) -> None:
        self.picam2, self.buffer, self.metadata = picam2, buffer, metadata
        self.ref_count = 1
        self.releases = 0

    def make_array(self, name: str):
        if self.ref_count <= 0:
            raise RuntimeError("fake: make_array on a released request")
        config = self.picam2.camera_config[name]
        height = config["size"][1]
        return self.buffer.reshape(height * 3 // 2, config["stride"])  # a view: see the module docstring

    def get_metadata(self):
        if self.ref_count <= 0:
            raise RuntimeError("fake: get_metadata on a released request")
        return dict(self.metadata)

    def release(self):
        self.releases += 1
        self.ref_count -= 1
        if self.ref_count < 0:
            raise RuntimeError("CompletedRequest: lock now has negative ref_count")
        if self.ref_count == 0:
            self.picam2._free.append(self.buffer)  # the next capture reuses it
