#!/usr/bin/env python3
"""Recording benchmark (issue 2): our recorder against the ffmpeg command line.

Records ``--seconds`` (default 60) of 1920x1080 at 30 fps from the simulated camera and
microphone with the embedded default configuration (default bitrate, libx264, AAC) into a
temporary spool, and in the same run does the same encode with the ``ffmpeg`` command line
(lavfi test sources -> libx264 with our encoder's settings -> fragmented MP4) as the
reference. Both run in real time (ffmpeg with ``-re``), one after the other, each in its
own child process, so peak memory and CPU are that recording's own.

Figures: frames recorded and dropped, real-time factor (footage seconds, first to last
frame as read back from the files, / wall seconds), CPU seconds (user + sys, all threads)
per recorded second (frames / 30), peak RSS. Ours is measured inside the child around
``recorder.run`` (getrusage(RUSAGE_SELF) deltas: the reader threads and libx264's threads
all count; the benchmark's own sampler thread is subtracted); ffmpeg's is its whole process
(os.wait4). The ratio of the two CPU figures is the target: <= 1.3, and 0 dropped frames.

ffmpeg's lavfi source waits for its reader, so ffmpeg cannot drop a frame: when it is
starved of CPU it shows as a real-time factor below 1 instead. Our simulated camera, like
a real one, does not wait: a recorder more than its queue (1 s) behind loses frames.
The child also reports each frame's wait from capture to the encoder, where frames were
lost, and the CPU by thread; "other processes' CPU" is what the rest of the machine used
meanwhile (/proc/stat), since the development machine is shared.

    python bench/bench_record.py [--seconds 60] [--json results.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bodycam_threads import OwnedThread  # noqa: E402

WIDTH, HEIGHT, FPS = 1920, 1080, 30
STOP_SECONDS = 10.0
TARGET_RATIO = 1.3


def _cpu(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


def _vm(field: str) -> int:
    """A field of /proc/self/status in KiB (VmRSS, VmHWM), 0 where there is none."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _machine_busy() -> float:
    """CPU seconds all processes on the machine have used since boot (from /proc/stat)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return float("nan")
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


# --- the child: one recording with our recorder, measured from inside -------------------------

class ThreadCPU:
    """Each thread's CPU seconds (from /proc/self/task), sampled twice a second, by thread name.

    Python threads are named by ``threading``; the others are native (libx264's slice and
    lookahead threads, FFmpeg's). A thread that ends loses at most its last half second to
    the "unattributed" line, which is the run's whole CPU minus the sampled threads.
    """

    def __init__(self) -> None:
        self.ticks = os.sysconf("SC_CLK_TCK")
        self.start = self._read()
        self.last: dict[int, float] = {}
        self.names: dict[int, str] = {}
        self._thread = OwnedThread(self._run, "bench-sampler")
        self._thread.start()

    def _read(self) -> dict[int, float]:
        out = {}
        for task in os.listdir("/proc/self/task"):
            try:
                fields = Path(f"/proc/self/task/{task}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # the thread ended
            out[int(task)] = (int(fields[11]) + int(fields[12])) / self.ticks
        return out

    def _sample(self) -> None:
        self.names.update({t.native_id: t.name for t in threading.enumerate() if t.native_id})
        self.last.update(self._read())

    def _run(self) -> None:
        while not self._thread.stopping.wait(0.5):
            self._sample()

    def stop(self, total: float) -> dict[str, float]:
        self._thread.stop(STOP_SECONDS)
        self._sample()
        groups: dict[str, float] = {}
        for tid, seconds in self.last.items():
            name = self.names.get(tid, "native threads (libx264, FFmpeg)")
            groups[name] = groups.get(name, 0.0) + seconds - self.start.get(tid, 0.0)
        groups["unattributed (threads that ended)"] = max(0.0, total - sum(groups.values()))
        return dict(sorted(groups.items(), key=lambda item: -item[1]))


def child(seconds: float, data_dir: Path) -> int:
    from firmware import config as configuration
    from firmware.session import open_recorder

    config = configuration.load().with_overrides({
        "video": {"width": WIDTH, "height": HEIGHT, "fps": FPS},
        "recording": {"data_dir": str(data_dir)},
        "sources": {"camera": "simulated:", "microphone": "simulated:"},
    })
    with open_recorder(config) as recorder:
        # Capture-to-encode latency of every frame, and where frames went missing: a wrapper
        # around the recorder's frame hook, which runs on the encoding thread just before
        # the frame is encoded (an overlay hook already there still runs).
        seen: list[tuple[int, int, int]] = []
        hook = getattr(recorder, "frame_filter", None)

        def watch(frame) -> None:
            seen.append((frame.sequence, frame.monotonic_ns, time.monotonic_ns()))
            if hook is not None:
                hook(frame)

        recorder.frame_filter = watch
        rss_before = _vm("VmRSS")
        before, started = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
        threads = ThreadCPU()
        progress = recorder.run(seconds)
        wall = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_SELF)
        by_thread = threads.stop(_cpu(after) - _cpu(before))
        sampler = by_thread.pop("bench-sampler", 0.0)  # the measurement's own thread is not counted
        try:
            encoder = recorder.encoders.video.codec_context.name
        except AttributeError:
            encoder = "?"
    lags = sorted(done - captured for _, captured, done in seen)
    worst = max(seen, key=lambda s: s[2] - s[1]) if seen else (0, 0, 0)
    gaps = [(round((b[1] - seen[0][1]) / 1e9, 2), b[0] - a[0] - 1, round((a[2] - a[1]) / 1e6))
            for a, b in zip(seen, seen[1:]) if b[0] - a[0] > 1]
    print(json.dumps({
        "lag_ms_p50": lags[len(lags) // 2] / 1e6 if lags else 0,
        "lag_ms_p99": lags[len(lags) * 99 // 100] / 1e6 if lags else 0,
        "lag_ms_max": lags[-1] / 1e6 if lags else 0,
        "lag_max_at_s": round((worst[1] - seen[0][1]) / 1e9, 2) if seen else 0,
        "gaps": gaps, "threads": by_thread,
        "frames": progress.frames, "dropped": progress.dropped, "segments": progress.segments,
        "audio_samples": progress.audio_samples, "stop_reason": progress.stop_reason,
        "error": progress.error, "folder": str(progress.folder), "wall": wall,
        "cpu": _cpu(after) - _cpu(before) - sampler, "user": after.ru_utime - before.ru_utime,
        "sys": after.ru_stime - before.ru_stime, "rss_before_kib": rss_before,
        "peak_rss_kib": after.ru_maxrss, "encoder": encoder,
        "bitrate_kbps": config["video"]["bitrate_kbps"], "audio_kbps": config["audio"]["bitrate_kbps"],
    }))
    return 0


# --- the parent: runs both recordings and compares -------------------------------------------

def _wait(proc: subprocess.Popen) -> tuple[int, resource.struct_rusage]:
    """Wait for ``proc`` with wait4, which gives the child's own rusage (CPU and peak RSS)."""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage


def _probe(paths: list[Path]) -> dict[str, float]:
    """Video packets, and the span of the video and audio timelines (first packet to the end of
    the last) over all the files, read from the packet timestamps (demuxed, not decoded).
    Segments keep the session's timeline, so the spans of consecutive segments join up."""
    packets = 0
    spans: dict[str, list[float]] = {"video": [], "audio": []}
    for path in paths:
        out = subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries", "stream=index,codec_type:packet=stream_index,pts_time,"
             "duration_time", "-of", "json", str(path)], check=True, capture_output=True, text=True).stdout
        data = json.loads(out)
        kinds = {stream["index"]: stream.get("codec_type") for stream in data.get("streams", [])}
        for packet in data.get("packets", []):
            kind = kinds.get(packet.get("stream_index"))
            if kind not in spans or "pts_time" not in packet:
                continue
            start = float(packet["pts_time"])
            spans[kind] += [start, start + float(packet.get("duration_time", 0) or 0)]
            packets += kind == "video"
    span = {kind: (max(times) - min(times) if times else 0.0) for kind, times in spans.items()}
    return {"video_packets": packets, "video_seconds": span["video"], "audio_seconds": span["audio"]}


