"""Cameras: a source of YUV420 (I420) frames, each stamped with its capture time.

I420 is the Pi camera's main-stream format and what the H.264 encoder takes, so frames
travel through the pipeline without colour conversion: an array of shape
``(height * 3 // 2, width)``, the Y plane followed by the U and V planes.
"""
from __future__ import annotations

import glob
from dataclasses import dataclass

import numpy as np

from hw.base import Adapter


@dataclass
class Frame:
    """One captured picture. ``sequence`` is the source's own counter: a jump is a lost frame."""

    image: np.ndarray
    monotonic_ns: int
    wall_ns: int
    sequence: int


class Camera(Adapter):
    """Base class of the camera adapters.

    A subclass must set ``width``, ``height``, ``fps`` (this constructor does) and
    ``description``, and override :meth:`read`; it may override ``_close`` and set
    ``simulated`` (:class:`~hw.base.Adapter`).
    """

    description = "camera"

    def __init__(self, width: int, height: int, fps: int) -> None:
        self.width, self.height, self.fps = width, height, fps

    def read(self) -> Frame:
        """Block until the next frame is captured and return it; AdapterClosed once closed."""
        raise NotImplementedError


def detect_camera() -> str:
    """The source ``auto`` stands for: a Pi camera, else a V4L2 capture device, else simulated."""
    if glob.glob("/dev/media*") and _picamera2_available():
        return "picamera2:"
    for dev in sorted(glob.glob("/dev/video*")):
        if _is_capture_device(dev):
            return f"v4l2:{dev}"
    return "simulated:"


def _picamera2_available() -> bool:
    try:
        import picamera2  # noqa: F401
    except Exception:
        return False
    return True


def _is_capture_device(dev: str) -> bool:
    # /sys/class/video4linux/videoN/name exists for every node; the codec nodes of a Pi
    # (bcm2835-codec, isp) are not cameras.
    name_file = f"/sys/class/video4linux/{dev.rsplit('/', 1)[-1]}/name"
    try:
        with open(name_file, encoding="utf-8") as fh:
            name = fh.read().strip().lower()
    except OSError:
        return False
    return not any(word in name for word in ("codec", "isp", "hevc", "unicam-embedded"))


def i420_planes(image: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views of the Y, U and V planes of an I420 frame (writing to them writes the frame)."""
    flat = image.reshape(-1)
    luma = width * height
    chroma = luma // 4
    y = flat[:luma].reshape(height, width)
    u = flat[luma:luma + chroma].reshape(height // 2, width // 2)
    v = flat[luma + chroma:luma + 2 * chroma].reshape(height // 2, width // 2)
    return y, u, v
