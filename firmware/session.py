"""Building a recording from the configuration: which devices, which settings, whose identity."""
from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Iterator

from capture.encoder import AudioSettings, VideoSettings
from capture.recorder import Recorder, RecordingSettings
from firmware.config import Config
from firmware.version import __version__
from hw.camera import open_camera
from hw.microphone import open_microphone


def recording_settings(config: Config) -> RecordingSettings:
    video, audio = config["video"], config["audio"]
    return RecordingSettings(
        video=VideoSettings(video["width"], video["height"], video["fps"], video["bitrate_kbps"], video["encoder"]),
        audio=AudioSettings(audio["sample_rate"], audio["channels"], audio["bitrate_kbps"]),
        segment_seconds=config["recording"]["segment_seconds"],
        data_dir=Path(config["recording"]["data_dir"]),
        identity=identity(config),
    )


def identity(config: Config) -> dict[str, str]:
    """Who and what recorded: written into every segment's index."""
    return {
        "device": config["device"]["serial"],
        "police_number": config["officer"]["police_number"],
        "officer": config["officer"]["name"],
        "unit_number": config["unit"]["number"],
        "unit": config["unit"]["name"],
        "firmware": __version__,
    }


@contextlib.contextmanager
def open_recorder(config: Config, with_microphone: bool = True) -> Iterator[Recorder]:
    """Open the configured camera and microphone and a recorder over them; close all on exit."""
    settings = recording_settings(config)
    video, audio = settings.video, settings.audio
    # One epoch for both simulated devices, so the synthetic flash and beep coincide.
    epoch = time.monotonic_ns()
    with contextlib.ExitStack() as devices:
        camera = devices.enter_context(open_camera(config["sources"]["camera"], video.width, video.height,
                                                   video.fps, epoch_ns=epoch))
        microphone = None
        if with_microphone:
            microphone = devices.enter_context(open_microphone(config["sources"]["microphone"], audio.sample_rate,
                                                               audio.channels, epoch_ns=epoch))
        yield Recorder(camera, microphone, settings)