def run_ours(seconds: float, work: Path) -> dict:
    data_dir = work / "spool"
    busy, started = _machine_busy(), time.monotonic()
    proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--child",
                             "--seconds", str(seconds), "--data-dir", str(data_dir)],
                            stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    code, usage = _wait(proc)
    process_wall = time.monotonic() - started
    others = max(0.0, _machine_busy() - busy - _cpu(usage))
    if code != 0:
        raise SystemExit(f"bench: the recording child failed (exit {code})")
    result = json.loads(out.strip().splitlines()[-1])
    files = sorted(Path(result["folder"]).glob("seg-*.mp4"))
    result.update(_probe(files))
    result.update(process_cpu=_cpu(usage), process_wall=process_wall, others_cpu=others, process_peak_rss_kib=usage.ru_maxrss,
                  footage=result["frames"] / FPS, timeline=result["video_seconds"], files=len(files),
                  bytes=sum(f.stat().st_size for f in files))
    return result


def ffmpeg_command(seconds: float, video_kbps: int, audio_kbps: int, out: Path) -> list[str]:
    """The same encode as ``capture.encoder``: libx264 ultrafast/zerolatency, an IDR every
    second (keyint 2 s, min-keyint 1 s, no scenecut), the same bitrates, mono AAC 48 kHz,
    fragmented MP4 with a fragment per keyframe; ``-re`` paces both sources in real time."""
    return [
        "ffmpeg", "-nostdin", "-hide_banner", "-y",
        "-re", "-f", "lavfi", "-i", f"testsrc2=size={WIDTH}x{HEIGHT}:rate={FPS}",
        "-re", "-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=48000",
        "-t", f"{seconds:g}",
        "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
        "-x264-params", f"keyint={2 * FPS}:min-keyint={FPS}:scenecut=0",
        "-force_key_frames", "expr:gte(t,n_forced)", "-g", str(FPS),
        "-b:v", f"{video_kbps}k", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", f"{audio_kbps}k", "-ac", "1",
        "-f", "mp4", "-movflags", "frag_keyframe+empty_moov+default_base_moof", str(out),
    ]


