"""The capture pipeline: camera and microphone in, encoded packets always, sessions on demand.

From :meth:`Pipeline.start` the camera and microphone run and every frame and sample is
encoded, once, on one continuous timeline. Between recordings the packets fill the
pre-event buffer (bounded, whole GOPs, video only unless configured); pressing record
opens a session whose first frames are the buffered ones, gapless with the live ones
because they come from the same encoder. Stopping closes the session at a frame boundary;
the footage after it goes back to filling the buffer.

Threads: the camera and the microphone each have a reader thread that only moves
captured data into a bounded queue (a full queue drops the newest frame, as a real sensor
does when nobody reads it). One worker thread does all the rest: timestamps, overlay,
encoding, the buffer, segmenting and sealing, so none of those need a lock; the segments'
fsyncs run on a thread of their own. Other threads (buttons, the command line) only post
requests to it. These threads, and the encoders', run at ``RecordingSettings.nice`` where
the process may set it. A frame missing from the timeline while recording (the camera or its
queue lost it) is counted and reported through ``on_event``, at most once a second.
"""
from __future__ import annotations

import collections
import contextlib
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable

import av
import numpy as np

from bodycam_threads import OwnedThread, ZombieThread
from capture import CaptureError
from capture.cenc import Protector
from capture.encoder import AudioSettings, Encoders, VideoSettings
from capture.priority import set_thread_nice, thread_nice
from capture.sealing import Sealer
from capture.segmenter import FrameStamp, Segment, Segmenter
from capture.spool import new_session_dir
from evidence.encryption import ContentKey, wrap
from hw.camera import Camera, Frame
from hw.microphone import AudioChunk, Microphone

# A camera silent for this long has failed; a session open then is closed cleanly.
CAMERA_TIMEOUT_SECONDS = 2.0
# A gap in the microphone's timestamps beyond this is lost audio, filled with silence.
AUDIO_GAP_SECONDS = 0.1
PROGRESS_SECONDS = 0.5
REQUEST_TIMEOUT_SECONDS = 10.0
DROPPED_REPORT_SECONDS = 1.0
READER_STOP_SECONDS = 5.0
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecordingSettings:
    video: VideoSettings
    audio: AudioSettings | None
    segment_seconds: int
    spool: Path     # where session folders are made (the data directory's spool/)
    identity: dict[str, Any] = field(default_factory=dict)
    pre_event_seconds: float = 0.0
    pre_event_audio: bool = False
    nice: int | None = None  # the capture threads' nice value; None: as the process
    agency_key: bytes | None = None  # X25519 public key: each session is encrypted, its key wrapped for it


@dataclass
class Progress:
    """One session as the officer's screen shows it while recording, and its summary at the end."""

    session_id: str
    folder: Path
    elapsed: float = 0.0
    segments: int = 0
    frames: int = 0
    dropped: int = 0
    audio_samples: int = 0
    audio_gaps: int = 0
    pre_event_frames: int = 0
    markers: int = 0
    stop_reason: str = ""
    error: str = ""
    done: threading.Event = field(default_factory=threading.Event, repr=False)


class _Reader:
    """A thread that reads one device into a bounded queue until stopped. A device failure ends
    it (logged with its traceback); ``error`` hands it to the worker, which reports it."""

    def __init__(self, name: str, read: Callable[[], Any], capacity: int, nice: int | None) -> None:
        self.queue: queue.Queue = queue.Queue(capacity)
        self._read = read
        self._nice = nice
        self.thread = OwnedThread(self._run, name)
        self.thread.start()

    @property
    def error(self) -> Exception | None:
        return self.thread.error

    def _run(self) -> None:
        if self._nice is not None:
            set_thread_nice(self._nice)  # a refusal is reported once, by the pipeline
        while not self.thread.stopping.is_set():
            item = self._read()
            # A full queue drops the frame: the gap in the capture times counts it.
            with contextlib.suppress(queue.Full):
                self.queue.put_nowait(item)


@dataclass
class _Buffered:
    time: Fraction
    packet: av.Packet
    stamp: FrameStamp | None


