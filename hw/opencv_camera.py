"""A USB/V4L2 camera or a video file, read through OpenCV's ``VideoCapture``."""
from __future__ import annotations

import os
import time

import cv2

from bodycam_errors import debugging
from hw import HardwareError
from hw.camera import Camera, Frame
from hw.timebase import sleep_until, wall_at

if not debugging():
    # FFmpeg inside OpenCV prints its own lines ("partial file") straight to stderr; what a read
    # that fails means reaches the user as our one sentence. OpenCV reads this at its first capture.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")


class OpenCVCamera(Camera):
    """Frames from ``cv2.VideoCapture``, resized if needed and converted from BGR to I420.

    A file is played at the configured frame rate, as if it were a camera, and loops at its
    end so a recording of any length can be made from a short clip.
    """

    def __init__(self, target: str, width: int, height: int, fps: int, is_file: bool) -> None:
        super().__init__(width, height, fps)
        self.description = f"{'video file' if is_file else 'V4L2 camera'} {target}"
        self._is_file = is_file
        backend = cv2.CAP_ANY if is_file else cv2.CAP_V4L2
        self._capture = cv2.VideoCapture(target, backend)
        with self._closing_on_failure():
            if not self._capture.isOpened():
                raise HardwareError(f"cannot open {self.description}")
            if not is_file:
                self._capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
                self._capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
                self._capture.set(cv2.CAP_PROP_FPS, fps)
        self._sequence = 0
        self._start_ns = time.monotonic_ns()

    def read(self) -> Frame:
        self._check_open()
        if self._is_file:
            sleep_until(self._start_ns + self._sequence * 1_000_000_000 // self.fps)
        ok, bgr = self._capture.read()
        if not ok and self._is_file:
            self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, bgr = self._capture.read()
        if not ok:
            raise HardwareError(f"{self.description} stopped delivering frames")
        captured = time.monotonic_ns()
        if bgr.shape[1] != self.width or bgr.shape[0] != self.height:
            bgr = cv2.resize(bgr, (self.width, self.height), interpolation=cv2.INTER_AREA)
        frame = Frame(cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420), captured, wall_at(captured), self._sequence)
        self._sequence += 1
        return frame

    def _close(self) -> None:
        self._capture.release()
