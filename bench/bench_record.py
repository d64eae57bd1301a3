#!/usr/bin/env python3
"""Recording benchmark (issues 2 and 14): our recorder against the ffmpeg command line, and under load.

Records ``--seconds`` (default 60) of 1920x1080 at 30 fps from the simulated camera and
microphone with the embedded default configuration (default bitrate, libx264, AAC) into a
temporary spool, and in the same run does the same encode of the same pictures with the
``ffmpeg`` command line as the reference: a separate process renders the simulated
camera's frames in real time into a pipe, ffmpeg reads them as raw video (with a lavfi sine
for the sound) -> libx264 with our encoder's settings -> fragmented MP4. The encoder's cost
depends on the picture (our scrolling pattern costs x264 more than lavfi's testsrc2), so
only the same pictures make the same encode. Then ours again with every core kept busy by a
plain busy-loop process (skipped with ``--no-load``). Each recording runs in its own child
process, so peak memory and CPU are that recording's own.

Figures: frames recorded and dropped, real-time factor (footage seconds, first to last
frame as read back from the files, / wall seconds), CPU seconds (user + sys, all threads)
per recorded second (frames / 30), peak RSS. The CPU ratio judged is of whole processes,
each side making the same pictures once: ours is the recording child from start to exit,
its simulated camera and microphone included (os.wait4; less the benchmark's own sampler
thread, which reads each thread's CPU twice a second); the reference is the renderer plus
ffmpeg (os.wait4 of each), the way a camera program piped into ffmpeg runs on a Pi. Also
printed: both sides without the pictures (ours measured inside the child around
``recorder.run``, getrusage deltas, less its camera's and microphone's threads and the
benchmark's own sampler thread; ffmpeg without its renderer), and the ratio judged until
2026-11-30 (ours with its simulated devices against ffmpeg without its renderer, which
counted the pictures on our side only). The targets: CPU ratio <= 1.0, peak RSS ratio
<= 1.3, 0 dropped frames, also with every core busy.

The pipe waits for its reader, so ffmpeg cannot drop a frame: when it is starved of CPU it
shows as a real-time factor below 1 instead. Our simulated camera, like a real one, does
not wait: a recorder more than its queue (1 s) behind loses frames.
The child also reports each frame's wait from capture to the encoder, where frames were
lost, and the CPU by thread; "other processes' CPU" is what the rest of the machine used
meanwhile (/proc/stat), since the development machine is shared.

Peak RSS is the whole process's for both (os.wait4), start-up included. Ours holds the
simulated camera and microphone (their test pattern and the frames they render), which the
reference gets from its renderer, a separate process whose peak is printed apart.
ffmpeg's own peak varies by tens of MiB from run to run on a shared machine, so ``--pairs N``
records N quiet pairs (ours, then the reference) and judges the medians of the ratios.

With ``--encryption`` (issue 25) both sides record once more in each pair, with Common Encryption: ours
with an agency key enrolled (each segment encrypted by ``capture.cenc``), the ffmpeg CLI with
``-encryption_scheme cenc-aes-ctr`` and a key (its fragmented output is not decryptable,
docs/encryption.md, but it does the same AES work); printed, as medians over the pairs: what
encryption adds to each side's CPU per recorded second (against the same pair's clear run),
ours encrypted against the CLI encrypted, and the AES-128-CTR throughput of ``cryptography``
on this machine.

    python bench/bench_record.py [--seconds 60] [--pairs 1] [--no-load] [--encryption] [--json results.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bodycam_threads import OwnedThread  # noqa: E402

WIDTH, HEIGHT, FPS = 1920, 1080, 30
STOP_SECONDS = 10.0
TARGET_CPU_RATIO = 1.0
TARGET_RSS_RATIO = 1.3


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


def child(seconds: float, data_dir: Path, encrypted: bool) -> int:
    from firmware.context import load_context
    from firmware.session import open_recorder

    if encrypted:
        from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

        from evidence.encryption import enrol_agency_key
        enrol_agency_key(data_dir / "device", X25519PrivateKey.generate().public_key().public_bytes_raw().hex())

    context = load_context(data_dir=data_dir, overrides={
        "video": {"width": WIDTH, "height": HEIGHT, "fps": FPS},
        "sources": {"camera": "simulated:", "microphone": "simulated:"},
    })
    config = context.config
    with open_recorder(context) as recorder:
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
        "cpu": _cpu(after) - _cpu(before) - sampler, "sampler_cpu": sampler,
        "user": after.ru_utime - before.ru_utime, "sys": after.ru_stime - before.ru_stime, "rss_before_kib": rss_before,
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


def render_frames(seconds: float) -> int:
    """The simulated camera's pictures, in real time, as raw I420 on stdout (the reference's input)."""
    sys.path.insert(0, str(REPO))
    # Without OpenBLAS's spinning threads at start, as the recorder (firmware/__init__.py): this
    # process stands in for a camera, which has no such cost.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from hw.simulated import SimulatedCamera

    camera = SimulatedCamera(WIDTH, HEIGHT, FPS)
    with open(sys.stdout.fileno(), "wb", closefd=False) as out:
        for _ in range(round(seconds * FPS)):
            out.write(camera.read().image.data)
    return 0


def busy_loops(count: int) -> list[subprocess.Popen]:
    """``count`` processes that each keep a core busy doing nothing useful, at the default priority."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def run_ours(seconds: float, work: Path, encrypted: bool = False) -> dict:
    data_dir = work / "spool"
    busy, started = _machine_busy(), time.monotonic()
    proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--child",
                             "--seconds", str(seconds), "--data-dir", str(data_dir)]
                            + (["--encrypted"] if encrypted else []),
                            stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    code, usage = _wait(proc)
    process_wall = time.monotonic() - started
    others = max(0.0, _machine_busy() - busy - _cpu(usage))
    if code != 0:
        raise SystemExit(f"bench: the recording child failed (exit {code})")
    result = json.loads(out.strip().splitlines()[-1])
    files = sorted(Path(result["folder"]).glob("seg-*.mp4"))
    # Debian's ffprobe cannot read encrypted fragments past the first (docs/encryption.md): the
    # timeline of an encrypted recording is then its frames' count.
    result.update(_probe(files) if not encrypted else
                  {"video_packets": result["frames"], "video_seconds": result["frames"] / FPS, "audio_seconds": 0.0})
    # The whole process less the benchmark's own sampler thread (its per-thread figures).
    result.update(process_cpu=_cpu(usage), whole_cpu=_cpu(usage) - result["sampler_cpu"], process_wall=process_wall,
                  others_cpu=others, process_peak_rss_kib=usage.ru_maxrss,
                  footage=result["frames"] / FPS, timeline=result["video_seconds"], files=len(files),
                  bytes=sum(f.stat().st_size for f in files))
    return result


