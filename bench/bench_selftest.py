#!/usr/bin/env python3
"""Self-check benchmark (issue 5): power-on self-test duration and the CPU cost of watching while recording.

1. The power-on self-test with simulated hardware (batteries, RTC, GNSS, simulated camera
   and microphone at 1920x1080) on a temporary data directory: opening the adapters (the
   camera's included) is timed apart from the checks; the checks are run ``--runs`` times
   (target: <= 1 s). Reading one camera frame is part of the checks.
2. The watcher polling battery, storage and clock once a second while the real recorder
   records ``--seconds`` of 1920x1080 from the simulated devices: the watcher thread's own
   CPU time (``time.thread_time`` around each poll) over the recording's wall time, as a
   share of one core (target: <= 1 %).

    python bench/bench_selftest.py [--runs 20] [--seconds 30] [--json results.json]
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

from firmware.context import load_context  # noqa: E402
from firmware.selftest import open_hardware, run_selftest  # noqa: E402
from firmware.session import open_recorder  # noqa: E402
from firmware.watch import Alarm, AlarmSink, Watcher  # noqa: E402

SIMULATED = {"battery": {"main": "simulated:", "backup": "simulated:"}, "clock": {"rtc": "simulated:"},
             "gnss": {"port": "simulated:"},
             "sources": {"camera": "simulated:", "microphone": "simulated:"}}
TARGET_SELFTEST_SECONDS = 1.0
TARGET_WATCH_CORE_SHARE = 0.01


class Collected(AlarmSink):
    def __init__(self) -> None:
        self.alarms: list[Alarm] = []

    def signal(self, alarm: Alarm) -> None:
        self.alarms.append(alarm)


def selftest_figures(data_dir: Path, runs: int) -> dict:
    context = load_context(data_dir=data_dir, overrides=SIMULATED)
    started = time.perf_counter()
    with open_hardware(context) as hardware:
        opened = time.perf_counter() - started
        durations = []
        for _ in range(runs):
            began = time.perf_counter()
            report = run_selftest(context, hardware)
            durations.append(time.perf_counter() - began)
    return {"open_seconds": opened, "runs": runs, "median_seconds": statistics.median(durations),
            "max_seconds": max(durations), "result": report.status}


def watch_figures(data_dir: Path, seconds: float) -> dict:
    context = load_context(data_dir=data_dir, overrides=SIMULATED)
    alarms = Collected()
    with open_hardware(context, with_devices=False) as hardware, open_recorder(context) as recorder:
        with Watcher(context, hardware, alarms, recorder.stop_recording) as watcher:
            started = time.perf_counter()
            progress = recorder.run(seconds)
            wall = time.perf_counter() - started
    return {"recorded_seconds": progress.frames / context.config["video"]["fps"], "wall_seconds": wall,
            "polls": watcher.polls, "cpu_seconds": watcher.cpu_seconds, "core_share": watcher.cpu_seconds / wall,
            "cpu_ms_per_poll": watcher.cpu_seconds / watcher.polls * 1000, "alarms": [a.kind for a in alarms.alarms]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-selftest-") as folder:
        selftest = selftest_figures(Path(folder) / "a", args.runs)
        watch = watch_figures(Path(folder) / "b", args.seconds)
    print(f"machine: {platform.machine()} {platform.processor() or ''} python {platform.python_version()}")
    print(f"power-on self-test, simulated hardware: checks {selftest['median_seconds'] * 1000:.0f} ms median, "
          f"{selftest['max_seconds'] * 1000:.0f} ms max over {selftest['runs']} runs "
          f"(target <= {TARGET_SELFTEST_SECONDS * 1000:.0f} ms); opening the adapters, camera included, "
          f"{selftest['open_seconds'] * 1000:.0f} ms; result {selftest['result']}")
    print(f"watching while recording 1920x1080: {watch['polls']} polls in {watch['wall_seconds']:.1f} s, "
          f"{watch['cpu_ms_per_poll']:.2f} ms CPU per poll, {watch['core_share'] * 100:.3f} % of a core "
          f"(target <= {TARGET_WATCH_CORE_SHARE * 100:.0f} %); alarms: {', '.join(watch['alarms']) or 'none'}")
    if args.json:
        args.json.write_text(json.dumps({"selftest": selftest, "watch": watch}, indent=1))
    ok = selftest["max_seconds"] <= TARGET_SELFTEST_SECONDS and watch["core_share"] <= TARGET_WATCH_CORE_SHARE
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