class PreEventBuffer:
    """The last N seconds of encoded packets, starting on a keyframe, held in memory only."""

    def __init__(self, seconds: float, keep_audio: bool) -> None:
        self.seconds = Fraction(seconds).limit_denominator(1000)
        self.keep_audio = keep_audio
        self._items: collections.deque[_Buffered] = collections.deque()
        self.bytes = 0

    def add(self, item: _Buffered) -> None:
        if self.seconds <= 0 or (item.stamp is None and not self.keep_audio):
            return
        if not self._items and not (item.stamp is not None and item.packet.is_keyframe):
            return  # the buffer always starts on a keyframe
        self._items.append(item)
        self.bytes += item.packet.size
        self._trim(item.time)

    def _trim(self, now: Fraction) -> None:
        # Drop the oldest GOP while the next keyframe still leaves at least N seconds.
        while True:
            next_key = next((i for i, it in enumerate(self._items) if i and it.stamp is not None
                             and it.packet.is_keyframe), None)
            if next_key is None or now - self._items[next_key].time < self.seconds:
                return
            for _ in range(next_key):
                self.bytes -= self._items.popleft().packet.size

    def take(self) -> list[_Buffered]:
        items, self._items, self.bytes = list(self._items), collections.deque(), 0
        return items

    def clear(self) -> None:
        self.take()

    @property
    def duration(self) -> float:
        return float(self._items[-1].time - self._items[0].time) if self._items else 0.0


