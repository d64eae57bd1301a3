#!/usr/bin/env python3
"""Device service benchmark (issue 7): from the button to the first live frame, and the pre-event buffer.

The real service (``firmware.service.Service``) runs at the configured 1920x1080, 30 fps, with
the overlay, from the simulated camera and microphone, on gpiozero's MockFactory pins:

1. The acceptance case: a ``--buffer`` s pre-event buffer (default 30), record pressed ``--press-at``
   s (default 40) after the camera started. Reported: when the recording's first frame was captured
   (expected: press-at minus buffer, within one GOP), whether the recording is gapless, and the
   buffer's memory (``buffer_bytes()``) when it first held ``--buffer`` s.
2. Latency, from the button press (the MockFactory pin driven low) to the first live frame handed
   to the segment writer (the session's frame count passing its pre-event frames), ``--presses``
   times: with the full buffer above (the buffered GOPs are written first), and docked (no buffer).
   Target: <= 100 ms from standby. Each fragment is fsynced when complete (~1 s), so a frame is
   durable on the card at most one fragment later.
3. The buffer's memory once it holds ``--long-buffer`` s (default 120; 0 skips it).

    python bench/bench_service.py [--buffer 30] [--press-at 40] [--presses 3] [--long-buffer 120] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bodycam_threads import OwnedThread  # noqa: E402
from capture.index import read_index  # noqa: E402
from evidence.records import INDEX_SUFFIX  # noqa: E402
from firmware import config as configuration  # noqa: E402
from firmware.context import load_context  # noqa: E402
from firmware.service import DOCKED, RECORDING, STANDBY, Service  # noqa: E402

TARGET_LATENCY_SECONDS = 0.100
SIMULATED = {"battery": {"main": "simulated:", "backup": "simulated:"}, "clock": {"rtc": "simulated:"},
             "gnss": {"port": "simulated:"}, "sources": {"camera": "simulated:", "microphone": "simulated:"},
             "gpio": {"pin_factory": "simulated:", "hold_seconds": 1.0}}


def wait_for(condition, timeout: float, what: str, poll: float = 0.05):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(poll)
    return value


class Running:
    """A service on its own thread."""

    def __init__(self, data_dir: Path, pre_event: int) -> None:
        context = load_context(data_dir=data_dir,
                               overrides={**SIMULATED, "recording": {"pre_event_seconds": pre_event}})
        self.service = Service(context, echo=lambda line: None)
        self.thread = OwnedThread(self.service.run, "service")
        self.thread.start()
        if not self.service.ready.wait(60) or self.service.state != STANDBY:
            raise RuntimeError(f"the service did not reach standby: {self.service.state} {self.service.fault}")
        self.started_wall = time.time_ns()
        # When the service hands the press to the pipeline: its own share of the latency.
        self.asked: list[float] = []
        start_recording = self.service.pipeline.start_recording
        self.service.pipeline.start_recording = lambda link=None: (self.asked.append(time.perf_counter()),
                                                                   start_recording(link))[1]

    def press(self) -> tuple[float, float, float, str]:
        """Press record; seconds to the first live frame in the session, to RECORDING, to the pipeline; session."""
        service = self.service
        pressed = time.perf_counter()
        service.panel.drive("record", True)
        progress = wait_for(lambda: service.state == RECORDING and service.progress, 10, "recording", poll=0.0005)
        to_state = time.perf_counter() - pressed
        wait_for(lambda: progress.frames > progress.pre_event_frames, 10, "a live frame", poll=0.0005)
        to_frame = time.perf_counter() - pressed
        service.panel.drive("record", False)
        return to_frame, to_state, self.asked[-1] - pressed, service.session

    def stop(self) -> None:
        self.service.panel.press("record", 1.3)  # a hold
        if not self.service.settle(30) or self.service.state not in (STANDBY, DOCKED):
            raise RuntimeError(f"the recording did not stop: {self.service.state}")

    def close(self) -> None:
        self.service.shutdown("bench")
        self.thread.join(60)  # raises ZombieThread if the service does not end


def acceptance(data_dir: Path, buffer: int, press_at: float, presses: int) -> dict:
    running = Running(data_dir, buffer)
    service = running.service
    try:
        wait_for(lambda: service.pipeline.buffer_seconds() >= buffer, buffer + 30, "a full buffer", poll=0.01)
        full = {"seconds": service.pipeline.buffer_seconds(), "bytes": service.pipeline.buffer_bytes()}
        time.sleep(max(0.0, running.started_wall / 1e9 + press_at - time.time()))
        pressed_wall = time.time_ns()
        *latency, session = running.press()
        time.sleep(2)
        running.stop()
        frames = [r for f in sorted((data_dir / "spool" / session).glob("seg-*" + INDEX_SUFFIX))
                  for r in read_index(f) if "type" not in r]
        first = {"captured_at": (frames[0]["wall"] - running.started_wall) / 1e9,
                 "pressed_at": (pressed_wall - running.started_wall) / 1e9,
                 # Every frame the encoder took is there, in order (a frame the camera lost leaves a pts gap).
                 "gapless": [r["n"] for r in frames] == list(range(len(frames)))
                 and all(b["pts"] > a["pts"] for a, b in zip(frames, frames[1:])),
                 "pts_gaps": sum(b["pts"] - a["pts"] - 1 for a, b in zip(frames, frames[1:])),
                 "frames": len(frames)}
        full_latencies = [tuple(latency)]
        for _ in range(presses - 1):
            wait_for(lambda: service.pipeline.buffer_seconds() >= buffer, buffer + 30, "a full buffer", poll=0.05)
            full_latencies.append(running.press()[:3])
            time.sleep(1)
            running.stop()
        service.panel.drive("dock", True)
        wait_for(lambda: service.state == DOCKED, 10, "docked")
        docked_latencies = []
        for _ in range(presses):
            time.sleep(1)
            docked_latencies.append(running.press()[:3])
            time.sleep(1)
            running.stop()
    finally:
        running.close()
    return {"buffer_full": full, "first_frame": first, "latency_full_buffer": full_latencies,
            "latency_docked": docked_latencies}


def long_buffer(data_dir: Path, seconds: int) -> dict:
    running = Running(data_dir, seconds)
    try:
        pipeline = running.service.pipeline
        wait_for(lambda: pipeline.buffer_seconds() >= seconds, seconds + 60, "a full buffer", poll=0.1)
        return {"seconds": pipeline.buffer_seconds(), "bytes": pipeline.buffer_bytes()}
    finally:
        running.close()


def describe(values: list[tuple[float, float, float]]) -> str:
    frame, state, asked = ([v[i] * 1000 for v in values] for i in range(3))
    return (f"first live frame {statistics.median(frame):.0f} ms median, {max(frame):.0f} ms max; "
            f"session open {statistics.median(state):.0f} ms; the service's part (press to pipeline) "
            f"{statistics.median(asked):.1f} ms median ({len(values)} presses)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buffer", type=int, default=30)
    parser.add_argument("--press-at", type=float, default=40.0)
    parser.add_argument("--presses", type=int, default=3)
    parser.add_argument("--long-buffer", type=int, default=120)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    config = configuration.load()
    video = config["video"]
    print(f"bodycam service benchmark: {video['width']}x{video['height']} at {video['fps']} fps, "
          f"{video['bitrate_kbps']} kbit/s, simulated camera and microphone, MockFactory pins; "
          f"{platform.machine()}, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as temporary:
        result = acceptance(Path(temporary) / "a", args.buffer, args.press_at, args.presses)
        if args.long_buffer:
            result["buffer_long"] = long_buffer(Path(temporary) / "b", args.long_buffer)
    first, full = result["first_frame"], result["buffer_full"]
    print(f"pre-event buffer {args.buffer} s: {full['bytes'] / 1e6:.1f} MB "
          f"({full['seconds']:.2f} s of encoded video, whole GOPs)")
    if "buffer_long" in result:
        long = result["buffer_long"]
        print(f"pre-event buffer {args.long_buffer} s: {long['bytes'] / 1e6:.1f} MB ({long['seconds']:.2f} s)")
    print(f"pressed at t={first['pressed_at']:.1f} s: the recording's first frame was captured at "
          f"t={first['captured_at']:.1f} s; {first['frames']} frames, gapless: {first['gapless']}, "
          f"frames lost by the camera: {first['pts_gaps']}")
    print(f"press -> live, {args.buffer} s buffer written first: {describe(result['latency_full_buffer'])}")
    print(f"press -> live, docked (no buffer): {describe(result['latency_docked'])}")
    worst = max(v[0] for v in result["latency_full_buffer"] + result["latency_docked"])
    print(f"target <= {TARGET_LATENCY_SECONDS * 1000:.0f} ms: {'met' if worst <= TARGET_LATENCY_SECONDS else 'NOT met'}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