def ffmpeg_command(seconds: float, video_kbps: int, audio_kbps: int, out: Path, encrypted: bool = False) -> list[str]:
    """The same encode as ``capture.encoder``: libx264 ultrafast/zerolatency with sliced
    threads (PyAV's thread type; the CLI's default would make libx264 use frame threads,
    which hold each frame back by a frame per thread), an IDR every second (keyint 2 s,
    min-keyint 1 s, no scenecut), the same bitrates, mono AAC 48 kHz,
    fragmented MP4 with a fragment per keyframe and every 1/15 s. The pictures come raw from
    standard input at the renderer's real-time pace; ``-re`` paces the sine alike."""
    return [
        "ffmpeg", "-hide_banner", "-y",
        "-f", "rawvideo", "-pix_fmt", "yuv420p", "-video_size", f"{WIDTH}x{HEIGHT}", "-framerate", str(FPS),
        "-i", "pipe:0",
        "-re", "-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=48000",
        "-t", f"{seconds:g}",
        "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-thread_type", "slice",
        "-x264-params", f"keyint={2 * FPS}:min-keyint={FPS}:scenecut=0",
        "-force_key_frames", "expr:gte(t,n_forced)", "-g", str(FPS),
        "-b:v", f"{video_kbps}k", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", f"{audio_kbps}k", "-ac", "1",
        "-f", "mp4", "-movflags", "frag_keyframe+empty_moov+default_base_moof", "-frag_duration", "66666",
        *(["-encryption_scheme", "cenc-aes-ctr", "-encryption_key", os.urandom(16).hex(),
           "-encryption_kid", os.urandom(16).hex()] if encrypted else []),
        str(out),
    ]