def run_ffmpeg(seconds: float, video_kbps: int, audio_kbps: int, work: Path) -> dict:
    out = work / "ffmpeg.mp4"
    command = ffmpeg_command(seconds, video_kbps, audio_kbps, out)
    log = work / "ffmpeg.log"
    with open(log, "w") as err:
        busy, started = _machine_busy(), time.monotonic()
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        code, usage = _wait(proc)
        wall = time.monotonic() - started
        others = max(0.0, _machine_busy() - busy - _cpu(usage))
    if code != 0:
        sys.stderr.write(log.read_text()[-3000:])
        raise SystemExit(f"bench: ffmpeg failed (exit {code})")
    probe = _probe([out])
    expected = round(seconds * FPS)
    return {"frames": probe["video_packets"], "dropped": max(0, expected - probe["video_packets"]),
            "wall": wall, "cpu": _cpu(usage), "user": usage.ru_utime, "sys": usage.ru_stime,
            "peak_rss_kib": usage.ru_maxrss, "footage": probe["video_packets"] / FPS,
            "timeline": probe["video_seconds"], "files": 1,
            "bytes": out.stat().st_size, "command": command, "others_cpu": others, **probe}


def _versions() -> dict[str, str]:
    import av
    ffmpeg = subprocess.run(["ffmpeg", "-hide_banner", "-version"], capture_output=True, text=True).stdout
    commit = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                            capture_output=True, text=True).stdout.strip() or "?"
    changed = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no", "--",
                              "capture", "hw", "firmware"],
                             capture_output=True, text=True).stdout.split("\n")
    changed = [line[3:] for line in changed if line.strip()]
    if changed:
        commit += f" (uncommitted: {', '.join(changed)})"
    return {"commit": commit, "pyav": f"PyAV {av.__version__} (FFmpeg {av.ffmpeg_version_info})",
            "ffmpeg": ffmpeg.splitlines()[0].split(" Copyright")[0] if ffmpeg else "?",
            "python": platform.python_version(), "cpus": str(os.cpu_count())}


