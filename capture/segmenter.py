"""Cutting the session's packet stream into gapless fragmented-MP4 segments.

Packets of both streams arrive from the encoders; they are released in capture-time
order and written to the current segment. A new segment starts on the first video
keyframe at or after the segment length, and every packet earlier than that keyframe
(audio included) stays in the old one, so segment N+1 begins exactly one frame after
segment N ends and no frame or sample is lost or written twice.

Timestamps in the files are the session's timeline (the first frame is 0), kept as they
are: decoding segment N+1 gives timestamps that continue those of segment N. Each
segment has a sidecar frame index (``capture.index``) with every frame's capture times.
"""
from __future__ import annotations

import collections
import contextlib
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Iterator

import av

from capture import CaptureError
from capture.cenc import Protector
from capture.encoder import Encoders
from capture.fmp4 import FragmentSink, Part
from capture.index import IndexWriter
from capture.sealing import SegmentFacts
from capture.spool import AppendOnlyFile
from evidence.files import sync_directory
from evidence.records import INDEX_SUFFIX

# A fragment (moof+mdat) is cut at every keyframe and whenever it spans this long, so that
# a power cut loses at most about this much plus the time to write and fsync it. Fragments
# between keyframes are CMAF chunks: they begin with a predicted frame.
FRAGMENT_SECONDS = Fraction(1, 15)
# Keep the session timeline in the files: no shift to zero, no edit list.
MUXER_OPTIONS = {
    "movflags": "frag_keyframe+empty_moov+default_base_moof+frag_discont",
    "frag_duration": str(int(FRAGMENT_SECONDS * 1_000_000)),
    "use_editlist": "0",
    "avoid_negative_ts": "disabled",
}
# If one stream stops (a dead microphone), the other is written without it after this long.
MAX_WAIT_SECONDS = Fraction(2)


@dataclass(frozen=True)
class FrameStamp:
    """When (and where) a video frame was captured: what the index records of it besides its packet.

    ``place`` is the GNSS fix in effect at capture (``lat``, ``lon`` in microdegrees, ``utc``
    the receiver's time of the fix in ns), or None without one; the same dict object while the
    fix does not change."""

    monotonic_ns: int
    wall_ns: int
    place: dict[str, int] | None = None


def _shift(packet: av.Packet, origin: int) -> None:
    packet.pts -= origin
    packet.dts -= origin


@dataclass
class _Queued:
    time: Fraction
    packet: av.Packet
    stamp: FrameStamp | None


class Segment:
    """One open segment file: container, sink and index."""

    def __init__(self, folder: Path, number: int, encoders: Encoders, header: dict[str, Any],
                 on_part: Callable[["Segment", Part], None], protector: Protector | None = None) -> None:
        self.number = number
        self.session = header["session"]
        self.parts: list[dict[str, Any]] = []
        self.name = f"seg-{number:06d}.mp4"
        self.path = folder / self.name
        self.frames = 0
        self.first: dict[str, int] | None = None
        self.last: dict[str, int] | None = None
        self.markers: list[dict[str, Any]] = []
        self.first_place: dict[str, int] | None = None
        self.last_place: dict[str, int] | None = None
        self.index = IndexWriter(folder / (self.name + INDEX_SUFFIX))
        self.index.add({"type": "segment", "segment": number, "file": self.name, **header})
        self.file = AppendOnlyFile(self.path)
        self.sink = FragmentSink(self.file, lambda part: on_part(self, part), protector)
        try:
            self.container = av.open(self.sink, "w", format="mp4", options=MUXER_OPTIONS)
            self.video = self.container.add_stream_from_template(encoders.video)
            self.video.codec_context.extradata = encoders.video.codec_context.extradata
            # The template copies the stream's parameters as they were before the encoder was
            # set up (640x480): the picture size goes into the MP4 header from these.
            self.video.codec_context.width = encoders.video.codec_context.width
            self.video.codec_context.height = encoders.video.codec_context.height
            self.audio = None
            if encoders.audio is not None:
                self.audio = self.container.add_stream_from_template(encoders.audio)
                self.audio.codec_context.extradata = encoders.audio.codec_context.extradata
        except av.FFmpegError as exc:
            self.file.close()
            raise CaptureError(f"cannot start segment {self.path}: {exc}") from exc

    def sync(self) -> None:
        """Make the fragments written so far durable, then the index lines that name them."""
        self.index.sync(first=self.file.sync)

    def write(self, item: _Queued, frame_number: int) -> None:
        """Mux one packet whose pts is already on the session's timeline."""
        packet = item.packet
        packet.stream = self.audio if item.stamp is None else self.video
        if item.stamp is not None:
            self.frames += 1
            frame = {"n": frame_number, "pts": packet.pts, "mono": item.stamp.monotonic_ns,
                     "wall": item.stamp.wall_ns}
            self.first = self.first or frame
            self.last = frame
            self.index.add({**frame, "key": packet.is_keyframe})
            self._note_place(item.stamp.place, frame_number)
        try:
            self.container.mux(packet)
        except av.FFmpegError as exc:
            raise CaptureError(f"cannot write to segment {self.path}: {exc}") from exc

    def _note_place(self, place: dict[str, int] | None, frame_number: int) -> None:
        """Keep the segment's first and last fix; the index names each new one (recovery seals from it)."""
        if place is None or place is self.last_place:
            return
        self.first_place = self.first_place or place
        self.last_place = place
        self.index.add({"type": "place", "n": frame_number, **place})

    def close(self, reason: str) -> None:
        try:
            self.container.close()
        except av.FFmpegError as exc:
            raise CaptureError(f"cannot finish segment {self.path}: {exc}") from exc
        finally:
            self.file.close()
        self.index.add({"type": "end", "reason": reason, "frames": self.frames, "size": self.sink.size,
                        "sha256": self.sink.whole.hexdigest(), "fragments": self.sink.fragments})
        self.index.close()
        sync_directory(self.path.parent)

    def facts(self) -> SegmentFacts:
        """What the manifest says of this closed segment; all of it was gathered while writing."""
        return SegmentFacts(self.session, self.number, self.name, self.sink.size, self.sink.whole.hexdigest(),
                            self.parts, self.index.digest(), self.frames, self.first, self.last,
                            ["marked"] if self.markers else [], self.markers,
                            {"first": self.first_place, "last": self.last_place})


