#!/usr/bin/env python3
"""Sealing benchmark (issue 3): how long sealing a segment takes, and what sealing costs.

Records 1920x1080 at 30 fps from the simulated devices in 60 s segments, each recording
in its own child process:

- one sealed recording of ``--seconds`` (default 65), for the seal latency: from the
  segment's file being closed to its signed manifest and the chain head being durable on
  disk (``Sealer.seal_segment``), for the full 60 s segment;
- ``--pairs`` (default 3) pairs of ``--pair-seconds`` (default 20) recordings, sealed and
  unsealed (the same pipeline with no sealer) alternately, so that load from elsewhere falls
  on both: CPU seconds per recorded second of each, medians and difference;
- the CPU the sealing code itself took in the sealed runs (open, seal and close records,
  timed on the calling thread), and the cost of hashing while writing, which both runs pay
  (the frame index needs the fragment hashes either way): SHA-256 of the recorded bytes,
  timed on those bytes. Their sum over the unsealed CPU is the sealing cost.

Target: latency <= 50 ms; sealing adds <= 2 % CPU.

    python bench/bench_sealing.py [--seconds 65] [--pairs 3] [--pair-seconds 20]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def child(seconds: float, data_dir: Path, sealed: bool) -> dict:
    sys.path.insert(0, str(REPO))
    from capture.pipeline import Pipeline
    from firmware.context import load_context
    from firmware.session import recording_settings, start_sealing
    from hw.sources import open_camera, open_microphone

    context = load_context(data_dir=data_dir, overrides={
        "recording": {"segment_seconds": 60},
        "sources": {"camera": "simulated:", "microphone": "simulated:"},
    })
    sealer, _ = start_sealing(context)
    latencies: list[float] = []
    sealing_cpu = [0.0]

    def timed(method, keep_latency=False):
        def wrapper(*args, **kwargs):
            start, cpu = time.perf_counter(), time.thread_time()
            record = method(*args, **kwargs)
            sealing_cpu[0] += time.thread_time() - cpu
            if keep_latency:
                latencies.append((time.perf_counter() - start) * 1000)
            return record
        return wrapper

    sealer.seal_segment = timed(sealer.seal_segment, keep_latency=True)
    sealer.open_session = timed(sealer.open_session)
    sealer.close_session = timed(sealer.close_session)
    settings = recording_settings(context, sealer.identity)
    epoch = time.monotonic_ns()
    video, audio = settings.video, settings.audio
    with open_camera("simulated:", video.width, video.height, video.fps, epoch) as camera, \
            open_microphone("simulated:", audio.sample_rate, audio.channels, epoch) as microphone:
        pipeline = Pipeline(camera, microphone, settings, sealer if sealed else None)
        before = resource.getrusage(resource.RUSAGE_SELF)
        progress = pipeline.run(seconds)
        after = resource.getrusage(resource.RUSAGE_SELF)
        pipeline.close()
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    files = sorted(progress.folder.glob("seg-*.mp4"))
    return {"cpu_per_second": cpu / seconds, "frames": progress.frames, "dropped": progress.dropped,
            "sealing_cpu_per_second": sealing_cpu[0] / seconds,
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
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--pair-seconds", type=float, default=20.0)
    parser.add_argument("--child", choices=("sealed", "unsealed"))
    parser.add_argument("--data-dir", type=Path)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.seconds, args.data_dir, args.child == "sealed")))
        return 0
    long = run_child(args.seconds, True)
    pairs = [(run_child(args.pair_seconds, True), run_child(args.pair_seconds, False)) for _ in range(args.pairs)]
    sealed = statistics.median(p[0]["cpu_per_second"] for p in pairs)
    unsealed = statistics.median(p[1]["cpu_per_second"] for p in pairs)
    own = statistics.median(p[0]["sealing_cpu_per_second"] for p in pairs)
    hashing = statistics.median(p[0]["hash_cpu_per_second"] for p in pairs)
    latency = long["seal_ms"][0] if long["seal_ms"] else float("nan")
    print(f"1920x1080 at 30 fps, 60 s segments")
    print(f"seal latency of a full 60 s segment: {latency:.1f} ms (every seal of the {args.seconds:.0f} s "
          f"recording: {', '.join(f'{ms:.1f}' for ms in long['seal_ms'])} ms; dropped {long['dropped']})  "
          f"target <= 50 ms")
    print(f"{args.pairs} alternating pairs of {args.pair_seconds:.0f} s recordings, CPU s per recorded s:")
    for number, (on, off) in enumerate(pairs, 1):
        print(f"  pair {number}: sealed {on['cpu_per_second']:.3f}  unsealed {off['cpu_per_second']:.3f}  "
              f"(dropped {on['dropped']}/{off['dropped']})")
    print(f"  median:  sealed {sealed:.3f}  unsealed {unsealed:.3f}  difference {(sealed - unsealed) * 1000:+.1f} ms/s "
          f"({(sealed - unsealed) / unsealed * 100:+.1f} %, load from elsewhere included)")
    share = (own + hashing) / unsealed * 100
    print(f"sealing's own CPU: records {own * 1000:.2f} ms/s + hashing while writing {hashing * 1000:.2f} ms/s "
          f"({long['bytes'] / 1e6 / args.seconds:.2f} MB/s) = {share:.2f} % of the unsealed recording's CPU  "
          f"target <= 2 %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
