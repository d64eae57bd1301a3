#!/usr/bin/env python3
"""Sealing benchmark (issue 3): how long sealing a segment takes, and what sealing costs.

Records ``--seconds`` (default 65) of 1920x1080 at 30 fps from the synthetic devices in
60 s segments twice in one run, each in its own child process: once sealed (session
records and a signed manifest per segment) and once unsealed (the same recorder with no
sealer). Prints:

- seal latency: from the segment's file being closed to its signed manifest and the
  chain head being durable on disk (``Sealer.seal_segment``), for the full 60 s segment;
- CPU seconds per recorded second, sealed and unsealed, and the difference;
- the cost of hashing while writing, which both runs pay (the frame index needs the
  fragment hashes either way): SHA-256 of the recorded bytes, timed on those bytes.

Target: latency <= 50 ms; sealing adds <= 2 % CPU (difference + hashing).

    python bench/bench_sealing.py [--seconds 65]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def child(seconds: float, data_dir: Path, sealed: bool) -> dict:
    sys.path.insert(0, str(REPO))
    from capture.pipeline import Pipeline
    from firmware import config as configuration
    from firmware.session import recording_settings, start_sealing
    from hw.camera import open_camera
    from hw.microphone import open_microphone

    config = configuration.load().with_overrides({
        "recording": {"data_dir": str(data_dir), "segment_seconds": 60},
        "sources": {"camera": "synthetic:", "microphone": "synthetic:"},
    })
    sealer, _ = start_sealing(config)
    latencies: list[float] = []
    seal = sealer.seal_segment

    def timed_seal(facts):
        start = time.perf_counter()
        record = seal(facts)
        latencies.append((time.perf_counter() - start) * 1000)
        return record

    sealer.seal_segment = timed_seal
    settings = recording_settings(config, sealer.identity)
    epoch = time.monotonic_ns()
    video, audio = settings.video, settings.audio
    with open_camera("synthetic:", video.width, video.height, video.fps, epoch) as camera, \
            open_microphone("synthetic:", audio.sample_rate, audio.channels, epoch) as microphone:
        pipeline = Pipeline(camera, microphone, settings, sealer if sealed else None)
        before = resource.getrusage(resource.RUSAGE_SELF)
        progress = pipeline.run(seconds)
        after = resource.getrusage(resource.RUSAGE_SELF)
        pipeline.close()
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    files = sorted(progress.folder.glob("seg-*.mp4"))
    return {"cpu_per_second": cpu / seconds, "frames": progress.frames, "dropped": progress.dropped,
            "seal_ms": latencies, "bytes": sum(f.stat().st_size for f in files),
            "files": [str(f) for f in files]}


def hashing_seconds(files: list[str]) -> float:
    """CPU time to SHA-256 the recorded bytes, in blocks the size the muxer writes."""
    data = [Path(f).read_bytes() for f in files]
    start = time.process_time()
    for blob in data:
        digest = hashlib.sha256()
        for offset in range(0, len(blob), 32768):
            digest.update(blob[offset:offset + 32768])
    return time.process_time() - start


def run_child(seconds: float, sealed: bool) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        result = subprocess.run([sys.executable, __file__, "--child", "sealed" if sealed else "unsealed",
                                 "--seconds", str(seconds), "--data-dir", folder],
                                check=True, capture_output=True, text=True)
        figures = json.loads(result.stdout)
        figures["hash_cpu_per_second"] = hashing_seconds(figures.pop("files")) / seconds
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=65.0)
    parser.add_argument("--child", choices=("sealed", "unsealed"))
    parser.add_argument("--data-dir", type=Path)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.seconds, args.data_dir, args.child == "sealed")))
        return 0
    sealed = run_child(args.seconds, True)
    unsealed = run_child(args.seconds, False)
    difference = sealed["cpu_per_second"] - unsealed["cpu_per_second"]
    hashing = sealed["hash_cpu_per_second"]
    share = (difference + hashing) / unsealed["cpu_per_second"] * 100
    latency = sealed["seal_ms"][0] if sealed["seal_ms"] else float("nan")
    print(f"recording {args.seconds:.0f} s of 1920x1080 at 30 fps, 60 s segments")
    print(f"{'':28}{'sealed':>12}{'unsealed':>12}")
    print(f"{'CPU s per recorded s':28}{sealed['cpu_per_second']:12.3f}{unsealed['cpu_per_second']:12.3f}")
    print(f"{'frames / dropped':28}{sealed['frames']:>8}/{sealed['dropped']:<3}{unsealed['frames']:>8}/"
          f"{unsealed['dropped']:<3}")
    print(f"seal latency of the 60 s segment: {latency:.1f} ms (all seals: "
          f"{', '.join(f'{ms:.1f}' for ms in sealed['seal_ms'])} ms)  target <= 50 ms")
    print(f"hashing while writing: {hashing * 1000:.2f} ms CPU per recorded second "
          f"({sealed['bytes'] / 1e6 / args.seconds:.2f} MB/s)")
    print(f"sealing cost: {difference * 1000:+.1f} ms (sealed - unsealed) + {hashing * 1000:.2f} ms (hashing) "
          f"per recorded second = {share:+.2f} % of the recording's CPU  target <= 2 %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