class SyncThread:
    """fsyncs segments off the recording thread: the fragments written so far, then the index.

    At most one fsync is in flight. Requests made while it runs are served together by the
    next one, so a slow card gets fewer, larger fsyncs instead of stalling the frames; the
    rate of fsyncs is bounded by the card's own fsync time. A failed fsync is raised to the
    recording thread at its next request or drain.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._wanted: Segment | None = None
        self._busy = False
        self._closed = False
        self._error: Exception | None = None
        self._thread = threading.Thread(target=self._run, name="fsync", daemon=True)
        self._thread.start()

    def request(self, segment: Segment) -> None:
        """Make what ``segment`` has written so far durable, soon."""
        with self._changed:
            self._raise_error()
            self._wanted = segment
            self._changed.notify_all()

    def drain(self) -> None:
        """Wait until every request made so far is durable."""
        with self._changed:
            self._changed.wait_for(lambda: self._wanted is None and not self._busy)
            self._raise_error()

    def close(self) -> None:
        """Drain, then end the thread; safe to call twice."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        self._thread.join()
        self._raise_error()

    def _raise_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._wanted is not None or self._closed)
                segment, self._wanted = self._wanted, None
                if segment is None:
                    return
                self._busy = True
            try:
                segment.sync()
            except Exception as exc:  # the recording thread raises it: a card that cannot sync is a fault
                self._error = exc
            finally:
                with self._changed:
                    self._busy = False
                    self._changed.notify_all()


