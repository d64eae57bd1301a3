"""H.264 and AAC encoders (PyAV), one pair per recording session, continuous across segments.

The encoders run once for the whole session and their packets are cut into segments
afterwards, so a segment boundary can never lose, repeat or re-encode a frame or a sample.
Each encoder lives on an output stream of a container that is never written: that is how
PyAV gives the encoder the MP4 global header (SPS/PPS in ``extradata``) and a stream
that segment files copy their parameters from.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.frame import PictureType

from capture import CaptureError


@dataclass(frozen=True)
class VideoSettings:
    width: int
    height: int
    fps: int
    bitrate_kbps: int
    encoder: str = "auto"


@dataclass(frozen=True)
class AudioSettings:
    sample_rate: int
    channels: int
    bitrate_kbps: int


def choose_video_encoder(requested: str) -> str:
    """``auto`` is the hardware encoder on a Raspberry Pi 4 and libx264 elsewhere (Pi 5 has none)."""
    if requested != "auto":
        return requested
    try:
        model = Path("/proc/device-tree/model").read_text(errors="replace")
    except OSError:
        model = ""
    if "Raspberry Pi 4" in model and "h264_v4l2m2m" in av.codecs_available:
        return "h264_v4l2m2m"
    return "libx264"


class Encoders:
    """The session's video and audio encoders and the streams segment files are modelled on."""

    def __init__(self, video: VideoSettings, audio: AudioSettings | None) -> None:
        self._holder = av.open(io.BytesIO(), "w", format="mp4")
        self.video_settings = video
        self.video_time_base = Fraction(1, video.fps)
        self.video = self._video_stream(video)
        self.audio = self._audio_stream(audio) if audio else None
        self.audio_frame_size = self.audio.codec_context.frame_size if self.audio else 0

    def _video_stream(self, settings: VideoSettings) -> av.VideoStream:
        name = choose_video_encoder(settings.encoder)
        options = {}
        if name == "libx264":
            # One IDR per second is forced by the recorder; scenecut off keeps the GOPs whole
            # (a flash must not start an extra fragment); keyint is only a safety net.
            options = {"preset": "ultrafast", "tune": "zerolatency",
                       "x264-params": f"keyint={2 * settings.fps}:min-keyint={settings.fps}:scenecut=0"}
        try:
            stream = self._holder.add_stream(name, rate=settings.fps, options=options)
        except (av.FFmpegError, ValueError) as exc:
            raise CaptureError(f"the video encoder {name} is not available: {exc}") from exc
        ctx = stream.codec_context
        ctx.width, ctx.height = settings.width, settings.height
        ctx.pix_fmt = "yuv420p"
        ctx.bit_rate = settings.bitrate_kbps * 1000
        ctx.gop_size = settings.fps
        ctx.time_base = self.video_time_base
        ctx.open()
        return stream

    def _audio_stream(self, settings: AudioSettings) -> av.AudioStream:
        stream = self._holder.add_stream("aac", rate=settings.sample_rate)
        ctx = stream.codec_context
        ctx.layout = "mono" if settings.channels == 1 else "stereo"
        ctx.bit_rate = settings.bitrate_kbps * 1000
        ctx.time_base = Fraction(1, settings.sample_rate)
        ctx.open()
        return stream

    def encode_video(self, image: np.ndarray, pts: int, keyframe: bool) -> list[av.Packet]:
        """Encode one I420 picture at ``pts`` (in frame intervals since the session start)."""
        # No copy: the frame wraps the picture's own memory, which nothing reuses before encoding.
        frame = av.VideoFrame.from_numpy_buffer(image, format="yuv420p")
        frame.pts, frame.time_base = pts, self.video_time_base
        if keyframe:
            frame.pict_type = PictureType.I
        return self._encode(self.video, frame)

    def encode_audio(self, samples: np.ndarray, pts: int) -> list[av.Packet]:
        """Encode one block of ``audio_frame_size`` samples, shape (channels, n), at ``pts`` samples."""
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples, np.float32), format="fltp",
                                           layout=self.audio.codec_context.layout.name)
        frame.sample_rate = self.audio.codec_context.sample_rate
        frame.pts, frame.time_base = pts, self.audio.codec_context.time_base
        return self._encode(self.audio, frame)

    @staticmethod
    def _encode(stream: av.Stream, frame: av.Frame | None) -> list[av.Packet]:
        try:
            return list(stream.codec_context.encode(frame))
        except av.FFmpegError as exc:
            raise CaptureError(f"the {stream.codec_context.name} encoder failed: {exc}") from exc
