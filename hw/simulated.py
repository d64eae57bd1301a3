"""The simulated camera and microphone: the embedded default where no real device is found.

Both run in real time on one shared timeline that starts at ``epoch_ns``: frame ``n`` is
captured at ``epoch + n / fps`` and sample ``k`` at ``epoch + k / rate``. Every
``flash_every`` seconds the picture is a white flash and the sound a beep starting on the
same instant, so audio/video sync can be measured on the recorded files. Each frame also
carries its frame number as a row of black and white blocks (see :func:`read_barcode`)
that survives H.264, so a test can prove that no frame was lost or doubled.
"""
from __future__ import annotations

import time

import numpy as np

from hw.camera import Camera, Frame, i420_planes
from hw.microphone import AudioChunk, Microphone
from hw.timebase import sleep_until, wall_at

BARCODE_BITS = 24
FLASH_SECONDS = 2
BEEP_SECONDS = 0.1
BEEP_HZ = 1000
_BLACK, _WHITE = 16, 235
# A sensor keeps a few buffers (picamera2's video default is 6); a reader later than this
# loses frames, as on a real camera.
_SENSOR_BUFFERS = 6
# The frame number as seven-segment digits: which of the segments (a top, b top right, c bottom
# right, d bottom, e bottom left, f top left, g middle) each digit lights.
_DIGIT_SEGMENTS = ("abcdef", "bc", "abdeg", "abcdg", "bcfg", "acdfg", "acdefg", "abc", "abcdefg", "abcdfg")


