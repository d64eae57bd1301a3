"""Microphones: a source of float32 sample blocks, each stamped with the capture time of its first sample."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from hw import HardwareError
from hw.base import Adapter
from hw.timebase import wall_at


@dataclass
class AudioChunk:
    """``samples`` has shape (channels, n), float32 in [-1, 1]; the times are of the first sample."""

    samples: np.ndarray
    monotonic_ns: int
    wall_ns: int


class Microphone(Adapter):
    """Base class of the microphone adapters.

    A subclass must set ``description`` and override :meth:`read`; it may override
    ``_close`` and set ``simulated`` (:class:`~hw.base.Adapter`).
    """

    description = "microphone"

    def __init__(self, sample_rate: int, channels: int) -> None:
        self.sample_rate, self.channels = sample_rate, channels

    def read(self) -> AudioChunk:
        """Block until the next block of samples has been captured and return it; AdapterClosed once closed."""
        raise NotImplementedError


class PyAVMicrophone(Microphone):
    """An ALSA or PulseAudio capture device read through FFmpeg's input devices (PyAV)."""

    def __init__(self, backend: str, device: str, sample_rate: int, channels: int) -> None:
        super().__init__(sample_rate, channels)
        import av

        self.description = f"{backend} microphone {device}"
        options = {"sample_rate": str(sample_rate), "channels": str(channels)}
        try:
            self._container = av.open(device, format=backend, options=options)
        except (av.FFmpegError, OSError) as exc:
            raise HardwareError(f"cannot open {self.description}: {exc}") from exc
        with self._closing_on_failure():
            self._frames = self._container.decode(audio=0)
            self._resampler = av.AudioResampler(format="fltp", layout="mono" if channels == 1 else "stereo",
                                                rate=sample_rate)

    def read(self) -> AudioChunk:
        self._check_open()
        try:
            frame = next(self._frames)
        except (StopIteration, OSError) as exc:
            raise HardwareError(f"{self.description} stopped delivering samples") from exc
        # The device delivers a period once its last sample is in: the first was captured
        # one period ago.
        received = time.monotonic_ns()
        captured = received - frame.samples * 1_000_000_000 // self.sample_rate
        samples = np.concatenate([f.to_ndarray() for f in self._resampler.resample(frame)], axis=1)
        return AudioChunk(samples.astype(np.float32), captured, wall_at(captured))

    def _close(self) -> None:
        self._container.close()


def detect_microphone() -> str:
    """The source ``auto`` stands for: ALSA's default capture device when a sound card has one."""
    try:
        with open("/proc/asound/pcm", encoding="utf-8") as fh:
            if any("capture" in line for line in fh):
                return "alsa:default"
    except OSError:
        pass
    return "simulated:"