class Segmenter:
    """Writes one session's segments; fed by the pipeline's thread, never by two threads at once.

    ``origin`` is the session's first frame on the encoders' timeline (seconds; None: the
    first frame given): packets are moved onto the session's timeline, whose first frame is
    0, before they are written. With a ``protector`` every segment is encrypted with the
    session's content key (``capture.cenc``).
    """

    def __init__(self, folder: Path, encoders: Encoders, segment_seconds: int, header: dict[str, Any],
                 origin: Fraction | None = Fraction(0),
                 on_segment_closed: Callable[[Segment], None] = lambda segment: None,
                 protector: Protector | None = None) -> None:
        self.folder = folder
        self.protector = protector
        self.encoders = encoders
        self.segment_length = Fraction(segment_seconds)
        self.header = header
        self.on_segment_closed = on_segment_closed
        self.segment: Segment | None = None
        self.segments = 0
        self.deferring = False
        self._segment_start = Fraction(0)
        self._video: collections.deque[_Queued] = collections.deque()
        self._audio: collections.deque[_Queued] = collections.deque()
        self._audio_base = Fraction(1, encoders.audio.codec_context.sample_rate) if encoders.audio else None
        self._video_origin = self._audio_origin = 0
        self._origin_set = False
        if origin is not None:
            self._set_origin(origin)
        self.frames = 0
        self.received = 0
        self._markers: list[dict[str, Any]] = []
        self._syncer = SyncThread()

    def _set_origin(self, origin: Fraction) -> None:
        self._video_origin = int(origin / self.encoders.video_time_base)
        self._audio_origin = round(origin / self._audio_base) if self._audio_base else 0
        self._origin_set = True

    @property
    def video_origin(self) -> int:
        return self._video_origin

    def add_video(self, packet: av.Packet, stamp: FrameStamp) -> None:
        if not self._origin_set:
            self._set_origin(packet.pts * self.encoders.video_time_base)
        self.received += 1
        _shift(packet, self._video_origin)
        self._video.append(_Queued(packet.pts * self.encoders.video_time_base, packet, stamp))
        self._release()

    def add_audio(self, packet: av.Packet) -> None:
        if not self._origin_set:
            return  # no picture yet: its time on the session's timeline is not known
        _shift(packet, self._audio_origin)
        # Sound from before the session's first frame (or the AAC encoder's priming) is not part of it.
        if packet.pts < 0:
            return
        self._audio.append(_Queued(packet.pts * self._audio_base, packet, None))
        self._release()

    def add_marker(self, pts: int, marker: dict[str, Any]) -> None:
        """Mark the frame at ``pts`` (encoders' timeline); the mark goes into that frame's segment."""
        self._markers.append({**marker, "pts": pts - self._video_origin})

    def close(self, reason: str, end: Fraction | None = None) -> None:
        """Write everything still queued, up to ``end`` on the encoders' timeline, and close the last segment."""
        if end is not None:
            # Sound captured after the last frame (the camera's queue ran late) is not part of it.
            end -= self._video_origin * self.encoders.video_time_base
            self._audio = collections.deque(item for item in self._audio if item.time < end)
        try:
            self._release(final=True)
            if self.segment is not None:
                self._attach_markers(None)
                self._close_segment(reason)
        finally:
            self._syncer.close()
            if self.protector is not None:
                self.protector.wipe()  # the content key lives only while the session records

    def _release(self, final: bool = False) -> None:
        while self._video or self._audio:
            if self._video and self._audio:
                queue = self._video if self._video[0].time <= self._audio[0].time else self._audio
            elif final or self._audio_base is None:
                queue = self._video or self._audio
            else:
                waiting = self._video or self._audio
                if waiting[-1].time - waiting[0].time < MAX_WAIT_SECONDS:
                    return
                queue = waiting
            self._write(queue.popleft())

    def _write(self, item: _Queued) -> None:
        is_cut = (item.stamp is not None and item.packet.is_keyframe
                  and (self.segment is None or item.time >= self._segment_start + self.segment_length))
        if is_cut:
            if self.segment is not None:
                self._close_segment("length")
            self._open_segment(item.time)
        if self.segment is None:
            # Audio before the first keyframe of the session: there is no picture to go with it.
            return
        if item.stamp is not None:
            self._attach_markers(item.packet.pts)
            self.frames += 1
        self.segment.write(item, self.frames - 1)

    def _attach_markers(self, pts: int | None) -> None:
        """Give the segment every pending marker for a frame up to ``pts`` (None: all of them)."""
        due = [m for m in self._markers if pts is None or m["pts"] <= pts]
        for marker in due:
            self._markers.remove(marker)
            marker = {**marker, "n": self.frames if pts is not None else self.frames - 1}
            self.segment.markers.append(marker)
            self.segment.index.add({"type": "marker", **marker})

    def _open_segment(self, start: Fraction) -> None:
        self.segments += 1
        self._segment_start = start
        self.segment = Segment(self.folder, self.segments, self.encoders,
                               {**self.header, "start_pts": int(start / self.encoders.video_time_base)},
                               self._part_written, self.protector)

    def _close_segment(self, reason: str) -> None:
        self._syncer.drain()  # the segment's own close syncs the rest, on this thread
        segment, self.segment = self.segment, None
        segment.close(reason)
        self.on_segment_closed(segment)

    def _part_written(self, segment: Segment, part: Part) -> None:
        record = {"type": part.kind, "number": part.number, "offset": part.offset, "size": part.size,
                  "sha256": part.sha256}
        segment.parts.append(record)
        segment.index.add(record)
        if not self.deferring and segment is self.segment:
            self._syncer.request(segment)

    @contextlib.contextmanager
    def deferred_sync(self) -> Iterator[None]:
        """Write a burst (the pre-event buffer) without an fsync per fragment: the fsync of the
        next live fragment, a fraction of a second later, makes the whole burst durable."""
        self.deferring = True
        try:
            yield
        finally:
            self.deferring = False