def table(ours: dict, ref: dict) -> str:
    def row(name: str, a: str, b: str) -> str:
        return f"{name:<34}{a:>16}{b:>16}"

    def per_s(r: dict) -> float:
        return r["cpu"] / r["footage"] if r["footage"] else float("nan")

    lines = [row("", "bodycam", "ffmpeg CLI"), "-" * 66,
             row("frames recorded", str(ours["frames"]), str(ref["frames"])),
             row("frames dropped", str(ours["dropped"]), str(ref["dropped"])),
             row("footage s (first to last frame)", f"{ours['timeline']:.2f}", f"{ref['timeline']:.2f}"),
             row("audio s in the files", f"{ours['audio_seconds']:.2f}", f"{ref['audio_seconds']:.2f}"),
             row("wall seconds", f"{ours['wall']:.2f}", f"{ref['wall']:.2f}"),
             row("real-time factor (footage/wall)", f"{ours['timeline'] / ours['wall']:.3f}",
                 f"{ref['timeline'] / ref['wall']:.3f}"),
             row("CPU seconds (user+sys)", f"{ours['cpu']:.1f}", f"{ref['cpu']:.1f}"),
             row("  user / sys", f"{ours['user']:.1f} / {ours['sys']:.1f}", f"{ref['user']:.1f} / {ref['sys']:.1f}"),
             row("CPU s per recorded s (frames/30)", f"{per_s(ours):.3f}", f"{per_s(ref):.3f}"),
             row("peak RSS (MiB)", f"{ours['peak_rss_kib'] / 1024:.0f}", f"{ref['peak_rss_kib'] / 1024:.0f}"),
             row("other processes' CPU s meanwhile", f"{ours['others_cpu']:.1f}", f"{ref['others_cpu']:.1f}"),
             row("output MiB (files)", f"{ours['bytes'] / 2**20:.1f} ({ours['files']})",
                 f"{ref['bytes'] / 2**20:.1f} ({ref['files']})"),
             row("file kbit/s (video+audio)", f"{ours['bytes'] * 8 / 1000 / max(ours['timeline'], 1e-9):.0f}",
                 f"{ref['bytes'] * 8 / 1000 / max(ref['timeline'], 1e-9):.0f}"),
             ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="footage to record (default 60)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.seconds <= 0:
        parser.error("--seconds must be positive")
    if args.child:
        return child(args.seconds, args.data_dir)
    for tool in ("ffmpeg", "ffprobe"):
        if shutil.which(tool) is None:
            raise SystemExit(f"bench: {tool} is missing; install Debian's ffmpeg (`make system-deps`, as root)")

    print(f"Recording benchmark: simulated camera {WIDTH}x{HEIGHT} @ {FPS} fps + simulated microphone, "
          f"{args.seconds:g} s, real time; then the same encode with the ffmpeg CLI.", flush=True)
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bodycam-bench-") as tmp:
        work = Path(tmp)
        ours = run_ours(args.seconds, work)
        print(f"  bodycam done: {ours['frames']} frames, {ours['dropped']} dropped, {ours['cpu']:.1f} CPU s",
              flush=True)
        ref = run_ffmpeg(args.seconds, ours["bitrate_kbps"], ours["audio_kbps"], work)
        print(f"  ffmpeg  done: {ref['frames']} frames, {ref['cpu']:.1f} CPU s", flush=True)
    versions = _versions()
    ratio = (ours["cpu"] / ours["footage"]) / (ref["cpu"] / ref["footage"])
    print()
    print(table(ours, ref))
    print()
    print(f"ratio of CPU s per recorded s, bodycam / ffmpeg: {ratio:.2f}  (target <= {TARGET_RATIO})")
    print(f"dropped frames: {ours['dropped']}  (target 0)")
    print(f"bodycam wait from capture to encoder: median {ours['lag_ms_p50']:.0f} ms, p99 {ours['lag_ms_p99']:.0f} ms, "
          f"max {ours['lag_ms_max']:.0f} ms at {ours['lag_max_at_s']} s")
    for at, lost, lag in ours["gaps"][:8]:
        print(f"  {lost} frame(s) lost at {at} s (the frame before them was encoded {lag} ms after capture)")
    if len(ours["gaps"]) > 8:
        rest = ours["gaps"][8:]
        print(f"  ... and {sum(g[1] for g in rest)} more in {len(rest)} gaps up to {rest[-1][0]} s")
    if ours["threads"]:
        print("bodycam CPU s per recorded s by thread: " + "; ".join(
            f"{name} {seconds / ours['footage']:.3f}" for name, seconds in ours["threads"].items()))
    print(f"bodycam whole process incl. start-up: {ours['process_cpu']:.1f} CPU s in {ours['process_wall']:.1f} s; "
          f"RSS before recording {ours['rss_before_kib'] / 1024:.0f} MiB")
    print(f"commit {versions['commit']}; {versions['pyav']}; reference {versions['ffmpeg']}; {versions['cpus']} CPUs")
    ok = ours["dropped"] == 0 and ratio <= TARGET_RATIO
    print("targets met" if ok else "TARGETS MISSED")
    if args.json:
        args.json.write_text(json.dumps({"seconds": args.seconds, "ours": ours, "ffmpeg": ref, "ratio": ratio,
                                         "versions": versions, "date": time.strftime("%Y-%m-%d %H:%M:%S %z")},
                                        indent=2))
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