class Pipeline:
    """Capture, encode and buffer continuously; record sessions on request.

    ``frame_filter`` is called on every frame before it is encoded (the overlay draws there).
    ``sealer`` signs each session's records and segment manifests; without one the segments
    are written but not sealed (the benchmark compares the two). ``on_event(kind, data)`` is
    told what the log should keep: ``frames_dropped`` and ``priority_refused``; it is called
    on the recording thread and must not wait. ``place()`` is the GNSS fix at the moment
    (``capture.segmenter.FrameStamp``), read once per frame: each manifest seals the first and
    last fix of its segment.
    """

    def __init__(self, camera: Camera, microphone: Microphone | None, settings: RecordingSettings,
                 sealer: Sealer | None, frame_filter: Callable[[Frame], None] | None = None,
                 on_event: Callable[[str, dict[str, Any]], None] = lambda kind, data: None,
                 place: Callable[[], dict[str, int] | None] = lambda: None) -> None:
        self.camera, self.microphone, self.settings = camera, microphone, settings
        self.place = place
        self.sealer = sealer
        self.frame_filter = frame_filter
        self.on_event = on_event
        with thread_nice(settings.nice) if settings.nice is not None else contextlib.nullcontext() as refused:
            # The encoders' own threads start here and keep the capture threads' nice value.
            self.encoders = Encoders(settings.video, settings.audio if microphone else None)
        if refused:
            on_event("priority_refused", {"nice": settings.nice, "message": refused})
        self.buffer = PreEventBuffer(settings.pre_event_seconds, settings.pre_event_audio)
        self.buffering = True
        self.progress: Progress | None = None
        self.error: str = ""
        self._requests: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._worker: OwnedThread | None = None
        self._session: Segmenter | None = None
        self._end_pts: int | None = None
        self._closing_at: Fraction | None = None
        self._closing_reason = ""
        self._t0: int | None = None
        self._last_pts = -1
        self._last_stamp: tuple[int, FrameStamp] | None = None
        self._force_key = True
        self._dropped: list[list[int]] = []  # [first, last] session pts not yet reported
        self._dropped_reported = 0.0
        self._stamps: dict[int, FrameStamp] = {}
        self._audio_next: int | None = None
        self._audio_buffer = np.zeros((settings.audio.channels if settings.audio else 1, 0), np.float32)
        self._readers: list[_Reader] = []
        self.notes: list[str] = []

    def describe(self) -> list[str]:
        """What is being recorded from, said plainly (a simulated device is named as such)."""
        return [f"camera      {self.camera.description}",
                f"microphone  {self.microphone.description if self.microphone else 'none (video only)'}",
                f"spool       {self.settings.spool}"]

    # --- asked from any thread ---------------------------------------------------------------

    def start(self) -> None:
        """Start capturing and encoding (standby: the pre-event buffer fills)."""
        fps = self.settings.video.fps
        nice = self.settings.nice
        self._camera = _Reader("camera", self.camera.read, capacity=fps, nice=nice)
        self._readers = [self._camera]
        self._microphone = None
        if self.microphone is not None:
            self._microphone = _Reader("microphone", self.microphone.read,
                                       capacity=4 * self.settings.audio.sample_rate // 1024, nice=nice)
            self._readers.append(self._microphone)
        self._worker = OwnedThread(self._work, "pipeline", stopping=self._stop)
        self._worker.start()

    def start_recording(self, link: dict[str, Any] | None = None, seconds: float | None = None) -> Progress:
        """Open a session now; buffered footage becomes its start. ``seconds`` ends it after that much."""
        return self._ask("start", link, seconds)

    def stop_recording(self, reason: str) -> Progress:
        """Close the session at the current frame with ``reason``; returns once it is sealed."""
        progress = self._ask("stop", reason)
        progress.done.wait(REQUEST_TIMEOUT_SECONDS)
        return progress

    def add_marker(self, label: str = "") -> dict[str, Any]:
        """Mark the frame being captured now; the mark goes into its segment's manifest."""
        return self._ask("marker", label)

    def set_buffering(self, enabled: bool) -> None:
        """Docked: no pre-event buffering (and the buffer is emptied)."""
        self._ask("buffering", enabled)

    @property
    def recording(self) -> bool:
        return self.progress is not None and not self.progress.done.is_set()

    def buffer_bytes(self) -> int:
        return self.buffer.bytes

    def buffer_seconds(self) -> float:
        return self.buffer.duration

    def run(self, seconds: float | None = None, stop: threading.Event | None = None,
               on_progress: Callable[[Progress], None] = lambda progress: None) -> Progress:
        """Start, record one session of ``seconds`` (or until ``stop`` is set), and return its summary."""
        stop = stop or threading.Event()
        # Asked before the worker starts, so the session begins with the very first frame.
        progress = self._ask("start", None, seconds, start_worker=self._worker is None)
        started = time.monotonic()
        while not progress.done.wait(PROGRESS_SECONDS):
            progress.elapsed = time.monotonic() - started
            if stop.is_set():
                self.stop_recording("stop requested")
                break
            on_progress(progress)
        progress.elapsed = time.monotonic() - started
        return progress

    def close(self) -> None:
        """Close any open session ("shutdown"), stop the threads; safe to call twice."""
        if self._worker is None:
            return
        if self.recording and self._worker.is_alive():
            self.stop_recording("shutdown")
        # Every thread is asked to stop before any is waited for, and each is waited for even
        # when one before it hangs: a stuck camera never leaves the microphone reading.
        self._stop.set()
        for reader in self._readers:
            reader.thread.stopping.set()
        hung = []
        for thread, seconds in [(self._worker, REQUEST_TIMEOUT_SECONDS),
                                *((reader.thread, READER_STOP_SECONDS) for reader in self._readers)]:
            try:
                thread.join(seconds)
            except ZombieThread as exc:
                hung.append(str(exc))
        self._worker = None
        if hung:
            raise CaptureError("; ".join(hung))

    def _ask(self, kind: str, *args: Any, start_worker: bool = False) -> Any:
        if not start_worker and (self._worker is None or not self._worker.is_alive()):
            raise CaptureError(f"the pipeline is not running{': ' + self.error if self.error else ''}")
        answer: queue.Queue = queue.Queue(1)
        self._requests.put((kind, args, answer))
        if start_worker:
            self.start()
        try:
            result = answer.get(timeout=REQUEST_TIMEOUT_SECONDS)
        except queue.Empty as exc:
            raise CaptureError(f"the pipeline did not answer '{kind}'") from exc
        if isinstance(result, Exception):
            raise result
        return result

    # --- the worker thread ----------------------------------------------------------------------

    def _work(self) -> None:
        if self.settings.nice is not None:
            set_thread_nice(self.settings.nice)
        try:
            while not self._stop.is_set():
                self._serve_requests()
                frame = self._next_frame()
                if frame is None:
                    break
                self._add_frame(frame)
                if self._microphone is not None:
                    self._drain_audio()
        except Exception as exc:  # a failed spool write or encoder: close what can be closed
            log.exception("the capture pipeline failed")
            self.error = str(exc)
        finally:
            if self._session is not None:
                self.progress.error = self.progress.error or self.error
                try:
                    self._close_session("fault" if self.error else "shutdown")
                except Exception as exc:  # the spool refuses even the close: what was synced stays
                    self.error = f"{self.error}; closing failed: {exc}"
            self._serve_requests()

    def _serve_requests(self) -> None:
        while True:
            try:
                kind, args, answer = self._requests.get_nowait()
            except queue.Empty:
                return
            try:
                answer.put(getattr(self, f"_on_{kind}")(*args))
            except Exception as exc:
                answer.put(exc)

    def _on_start(self, link: dict[str, Any] | None, seconds: float | None) -> Progress:
        if self._session is not None:
            return self.progress
        if self.error:
            raise CaptureError(f"cannot record: {self.error}")
        buffered = self.buffer.take()
        origin = buffered[0].time if buffered else None
        session_id, folder = new_session_dir(self.settings.spool, self.settings.identity.get("device", "device"))
        self.progress = Progress(session_id, folder)
        pre_event_ms = 0
        if origin is not None:
            pre_event_ms = int(((self._last_pts + 1) * self.encoders.video_time_base - origin) * 1000)
        else:
            self._force_key = True  # no buffer: the next frame starts the session, as a keyframe
        content = ContentKey.draw() if self.settings.agency_key is not None else None
        if self.sealer is not None:
            encryption = wrap(content, self.settings.agency_key, session_id) if content else None
            self.sealer.open_session(session_id, link, pre_event_ms, encryption)
        self._session = Segmenter(folder, self.encoders, self.settings.segment_seconds, self._header(session_id),
                                  origin, on_segment_closed=self._seal,
                                  protector=Protector(content.key, content.kid) if content else None)
        if seconds is not None:
            # The session ends after ``seconds`` of time, however many frames the camera delivered.
            first = buffered[0].packet.pts if buffered else self._last_pts + 1
            self._end_pts = first + round(seconds * self.settings.video.fps)
        with self._session.deferred_sync():
            for item in buffered:
                self._to_session(item)
        self.progress.pre_event_frames = self._session.received
        return self.progress

    def _on_stop(self, reason: str) -> Progress:
        progress = self.progress
        if self._session is not None and self._closing_at is None:
            self._begin_close(reason)
        return progress

    def _on_marker(self, label: str) -> dict[str, Any]:
        if self._session is None or self._last_stamp is None:
            raise CaptureError("no recording to mark")
        pts, stamp = self._last_stamp
        marker = {"label": label, "wall": stamp.wall_ns}
        self._session.add_marker(pts, marker)
        self.progress.markers += 1
        return {**marker, "session_pts": pts - self._session.video_origin}

    def _on_buffering(self, enabled: bool) -> None:
        self.buffering = enabled
        if not enabled:
            self.buffer.clear()

    def _begin_close(self, reason: str, end_pts: int | None = None) -> None:
        """Take no frame from ``end_pts`` (default: the next one) on; take sound up to there, then close."""
        self._closing_reason = reason
        self._closing_at = (self._last_pts + 1 if end_pts is None else end_pts) * self.encoders.video_time_base
        if self._microphone is None:
            self._close_session(reason)

    def _close_session(self, reason: str) -> None:
        session, progress = self._session, self.progress
        end = self._closing_at
        self._report_dropped()
        self._session, self._closing_at, self._end_pts = None, None, None
        try:
            session.close(reason, end)
            if self.sealer is not None:
                self.sealer.close_session(progress.session_id, reason)
        except Exception as exc:
            progress.error = progress.error or str(exc)
            raise
        finally:
            progress.stop_reason = reason
            progress.segments = session.segments
            progress.done.set()

    def _header(self, session_id: str) -> dict[str, Any]:
        video, audio = self.settings.video, self.settings.audio
        header: dict[str, Any] = {
            "session": session_id, **self.settings.identity,
            "video": {"codec": "h264", "width": video.width, "height": video.height, "fps": video.fps,
                      "source": self.camera.description},
        }
        if self.microphone is not None and audio is not None:
            header["audio"] = {"codec": "aac", "sample_rate": audio.sample_rate, "channels": audio.channels,
                               "source": self.microphone.description}
        return header

    def _seal(self, segment: Segment) -> None:
        if self.sealer is not None:
            self.sealer.seal_segment(segment.facts())

    def _next_frame(self) -> Frame | None:
        try:
            return self._camera.queue.get(timeout=CAMERA_TIMEOUT_SECONDS)
        except queue.Empty:
            reader = self._camera
            self.error = f"camera failed: {reader.error}" if reader.error else "camera stopped delivering frames"
            return None

    def _add_frame(self, frame: Frame) -> None:
        fps = self.settings.video.fps
        if self._t0 is None:
            self._t0 = frame.monotonic_ns
        pts = max(round((frame.monotonic_ns - self._t0) * fps / 1e9), self._last_pts + 1)
        if self._session is not None and self._closing_at is None and self._end_pts is not None \
                and pts >= self._end_pts:
            self._begin_close("duration reached", self._end_pts)
        elif self._closing_at is not None and pts * self.encoders.video_time_base - self._closing_at > 2:
            self._close_session(self._closing_reason)  # the microphone stalled: close without its last sound
        previous = self._last_pts
        if previous >= 0 and pts > previous + 1:
            self._frames_lost(previous + 1, pts - 1)
        self._last_pts = pts
        stamp = FrameStamp(frame.monotonic_ns, frame.wall_ns, self.place())
        self._last_stamp = (pts, stamp)
        if self._session is None and not self.buffering:
            self._force_key = True  # docked: nothing is encoded; the next recording starts on a keyframe
            return
        # One keyframe per second of the timeline, also when the camera lost that second's first frame.
        keyframe = self._force_key or pts // fps != previous // fps
        self._force_key = False
        if self.frame_filter is not None:
            self.frame_filter(frame)
        self._stamps[pts] = stamp
        for packet in self.encoders.encode_video(frame.image, pts, keyframe):
            self._route(_Buffered(packet.pts * self.encoders.video_time_base, packet, self._stamps.pop(packet.pts)))
        if self._session is not None:
            self.progress.frames = self._session.received
            self.progress.segments = self._session.segments
            if self._dropped and time.monotonic() - self._dropped_reported >= DROPPED_REPORT_SECONDS:
                self._report_dropped()

    def _frames_lost(self, first: int, last: int) -> None:
        """Frames ``first`` to ``last`` (encoders' timeline) never arrived: counted, and reported while recording."""
        if self._session is None or self._closing_at is not None or not self._session.received:
            return  # not recording, or before the session's first frame
        origin = self._session.video_origin
        self.progress.dropped += last - first + 1
        self._dropped.append([first - origin, last - origin])

    def _report_dropped(self) -> None:
        if self._dropped and self.progress is not None:
            self.on_event("frames_dropped", {"session": self.progress.session_id, "pts": self._dropped,
                                             "count": sum(b - a + 1 for a, b in self._dropped),
                                             "fps": self.settings.video.fps})
        self._dropped, self._dropped_reported = [], time.monotonic()

    def _route(self, item: _Buffered) -> None:
        """A packet goes to the open session if it belongs to it, else to the pre-event buffer."""
        if self._session is not None and (self._closing_at is None or item.time < self._closing_at):
            self._to_session(item)
        elif self.buffering:
            self.buffer.add(item)
        if self._closing_at is not None and (item.stamp is None and item.time >= self._closing_at):
            self._close_session(self._closing_reason)

    def _to_session(self, item: _Buffered) -> None:
        if item.stamp is not None:
            self._session.add_video(item.packet, item.stamp)
        else:
            self._session.add_audio(item.packet)

    def _drain_audio(self) -> None:
        while True:
            try:
                chunk = self._microphone.queue.get_nowait()
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
            gap = start - (self._audio_next + self._audio_buffer.shape[1])
            if gap > AUDIO_GAP_SECONDS * rate:
                # Samples the device lost: silence keeps the audio timeline true to the clock.
                if self.progress is not None:
                    self.progress.audio_gaps += 1
                samples = np.concatenate([np.zeros((samples.shape[0], gap), np.float32), samples], axis=1)
        self._audio_buffer = np.concatenate([self._audio_buffer, samples], axis=1)
        size = self.encoders.audio_frame_size
        base = Fraction(1, rate)
        while self._audio_buffer.shape[1] >= size:
            block, self._audio_buffer = self._audio_buffer[:, :size], self._audio_buffer[:, size:]
            for packet in self.encoders.encode_audio(block, self._audio_next):
                if self._session is not None and packet.pts >= 0:
                    self.progress.audio_samples += packet.duration or size
                self._route(_Buffered(packet.pts * base, packet, None))
            self._audio_next += size
