"""The pipeline's threads at close: a camera that hangs is reported, and never leaves the microphone reading."""
from __future__ import annotations

import threading

import pytest

from capture import CaptureError, pipeline as capture_pipeline
from firmware.session import open_recorder
from tests.conftest import small_context
from tests.waiting import wait_for


class HangingCamera:
    """The simulated camera until ``hang`` is set; then its read blocks, as a wedged driver's does."""

    def __init__(self, camera) -> None:
        self.camera, self.hang, self.hung, self.release = camera, threading.Event(), threading.Event(), threading.Event()

    def __getattr__(self, name):
        return getattr(self.camera, name)

    def read(self):
        if self.hang.is_set():
            self.hung.set()
            self.release.wait(60)
        return self.camera.read()


def test_a_camera_that_hangs_at_close_is_reported_and_the_microphone_reader_still_stops(tmp_path, monkeypatch):
    monkeypatch.setattr(capture_pipeline, "READER_STOP_SECONDS", 0.2)
    camera = None
    with pytest.raises(CaptureError, match="the camera thread did not stop"):
        with open_recorder(small_context(tmp_path)) as pipeline:
            camera = pipeline.camera = HangingCamera(pipeline.camera)
            pipeline.start()
            wait_for(lambda: pipeline.buffer_bytes() > 0, "the pipeline running")
            camera.hang.set()
            wait_for(camera.hung.is_set, "the camera to hang")
            readers = {reader.thread.name: reader.thread for reader in pipeline._readers}
    camera.release.set()
    assert not readers["microphone"].is_alive()
    readers["camera"].join(10)