def run_ffmpeg(seconds: float, video_kbps: int, audio_kbps: int, work: Path, encrypted: bool = False) -> dict:
    out = work / ("ffmpeg-encrypted.mp4" if encrypted else "ffmpeg.mp4")
    command = ffmpeg_command(seconds, video_kbps, audio_kbps, out, encrypted)
    log = work / "ffmpeg.log"
    with open(log, "w") as err:
        busy, started = _machine_busy(), time.monotonic()
        renderer = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--render", "--seconds",
                                     str(seconds)], stdout=subprocess.PIPE)
        proc = subprocess.Popen(command, stdin=renderer.stdout, stdout=subprocess.DEVNULL, stderr=err)
        renderer.stdout.close()  # ffmpeg holds the pipe's read end now
        code, usage = _wait(proc)
        _, rendering = _wait(renderer)
        wall = time.monotonic() - started
        others = max(0.0, _machine_busy() - busy - _cpu(usage) - _cpu(rendering))
    if code != 0:
        sys.stderr.write(log.read_text()[-3000:])
        raise SystemExit(f"bench: ffmpeg failed (exit {code})")
    probe = _probe([out])
    expected = round(seconds * FPS)
    if encrypted:  # its output cannot be read back (docs/encryption.md); the pipe lets it drop no frame
        probe.update(video_packets=expected, video_seconds=seconds)
    return {"frames": probe["video_packets"], "dropped": max(0, expected - probe["video_packets"]),
            "wall": wall, "cpu": _cpu(usage), "user": usage.ru_utime, "sys": usage.ru_stime,
            "peak_rss_kib": usage.ru_maxrss, "footage": probe["video_packets"] / FPS,
            "timeline": probe["video_seconds"], "files": 1,
            "bytes": out.stat().st_size, "command": command, "others_cpu": others,
            "renderer_cpu": _cpu(rendering), "whole_cpu": _cpu(usage) + _cpu(rendering),
            "renderer_peak_rss_kib": rendering.ru_maxrss, **probe}


