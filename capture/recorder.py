"""A recording session: camera and microphone in, gapless segments on the spool out.

Threads: the camera and the microphone each have a reader thread that only moves captured
data into a bounded queue (a full queue drops the newest frame and counts it, as a real
sensor does when nobody reads it). The thread that calls :meth:`Recorder.run` does all
the rest: timestamps, encoding and segmenting, so the segmenter needs no lock.
"""
from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from capture import CaptureError
from capture.encoder import AudioSettings, Encoders, VideoSettings
from capture.sealing import Sealer
from capture.segmenter import FrameStamp, Segmenter
from capture.spool import new_session_dir
from hw.camera import Camera, Frame
from hw.microphone import AudioChunk, Microphone

# A camera silent for this long has failed; the session is closed cleanly.
CAMERA_TIMEOUT_SECONDS = 2.0
# A gap in the microphone's timestamps beyond this is lost audio, filled with silence.
AUDIO_GAP_SECONDS = 0.1
PROGRESS_SECONDS = 0.5


@dataclass(frozen=True)
class RecordingSettings:
    video: VideoSettings
    audio: AudioSettings | None
    segment_seconds: int
    data_dir: Path
    identity: dict[str, Any] = field(default_factory=dict)


@dataclass
class Progress:
    """What the officer's screen shows while recording, and the summary at the end."""

    session_id: str
    folder: Path
    elapsed: float = 0.0
    segments: int = 0
    frames: int = 0
    dropped: int = 0
    audio_samples: int = 0
    audio_gaps: int = 0
    stop_reason: str = ""
    error: str = ""


class _Reader:
    """A thread that reads one device into a bounded queue until stopped."""

    def __init__(self, name: str, read: Callable[[], Any], capacity: int) -> None:
        self.queue: queue.Queue = queue.Queue(capacity)
        self.overflows = 0
        self.error: Exception | None = None
        self._read = read
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                item = self._read()
            except Exception as exc:  # any device failure ends this reader; run() reports it
                self.error = exc
                return
            try:
                self.queue.put_nowait(item)
            except queue.Full:
                self.overflows += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        if self._thread.is_alive():
            raise CaptureError(f"the {self._thread.name} thread did not stop")


