"""Building a recording from the configuration: which devices, which settings, whose identity."""
from __future__ import annotations

import contextlib
import time
from datetime import datetime, timezone
from typing import Callable, Iterator

from capture.encoder import AudioSettings, VideoSettings
from capture.pipeline import Pipeline, RecordingSettings
from capture.sealing import Sealer, close_cut_sessions, recover
from evidence.chain import ChainWriter
from evidence.encryption import read_agency_key
from firmware.config import Config, ConfigError
from firmware.context import DeviceContext
from firmware.eventlog import EventQueue
from firmware.provision import ensure_provisioned, log_chain_head
from firmware.version import BUILD_DATE
from firmware.writer import writing
from hw.sources import open_camera, open_microphone
from overlay.burn import Overlay, OverlaySettings
from overlay.status import OverlayStatus, Status


def recording_settings(context: DeviceContext, identity: dict[str, str]) -> RecordingSettings:
    config = context.config
    video, audio = config["video"], config["audio"]
    return RecordingSettings(
        video=VideoSettings(video["width"], video["height"], video["fps"], video["bitrate_kbps"], video["encoder"]),
        audio=AudioSettings(audio["sample_rate"], audio["channels"], audio["bitrate_kbps"]),
        segment_seconds=config["recording"]["segment_seconds"],
        spool=context.data_dir.spool,
        identity={key: identity[key] for key in ("device", "police_number", "officer", "unit_number", "unit",
                                                 "firmware")},
        pre_event_seconds=config["recording"]["pre_event_seconds"],
        pre_event_audio=config["recording"]["pre_event_audio"],
        nice=config["recording"]["capture_nice"],
        agency_key=agency_key(context),
    )


def agency_key(context: DeviceContext) -> bytes | None:
    """The enrolled agency key sessions are encrypted for; none, and encryption required: a refusal."""
    key = read_agency_key(context.data_dir.device)
    if key is None and context.config["encryption"]["required"]:
        raise ConfigError("encryption is required ('encryption.required') and no agency key is enrolled: "
                          "enrol one with 'bodycam enroll --agency-key' before recording")
    return key


def start_sealing(context: DeviceContext) -> tuple[Sealer, list[str]]:
    """The device's sealer, after sealing whatever a power cut left open; and what was done, said plainly."""
    signer, identity, provisioned = ensure_provisioned(context, close_cut_sessions)
    sealer = Sealer(ChainWriter(context.data_dir, signer, identity["device"]), identity)
    notes = [f"provisioned device {identity['device']} with a new key {signer.key_id}"] if provisioned else []
    return sealer, notes + log_chain_head(context.events, sealer.chain.state) + recover(sealer)


def make_overlay(config: Config, identity: dict[str, str], status: OverlayStatus | None = None) -> Overlay | None:
    """The configured overlay for frames of the configured size (None when it is switched off)."""
    keys = config["overlay"]
    if not keys["enabled"]:
        return None
    build = datetime.fromisoformat(BUILD_DATE).replace(tzinfo=timezone.utc)
    settings = OverlaySettings(keys["position"], keys["size"], keys["time_format"], keys["utc_offset"],
                               keys["font"], identity, keys["unverified_text"], int(build.timestamp()))
    return Overlay(config["video"]["width"], config["video"]["height"], settings, status)


class SealedPlace:
    """The GNSS fix the overlay shows, as the segment manifests seal it: ``lat`` and ``lon`` in
    microdegrees (integers: records hold no floats), ``utc`` the receiver's time of the fix in ns.
    Called once per frame; the same dict comes back while the overlay's status is unchanged."""

    def __init__(self, status: OverlayStatus) -> None:
        self.status = status
        self._seen: Status | None = None
        self._place: dict[str, int] | None = None

    def __call__(self) -> dict[str, int] | None:
        current = self.status.current
        if current is not self._seen:
            self._seen = current
            located = current.location is not None and current.location_utc_ns is not None
            self._place = {"lat": round(current.location[0] * 1e6), "lon": round(current.location[1] * 1e6),
                           "utc": current.location_utc_ns} if located else None
        return self._place


@contextlib.contextmanager
def open_recorder(context: DeviceContext, with_microphone: bool = True, overlay_status: OverlayStatus | None = None,
                  clock_status: Callable[[], dict[str, str]] | None = None) -> Iterator[Pipeline]:
    """Open the configured camera and microphone and a pipeline over them; close all on exit.

    The overlay shows what ``overlay_status`` says (place, clock trust, case); whoever learns
    those keeps updating it while recording. Its GNSS fixes are also sealed into each segment's
    manifest (the first and last of the segment), so what is burnt in is what is signed. ``clock_status`` is the clock check's verdict
    that every signed record carries; without it the records say the clock was unchecked.

    Segments left unsealed by a power cut are sealed first (``recorder.notes`` says so), under
    the data directory's writer lock, held until the recorder closes (``firmware.writer``).
    Dropped frames and a refused capture priority go to the event log.
    """
    with writing(context.data_dir), _recorder(context, with_microphone, overlay_status, clock_status) as pipeline:
        yield pipeline


@contextlib.contextmanager
def _recorder(context: DeviceContext, with_microphone: bool, overlay_status: OverlayStatus | None,
              clock_status: Callable[[], dict[str, str]] | None) -> Iterator[Pipeline]:
    config = context.config
    sealer, notes = start_sealing(context)
    if clock_status is not None:
        sealer.clock_status = clock_status
    settings = recording_settings(context, sealer.identity)
    video, audio = settings.video, settings.audio
    overlay = make_overlay(config, settings.identity, overlay_status)  # a font problem stops us before any device opens
    # One epoch for both simulated devices, so the simulated flash and beep coincide.
    epoch = time.monotonic_ns()
    with contextlib.ExitStack() as devices:
        events = EventQueue(context.events)
        devices.callback(events.close)
        camera = devices.enter_context(open_camera(config["sources"]["camera"], video.width, video.height,
                                                   video.fps, epoch_ns=epoch))
        microphone = None
        if with_microphone:
            microphone = devices.enter_context(open_microphone(config["sources"]["microphone"], audio.sample_rate,
                                                               audio.channels, epoch_ns=epoch))
        pipeline = devices.enter_context(contextlib.closing(
            Pipeline(camera, microphone, settings, sealer, frame_filter=overlay, on_event=events,
                     place=SealedPlace(overlay_status) if overlay_status is not None else lambda: None)))
        pipeline.notes = notes
        yield pipeline