def aes_ctr_mb_s() -> float:
    """AES-128-CTR throughput of ``cryptography`` on this machine, MB/s, on 1 MiB buffers."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    data, rounds = os.urandom(1 << 20), 200
    stream = Cipher(algorithms.AES(os.urandom(16)), modes.CTR(bytes(16))).encryptor()
    started = time.perf_counter()
    for _ in range(rounds):
        stream.update(data)
    return rounds * len(data) / (time.perf_counter() - started) / 1e6


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


def table(runs: dict[str, dict]) -> str:
    """One column per run: ``runs`` maps its heading to its figures."""
    def row(name: str, cells: list[str]) -> str:
        return f"{name:<34}" + "".join(f"{cell:>18}" for cell in cells)

    def per_s(r: dict) -> float:
        return r["cpu"] / r["footage"] if r["footage"] else float("nan")

    rs = list(runs.values())
    lines = [row("", list(runs)), "-" * (34 + 18 * len(runs)),
             row("frames recorded", [str(r["frames"]) for r in rs]),
             row("frames dropped", [str(r["dropped"]) for r in rs]),
             row("footage s (first to last frame)", [f"{r['timeline']:.2f}" for r in rs]),
             row("audio s in the files", [f"{r['audio_seconds']:.2f}" for r in rs]),
             row("wall seconds", [f"{r['wall']:.2f}" for r in rs]),
             row("real-time factor (footage/wall)", [f"{r['timeline'] / r['wall']:.3f}" for r in rs]),
             row("CPU seconds (user+sys)", [f"{r['cpu']:.1f}" for r in rs]),
             row("  user / sys", [f"{r['user']:.1f} / {r['sys']:.1f}" for r in rs]),
             row("CPU s per recorded s (frames/30)", [f"{per_s(r):.3f}" for r in rs]),
             row("whole CPU s (see below)", [f"{r['whole_cpu']:.1f}" for r in rs]),
             row("peak RSS (MiB)", [f"{r['peak_rss_kib'] / 1024:.0f}" for r in rs]),
             row("other processes' CPU s meanwhile", [f"{r['others_cpu']:.1f}" for r in rs]),
             row("output MiB (files)", [f"{r['bytes'] / 2**20:.1f} ({r['files']})" for r in rs]),
             row("file kbit/s (video+audio)", [f"{r['bytes'] * 8 / 1000 / max(r['timeline'], 1e-9):.0f}" for r in rs]),
             ]
    return "\n".join(lines)


def _lag_lines(name: str, run: dict) -> list[str]:
    lines = [f"{name} wait from capture to encoder: median {run['lag_ms_p50']:.0f} ms, p99 {run['lag_ms_p99']:.0f} ms, "
             f"max {run['lag_ms_max']:.0f} ms at {run['lag_max_at_s']} s"]
    for at, lost, lag in run["gaps"][:8]:
        lines.append(f"  {lost} frame(s) lost at {at} s (the frame before them was encoded {lag} ms after capture)")
    if len(run["gaps"]) > 8:
        rest = run["gaps"][8:]
        lines.append(f"  ... and {sum(g[1] for g in rest)} more in {len(rest)} gaps up to {rest[-1][0]} s")
    if run["threads"]:
        lines.append(f"{name} CPU s per recorded s by thread: " + "; ".join(
            f"{thread} {seconds / run['footage']:.3f}" for thread, seconds in run["threads"].items()))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="footage to record (default 60)")
    parser.add_argument("--pairs", type=int, default=1, help="quiet pairs (ours, ffmpeg) to record; "
                        "the ratios' medians are judged (default 1)")
    parser.add_argument("--no-load", action="store_true", help="skip the recording with every core kept busy")
    parser.add_argument("--encryption", action="store_true",
                        help="also record both sides with Common Encryption and compare (issue 25)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--render", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--encrypted", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.pairs < 1:
        parser.error("--seconds and --pairs must be positive")
    if args.child:
        return child(args.seconds, args.data_dir, args.encrypted)
    if args.render:
        return render_frames(args.seconds)
    for tool in ("ffmpeg", "ffprobe"):
        if shutil.which(tool) is None:
            raise SystemExit(f"bench: {tool} is missing; install Debian's ffmpeg (`make system-deps`, as root)")

    cores = os.cpu_count() or 1
    print(f"Recording benchmark: simulated camera {WIDTH}x{HEIGHT} @ {FPS} fps + simulated microphone, "
          f"{args.seconds:g} s, real time; then the same encode of the same pictures with the ffmpeg CLI"
          + ("" if args.no_load else f"; then ours again with {cores} busy-loop processes") + ".", flush=True)
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bodycam-bench-") as tmp:
        work = Path(tmp)
        pairs, encrypted_pairs = [], []     # with --encryption, each pair's encrypted runs follow its clear ones
        for pair in range(args.pairs):
            ours = run_ours(args.seconds, work / f"quiet-{pair}")
            print(f"  bodycam done: {ours['frames']} frames, {ours['dropped']} dropped, {ours['cpu']:.1f} CPU s, "
                  f"peak RSS {ours['process_peak_rss_kib'] / 1024:.0f} MiB", flush=True)
            ref = run_ffmpeg(args.seconds, ours["bitrate_kbps"], ours["audio_kbps"], work)
            print(f"  ffmpeg  done: {ref['frames']} frames, {ref['cpu']:.1f} CPU s, "
                  f"peak RSS {ref['peak_rss_kib'] / 1024:.0f} MiB", flush=True)
            pairs.append((ours, ref))
            if args.encryption:
                encrypted_pairs.append((run_ours(args.seconds, work / f"encrypted-{pair}", encrypted=True),
                                        run_ffmpeg(args.seconds, ours["bitrate_kbps"], ours["audio_kbps"], work,
                                                   encrypted=True)))
                print(f"  encrypted: bodycam {encrypted_pairs[-1][0]['cpu']:.1f} CPU s, "
                      f"ffmpeg {encrypted_pairs[-1][1]['cpu']:.1f} CPU s", flush=True)
        encrypted = encrypted_pairs[-1] if encrypted_pairs else None
        loaded = None
        if not args.no_load:
            loops = busy_loops(cores)
            try:
                loaded = run_ours(args.seconds, work / "loaded")
            finally:
                for loop in loops:
                    loop.kill()
                    loop.wait()
            print(f"  bodycam with {cores} busy loops done: {loaded['frames']} frames, {loaded['dropped']} dropped",
                  flush=True)
    versions = _versions()
    for ours, _ in pairs:
        ours["peak_rss_kib"] = ours["process_peak_rss_kib"]  # whole process, measured as ffmpeg's is
    if loaded is not None:
        loaded["peak_rss_kib"] = loaded["process_peak_rss_kib"]
    cpu_ratios = [(o["whole_cpu"] / o["footage"]) / (r["whole_cpu"] / r["footage"]) for o, r in pairs]
    rss_ratios = [o["peak_rss_kib"] / r["peak_rss_kib"] for o, r in pairs]
    cpu_ratio, rss_ratio = statistics.median(cpu_ratios), statistics.median(rss_ratios)
    runs = {"bodycam": ours, "ffmpeg CLI": ref}
    if loaded is not None:
        runs[f"bodycam, {cores} busy"] = loaded
    if encrypted is not None:
        runs["bodycam encrypted"], runs["ffmpeg CLI encrypted"] = encrypted
    print()
    print(table(runs))
    print()
    # Both sides make the same pictures once: ours in its camera thread, the reference in its
    # renderer, which pipes them to ffmpeg. The judged ratio counts each side whole (start-up,
    # the pictures, the sound, the encode, the writing); the next leaves the pictures out of both.
    devices = [o["threads"].get("camera", 0.0) + o["threads"].get("microphone", 0.0) for o, _ in pairs]
    own_ratio = statistics.median(((o["cpu"] - d) / o["footage"]) / (r["cpu"] / r["footage"])
                                  for (o, r), d in zip(pairs, devices))
    before_ratio = statistics.median((o["cpu"] / o["footage"]) / (r["cpu"] / r["footage"]) for o, r in pairs)
    of = "" if len(pairs) == 1 else f", median of {len(pairs)} pairs"
    print(f"ratio of CPU s per recorded s, whole processes, bodycam / (renderer + ffmpeg){of}: {cpu_ratio:.2f}  "
          f"(target <= {TARGET_CPU_RATIO})")
    print(f"  without the pictures on either side (ours without its simulated camera's and microphone's "
          f"threads and its start-up, {statistics.median(devices) / ours['footage']:.3f} CPU s/s; ffmpeg without "
          f"its renderer): {own_ratio:.2f}")
    print(f"  ours while recording, its simulated devices included, against ffmpeg without its renderer "
          f"(the ratio judged until 2026-11-30): {before_ratio:.2f}")
    print(f"ratio of peak RSS (whole processes), bodycam / ffmpeg{of}: {rss_ratio:.2f}  (target <= {TARGET_RSS_RATIO})")
    if len(pairs) > 1:
        print("  by pair (MiB, CPU ratio): " + "; ".join(
            f"{o['peak_rss_kib'] / 1024:.0f} / {r['peak_rss_kib'] / 1024:.0f} ({c:.2f})"
            for (o, r), c in zip(pairs, cpu_ratios)))
    print(f"  ours holds the simulated camera and microphone; the reference's renderer, a separate process "
          f"not counted, peaked at {ref['renderer_peak_rss_kib'] / 1024:.0f} MiB")
    print(f"dropped frames: {ours['dropped']} quiet" + ("" if loaded is None else
          f", {loaded['dropped']} with {cores} busy loops") + "  (target 0)")
    print(f"the reference's picture renderer (a separate process): {ref['renderer_cpu']:.1f} CPU s")
    for line in _lag_lines("bodycam", ours) + (_lag_lines(f"bodycam with {cores} busy loops", loaded) if loaded else []):
        print(line)
    print(f"bodycam whole process incl. start-up: {ours['process_cpu']:.1f} CPU s in {ours['process_wall']:.1f} s; "
          f"RSS before recording {ours['rss_before_kib'] / 1024:.0f} MiB")
    if encrypted_pairs:
        def per_second(run: dict) -> float:
            return run["whole_cpu"] / run["footage"]

        def median_of(ratio: Callable[[tuple[dict, dict], tuple[dict, dict]], float]) -> float:
            return statistics.median(ratio(clear, crypt) for clear, crypt in zip(pairs, encrypted_pairs))
        ours_cost = median_of(lambda clear, crypt: per_second(crypt[0]) / per_second(clear[0]) - 1)
        cli_cost = median_of(lambda clear, crypt: per_second(crypt[1]) / per_second(clear[1]) - 1)
        print(f"encryption's cost, CPU s per recorded s, whole processes{of}: bodycam {100 * ours_cost:+.1f} %, "
              f"ffmpeg CLI {100 * cli_cost:+.1f} %  (target for ours <= 2 %)")
        print(f"encrypted, bodycam / (renderer + ffmpeg CLI){of}: "
              f"{median_of(lambda clear, crypt: per_second(crypt[0]) / per_second(crypt[1])):.2f}  (target <= 1.0); "
              f"AES-128-CTR of cryptography here: {aes_ctr_mb_s():.0f} MB/s")
    print(f"commit {versions['commit']}; {versions['pyav']}; reference {versions['ffmpeg']}; {versions['cpus']} CPUs")
    ok = (ours["dropped"] == 0 and (loaded is None or loaded["dropped"] == 0)
          and cpu_ratio <= TARGET_CPU_RATIO and rss_ratio <= TARGET_RSS_RATIO)
    print("targets met" if ok else "TARGETS MISSED")
    if args.json:
        args.json.write_text(json.dumps({"seconds": args.seconds, "ours": ours, "ffmpeg": ref, "loaded": loaded,
                                         "encrypted": encrypted, "encrypted_pairs": encrypted_pairs,
                                         "pairs": pairs, "cpu_ratios": cpu_ratios, "rss_ratios": rss_ratios,
                                         "cpu_ratio": cpu_ratio, "own_cpu_ratio": own_ratio,
                                         "before_cpu_ratio": before_ratio, "rss_ratio": rss_ratio, "versions": versions,
                                         "date": time.strftime("%Y-%m-%d %H:%M:%S %z")}, indent=2))
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