class Recorder:
    """Records one session from ``camera`` and ``microphone`` (which may be None) into the spool.

    ``frame_filter`` is called on every frame before it is encoded (the overlay draws there).
    ``sealer`` signs the session's open and close records and each segment's manifest; without
    one the segments are written but not sealed (the benchmark compares the two).
    """

    def __init__(self, camera: Camera, microphone: Microphone | None, settings: RecordingSettings,
                 sealer: Sealer | None, frame_filter: Callable[[Frame], None] | None = None) -> None:
        self.camera, self.microphone, self.settings = camera, microphone, settings
        self.sealer = sealer
        self.frame_filter = frame_filter
        self.encoders = Encoders(settings.video, settings.audio if microphone else None)
        session_id, folder = new_session_dir(settings.data_dir, settings.identity.get("device", "device"))
        self.progress = Progress(session_id, folder)
        self._t0: int | None = None
        self._lost_frames = 0
        self._stamps: dict[int, FrameStamp] = {}
        self._last_pts = -1
        self._next_key = 0
        self._audio_next: int | None = None
        self._audio_end: int | None = None
        self._audio_buffer = np.zeros((settings.audio.channels if settings.audio else 1, 0), np.float32)
        if sealer is not None:
            sealer.open_session(session_id)
        self.segmenter = Segmenter(folder, self.encoders, settings.segment_seconds, self._header(),
                                   on_segment_closed=self._seal)

    def _header(self) -> dict[str, Any]:
        video, audio = self.settings.video, self.settings.audio
        header: dict[str, Any] = {
            "session": self.progress.session_id, **self.settings.identity,
            "video": {"codec": "h264", "width": video.width, "height": video.height, "fps": video.fps,
                      "source": self.camera.description},
        }
        if self.microphone is not None and audio is not None:
            header["audio"] = {"codec": "aac", "sample_rate": audio.sample_rate, "channels": audio.channels,
                               "source": self.microphone.description}
        return header

    def _seal(self, segment) -> None:
        if self.sealer is not None:
            self.sealer.seal_segment(segment.facts())

    def describe(self) -> list[str]:
        """What is being recorded from, said plainly (a simulated device is named as such)."""
        lines = [f"camera      {self.camera.description}",
                 f"microphone  {self.microphone.description if self.microphone else 'none (video only)'}"]
        return lines + [f"session     {self.progress.session_id}", f"spool       {self.progress.folder}"]

    def run(self, seconds: float | None = None, stop: threading.Event | None = None,
            on_progress: Callable[[Progress], None] = lambda progress: None) -> Progress:
        """Record until ``seconds`` of footage are written or ``stop`` is set; return the summary."""
        stop = stop or threading.Event()
        fps = self.settings.video.fps
        limit = None if seconds is None else round(seconds * fps)
        camera = _Reader("camera", self.camera.read, capacity=fps)
        microphone = None
        if self.microphone is not None:
            microphone = _Reader("microphone", self.microphone.read, capacity=4 * self.settings.audio.sample_rate // 1024)
        started = time.monotonic()
        shown = started
        self.progress.stop_reason = "stop requested"
        try:
            while not stop.is_set():
                frame = self._next_frame(camera)
                if frame is None:
                    break
                if limit is not None and self._pts_of(frame) >= limit:
                    self.progress.stop_reason = "duration reached"
                    break
                self._add_frame(frame)
                if microphone is not None:
                    self._drain_audio(microphone)
                self.progress.dropped = self._lost_frames + camera.overflows
                self.progress.segments = self.segmenter.segments
                if time.monotonic() - shown >= PROGRESS_SECONDS:
                    shown = time.monotonic()
                    self.progress.elapsed = shown - started
                    on_progress(self.progress)
        finally:
            camera.stop()
            if microphone is not None:
                microphone.stop()
                # Sound captured after the last frame is not part of the recording.
                fps, rate = self.settings.video.fps, self.settings.audio.sample_rate
                self._audio_end = (self._last_pts + 1) * rate // fps
                self._drain_audio(microphone)
            self._finish()
            self.progress.elapsed = time.monotonic() - started
            self.progress.segments = self.segmenter.segments
        return self.progress

    def _next_frame(self, camera: _Reader) -> Frame | None:
        try:
            return camera.queue.get(timeout=CAMERA_TIMEOUT_SECONDS)
        except queue.Empty:
            reason = f"camera failed: {camera.error}" if camera.error else "camera stopped delivering frames"
            self.progress.stop_reason = "fault"
            self.progress.error = reason
            return None

    def _pts_of(self, frame: Frame) -> int:
        if self._t0 is None:
            return 0
        pts = round((frame.monotonic_ns - self._t0) * self.settings.video.fps / 1e9)
        return max(pts, self._last_pts + 1)

    def _add_frame(self, frame: Frame) -> None:
        if self._t0 is None:
            self._t0 = frame.monotonic_ns
        pts = self._pts_of(frame)
        self._lost_frames += pts - self._last_pts - 1
        self._last_pts = pts
        keyframe = pts >= self._next_key
        if keyframe:
            self._next_key = (pts // self.settings.video.fps + 1) * self.settings.video.fps
        if self.frame_filter is not None:
            self.frame_filter(frame)
        # Packets may leave the encoder later than their frame went in: match them by pts.
        self._stamps[pts] = FrameStamp(self.progress.frames, pts, frame.monotonic_ns, frame.wall_ns)
        self.progress.frames += 1
        self._write_video(self.encoders.encode_video(frame.image, pts, keyframe))

    def _write_video(self, packets: list) -> None:
        for packet in packets:
            self.segmenter.add_video(packet, self._stamps.pop(packet.pts))

    def _drain_audio(self, microphone: _Reader) -> None:
        while True:
            try:
                chunk = microphone.queue.get_nowait()
            except queue.Empty:
                return
            self._add_audio(chunk)

    def _add_audio(self, chunk: AudioChunk) -> None:
        if self._t0 is None:
            return
        rate = self.settings.audio.sample_rate
        start = round((chunk.monotonic_ns - self._t0) * rate / 1e9)
        samples = chunk.samples
        if self._audio_next is None:
            if start + samples.shape[1] <= 0:
                return
            samples = samples[:, max(0, -start):]
            self._audio_next = max(0, start)
        else:
            expected = self._audio_next + self._audio_buffer.shape[1]
            gap = start - expected
            if gap > AUDIO_GAP_SECONDS * rate:
                # Samples the device lost: silence keeps the audio timeline true to the clock.
                self.progress.audio_gaps += 1
                samples = np.concatenate([np.zeros((samples.shape[0], gap), np.float32), samples], axis=1)
        if self._audio_end is not None:
            room = self._audio_end - self._audio_next - self._audio_buffer.shape[1]
            samples = samples[:, :max(0, room)]
        self._audio_buffer = np.concatenate([self._audio_buffer, samples], axis=1)
        self._encode_audio_blocks()

    def _encode_audio_blocks(self, pad: bool = False) -> None:
        size = self.encoders.audio_frame_size
        if pad and self._audio_buffer.shape[1] % size:
            missing = size - self._audio_buffer.shape[1] % size
            self._audio_buffer = np.pad(self._audio_buffer, ((0, 0), (0, missing)))
        while self._audio_buffer.shape[1] >= size:
            block, self._audio_buffer = self._audio_buffer[:, :size], self._audio_buffer[:, size:]
            for packet in self.encoders.encode_audio(block, self._audio_next):
                self.segmenter.add_audio(packet)
            self._audio_next += size
            self.progress.audio_samples += size

    def _finish(self) -> None:
        if self._audio_next is not None:
            self._encode_audio_blocks(pad=True)
        video, audio = self.encoders.flush() if self._t0 is not None else ([], [])
        self._write_video(video)
        for packet in audio:
            self.segmenter.add_audio(packet)
        self.segmenter.close(self.progress.stop_reason)
        if self.sealer is not None:
            self.sealer.close_session(self.progress.session_id, self.progress.stop_reason)