def _block_size(width: int) -> int:
    return max(8, (width // 80) & ~1)


def read_barcode(y_plane: np.ndarray) -> int:
    """The frame number written into a simulated frame's luma plane (also after decoding)."""
    height, width = y_plane.shape
    size = _block_size(width)
    top = height - 2 * size
    inner = y_plane[top + size // 4: top + size - size // 4]
    number = 0
    for bit in range(BARCODE_BITS):
        left = bit * size
        block = inner[:, left + size // 4: left + size - size // 4]
        number = (number << 1) | int(block.mean() > 128)
    return number


class SimulatedCamera(Camera):
    """A moving test pattern with a frame counter, a barcode and a white flash every N seconds."""

    simulated = True
    description = "simulated camera (no camera found: test pattern)"

    def __init__(self, width: int, height: int, fps: int, epoch_ns: int | None = None,
                 flash_every: int = FLASH_SECONDS) -> None:
        super().__init__(width, height, fps)
        self.epoch_ns = time.monotonic_ns() if epoch_ns is None else epoch_ns
        self.flash_every = flash_every
        self._next: int | None = None
        self._background = _moving_pattern(width, height)
        self._chroma = _colour_bars(width)
        self._digits = [_digit(segments, _block_size(width)) for segments in _DIGIT_SEGMENTS]

    def frame_time(self, number: int) -> int:
        """The monotonic capture time of frame ``number``."""
        return self.epoch_ns + number * 1_000_000_000 // self.fps

    def is_flash(self, number: int) -> bool:
        return number % (self.flash_every * self.fps) == 0

    def read(self) -> Frame:
        self._check_open()
        behind = (time.monotonic_ns() - self.epoch_ns) * self.fps // 1_000_000_000
        if self._next is None:
            # Streaming starts with the first read: the next frame slot is frame one.
            number = max(0, behind + 1) if behind > 0 else 0
        else:
            # Frames the reader was too late for are gone, as the sensor's buffers overflowed.
            number = max(self._next, behind - _SENSOR_BUFFERS)
        sleep_until(self.frame_time(number))
        self._next = number + 1
        captured = self.frame_time(number)
        return Frame(self._draw(number), captured, wall_at(captured), number)

    def _draw(self, number: int) -> np.ndarray:
        width, height = self.width, self.height
        image = np.empty((height * 3 // 2, width), np.uint8)
        y, u, v = i420_planes(image, width, height)
        if self.is_flash(number):
            y[:], u[:], v[:] = _WHITE, 128, 128
        else:
            shift = (number * 8) % width
            y[:] = self._background[:, shift:shift + width]
            u[:], v[:] = self._chroma
            self._write_number(y, number)
        _write_barcode(image, width, height, number)
        return image


    def _write_number(self, y: np.ndarray, number: int) -> None:
        """The frame number in white digits, bottom right above the barcode (the overlay's corners at the top stay clear)."""
        size = _block_size(self.width)
        digit_height, digit_width = self._digits[0].shape
        top, left = self.height - 3 * size - digit_height, self.width - 13 * size
        for place, char in enumerate(f"{number:07d}"):
            x = left + place * (digit_width + size // 2)
            cell = y[top:top + digit_height, x:x + digit_width]
            np.maximum(cell, self._digits[int(char)], out=cell)


class SimulatedMicrophone(Microphone):
    """Quiet noise with a 1 kHz beep starting exactly when the simulated camera flashes."""

    simulated = True
    description = "simulated microphone (no microphone found: beeps on the flashes)"

    def __init__(self, sample_rate: int, channels: int, epoch_ns: int | None = None,
                 flash_every: int = FLASH_SECONDS, period: int = 1024) -> None:
        super().__init__(sample_rate, channels)
        self.epoch_ns = time.monotonic_ns() if epoch_ns is None else epoch_ns
        self.flash_every = flash_every
        self.period = period
        self._next_sample = 0
        self._cycle = _beep_cycle(sample_rate, flash_every)

    def sample_time(self, index: int) -> int:
        return self.epoch_ns + index * 1_000_000_000 // self.sample_rate

    def read(self) -> AudioChunk:
        self._check_open()
        start = self._next_sample
        end = start + self.period
        # A period is delivered once its last sample has been captured.
        sleep_until(self.sample_time(end))
        self._next_sample = end
        mono = self._cycle.take(np.arange(start, end), mode="wrap")
        samples = np.repeat(mono[np.newaxis, :], self.channels, axis=0)
        captured = self.sample_time(start)
        return AudioChunk(samples, captured, wall_at(captured))


def _beep_cycle(sample_rate: int, flash_every: int) -> np.ndarray:
    """The sound of one flash cycle, which then repeats: quiet noise, and the beep from its start.

    Computed once (``flash_every`` seconds of float32, 384 KB at 48 kHz and 2 s): making it anew
    for every period cost the recorder more CPU than the rest of the microphone's path."""
    seconds = np.arange(flash_every * sample_rate) / sample_rate
    tone = np.where(seconds < BEEP_SECONDS, 0.5 * np.sin(2 * np.pi * BEEP_HZ * seconds), 0.0)
    noise = np.random.default_rng(1).normal(0, 0.002, seconds.size)
    return (tone + noise).astype(np.float32)


def _moving_pattern(width: int, height: int) -> np.ndarray:
    """Twice the frame width of diagonal stripes and circles; a window slides across it."""
    x = np.arange(2 * width, dtype=np.float32)[np.newaxis, :]
    pattern = np.empty((height, 2 * width), np.uint8)
    # A band of rows at a time in single precision: the full picture in doubles would be
    # several times the recorder's working memory, for a moment, at start.
    for top in range(0, height, 64):
        y = np.arange(top, min(top + 64, height), dtype=np.float32)[:, np.newaxis]
        stripes = 128 + 60 * np.sin((x + y) / 23) + 30 * np.sin(x / 7) * np.cos(y / 11)
        pattern[top:top + 64] = np.clip(stripes, _BLACK, _WHITE)
    radius = max(8, height // 8)
    rows = np.arange(height)[:, np.newaxis] - height // 2
    for cx in range(0, 2 * width, max(64, width // 6)):
        left = max(0, cx - radius)
        cols = np.arange(left, min(2 * width, cx + radius + 1))[np.newaxis, :] - cx
        pattern[:, left:left + cols.shape[1]][rows ** 2 + cols ** 2 <= radius ** 2] = _WHITE
    return pattern


def _colour_bars(width: int) -> tuple[np.ndarray, np.ndarray]:
    """One row of the U and of the V plane of eight vertical colour bars (every row is the same)."""
    u_values = np.array([128, 16, 166, 54, 202, 90, 240, 128], np.uint8)
    v_values = np.array([128, 146, 16, 34, 222, 240, 110, 128], np.uint8)
    bars = np.arange(width // 2) * 8 // (width // 2)
    return u_values[bars], v_values[bars]


def _digit(segments: str, size: int) -> np.ndarray:
    """A seven-segment digit ``size`` wide and twice as tall: white where lit, black elsewhere."""
    height, stroke = 2 * size, max(2, size // 5)
    middle = (height - stroke) // 2
    bars = {"a": (0, stroke, 0, size), "d": (height - stroke, height, 0, size), "g": (middle, middle + stroke, 0, size),
            "f": (0, middle + stroke, 0, stroke), "b": (0, middle + stroke, size - stroke, size),
            "e": (middle, height, 0, stroke), "c": (middle, height, size - stroke, size)}
    digit = np.zeros((height, size), np.uint8)
    for segment in segments:
        top, bottom, left, right = bars[segment]
        digit[top:bottom, left:right] = _WHITE
    return digit


def _write_barcode(image: np.ndarray, width: int, height: int, number: int) -> None:
    y, u, v = i420_planes(image, width, height)
    size = _block_size(width)
    top = height - 2 * size
    for bit in range(BARCODE_BITS):
        value = _WHITE if (number >> (BARCODE_BITS - 1 - bit)) & 1 else _BLACK
        y[top:top + size, bit * size:(bit + 1) * size] = value
    # Grey chroma under the blocks keeps them black and white after encoding.
    for plane in (u, v):
        plane[top // 2:(top + size) // 2, :size * BARCODE_BITS // 2] = 128
