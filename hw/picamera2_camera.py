"""A Raspberry Pi camera read through picamera2 (libcamera), main stream in YUV420.

picamera2 exists only on a Pi, so it is imported when a camera is opened, never when
this module is imported.

Facts taken from the sources (picamera2 0.3.36, libcamera v0.7.1+rpt20260429):

* ``CompletedRequest.make_array("main")`` of a YUV420 stream has shape
  ``(height * 3 // 2, stride)``: the Y plane in ``height`` rows of ``stride`` bytes, then
  the U and V planes, each ``height / 2`` rows of ``stride / 2`` bytes, packed one after
  the other (so one array row holds two chroma rows). ``stride`` may exceed ``width``.
* ``SensorTimestamp`` is documented by libcamera as CLOCK_BOOTTIME, but the Pi pipeline
  copies it from the V4L2 buffer, which the Pi's CSI-2 receiver drivers stamp with
  ``ktime_get_ns()``: CLOCK_MONOTONIC, as picamera2 itself assumes when it compares it
  with ``time.monotonic_ns()``. The two clocks differ only by time spent suspended;
  :func:`to_monotonic` accepts either.
* libcamera reports no frame sequence number in the request metadata, so the sequence
  is counted here from the sensor timestamps (a gap of two frame durations is a lost frame).
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from hw import HardwareError
from hw.camera import Camera, Frame, i420_planes
from hw.timebase import wall_at


class Picamera2Camera(Camera):
    """Frames of the Pi camera ``camera_num`` as I420 arrays of shape (height * 3 // 2, width)."""

    def __init__(self, width: int, height: int, fps: int, camera_num: int = 0) -> None:
        super().__init__(width, height, fps)
        self.description = f"Raspberry Pi camera {camera_num} (picamera2)"
        self._picam2: Any = None
        self._sequence = -1
        self._last_ns: int | None = None
        try:
            from picamera2 import Picamera2
        except Exception as exc:  # a broken libcamera binding raises more than ImportError
            raise HardwareError(f"cannot open {self.description}: the picamera2 package cannot be imported "
                                f"({exc}); on Raspberry Pi OS install it with 'apt install python3-picamera2'") from exc
        try:
            with self._closing_on_failure():
                self._picam2 = Picamera2(camera_num)
                config = self._picam2.create_video_configuration(
                    main={"size": (width, height), "format": "YUV420"}, controls={"FrameRate": fps})
                self._picam2.configure(config)
                # libcamera may adjust a size it cannot deliver; the pipeline needs the asked one.
                size = tuple(self._picam2.stream_configuration("main")["size"])
                if size != (width, height):
                    raise HardwareError(f"{self.description} cannot deliver {width}x{height} "
                                        f"(it offers {size[0]}x{size[1]})")
                self._picam2.start()
        except HardwareError:
            raise
        except Exception as exc:
            raise HardwareError(f"cannot open {self.description}: {exc!r}") from exc

    def read(self) -> Frame:
        self._check_open()
        try:
            request = self._picam2.capture_request()
        except Exception as exc:
            raise HardwareError(f"{self.description} stopped delivering frames: {exc!r}") from exc
        try:
            # The buffer goes back to the camera on release, so copy out before that.
            image = compact_i420(request.make_array("main"), self.width, self.height)
            metadata = request.get_metadata()
        finally:
            request.release()
        stamp = metadata.get("SensorTimestamp")
        captured = time.monotonic_ns() if stamp is None else to_monotonic(int(stamp))
        self._count(captured, metadata.get("FrameDuration"))
        return Frame(image, captured, wall_at(captured), self._sequence)

    def _count(self, captured: int, frame_duration_us: int | None) -> None:
        # One step per frame period elapsed since the previous frame, so lost frames show as jumps.
        period = frame_duration_us * 1000 if frame_duration_us else 1_000_000_000 // self.fps
        if self._last_ns is None:
            self._sequence = 0
        else:
            self._sequence += max(1, round((captured - self._last_ns) / period))
        self._last_ns = captured

    def _close(self) -> None:
        if self._picam2 is not None:  # None: Picamera2() itself failed
            try:
                self._picam2.stop()
            finally:
                self._picam2.close()


def compact_i420(array: np.ndarray, width: int, height: int) -> np.ndarray:
    """picamera2's YUV420 array (rows possibly padded to a stride) as a compact I420 array we own."""
    rows, stride = array.shape
    if rows != height * 3 // 2 or stride < width or array.dtype != np.uint8:
        raise HardwareError(f"unexpected YUV420 buffer {array.shape} {array.dtype} for {width}x{height}")
    if stride == width:
        # picamera2's make_array already copies; copy anyway if the array borrows its memory.
        return array if array.flags.owndata and array.flags.c_contiguous else array.copy()
    out = np.empty((rows, width), np.uint8)
    y, u, v = i420_planes(out, width, height)
    y[:] = array[:height, :width]
    chroma = np.ascontiguousarray(array[height:]).reshape(2, height // 2, stride // 2)
    u[:] = chroma[0, :, :width // 2]
    v[:] = chroma[1, :, :width // 2]
    return out


def to_monotonic(sensor_ns: int, monotonic_now: int | None = None, boottime_offset_ns: int | None = None) -> int:
    """A SensorTimestamp on CLOCK_MONOTONIC, whether it was taken on that clock or on CLOCK_BOOTTIME.

    A stamp of a frame already captured cannot lie in the monotonic clock's future, so one
    that does was taken on CLOCK_BOOTTIME (ahead by the time spent suspended) and is moved back.
    """
    if sensor_ns <= (time.monotonic_ns() if monotonic_now is None else monotonic_now):
        return sensor_ns
    return sensor_ns - (_boottime_offset_ns() if boottime_offset_ns is None else boottime_offset_ns)


def _boottime_offset_ns() -> int:
    """CLOCK_BOOTTIME minus CLOCK_MONOTONIC: the time spent suspended (0 where Linux's clock is missing)."""
    clock = getattr(time, "CLOCK_BOOTTIME", None)
    if clock is None:
        return 0
    before = time.monotonic_ns()
    boottime = time.clock_gettime_ns(clock)
    return boottime - (before + time.monotonic_ns()) // 2
