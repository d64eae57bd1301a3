#!/usr/bin/env python3
"""Review page benchmark (issues 18 and 27): what a reviewer waits for.

A real recording (``--seconds`` of 1920x1080 at 30 fps from the simulated camera, the
device's default 4000 kbit/s and 60 s segments) is pulled over a pty link into an archive, the
page is served by uvicorn on the loopback, and a signed-in reviewer who gave a reason

- fetches every fragment of every segment as the player does, one Range request each
  (median and p95 ms per request, and MB/s over all of them);
- then, the session's segments copied (video, index, manifest) until it holds ``--fill``
  seconds of footage (an hour by default: the copies are sealed as segment 1, so the verifier
  calls them OUT-OF-ORDER, but it reads every byte of them as of any segment) and the
  scheduled check run over it, side by side ``--runs`` times each: opens the session page (the
  verdicts stored in the catalogue: no video read) and presses "verify now" (every byte read
  again and the verdicts stored, then the page: what every opening cost before issue 27).

    python bench/bench_web.py [--seconds 60] [--fill 3600] [--runs 5]
"""
from __future__ import annotations

import argparse
import http.cookiejar
import re
import shutil
import statistics
import stat
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import uvicorn  # noqa: E402

from evidence.keys import add_key  # noqa: E402
from evidence.records import INDEX_SUFFIX, MANIFEST_SUFFIX  # noqa: E402
from firmware.context import load_context  # noqa: E402
from firmware.offload import serve  # noqa: E402
from firmware.session import open_recorder  # noqa: E402
from station.catalogue import playback  # noqa: E402
from station.catalogue.verdicts import Verdicts  # noqa: E402
from station.services import Station, dock_init, open_station, pull, recheck  # noqa: E402
from station.web.app import create_app  # noqa: E402
from sync.ptywire import PtyWire  # noqa: E402

PASSWORD = "bench password 1"


def recorded_archive(root: Path, seconds: float) -> Path:
    device, archive = root / "device", root / "archive"
    settings = {"video": {"width": 1920, "height": 1080, "fps": 30}, "recording": {"segment_seconds": 60},
                "sources": {"camera": "simulated:", "microphone": "simulated:"}}
    context = load_context(data_dir=device, overrides=settings)
    with open_recorder(context) as recorder:
        recorder.run(seconds)
    dock_init(archive, [context.data_dir.public_key.read_text()])
    add_key(context.data_dir.docks, (archive / "dock" / "dock.pub").read_text())
    stop = threading.Event()
    with PtyWire() as wire:
        server = threading.Thread(target=serve, args=(context, wire.a), kwargs={"stop": stop})
        server.start()
        try:
            assert not pull(archive, wire.b).failed
        finally:
            stop.set()
            server.join(timeout=60)
    return archive


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--fill", type=float, default=3600, help="seconds of footage the session is copied up to")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        archive = recorded_archive(Path(temp), args.seconds)
        opened = open_station(archive)
        gate = opened.desk(None, source="bench").access
        admin = gate.add_user(None, "admin", "admin", "administrator", PASSWORD)
        gate.add_user(admin, "reviewer", "reviewer", "reviewer", PASSWORD)
        server = uvicorn.Server(uvicorn.Config(create_app(opened), host="127.0.0.1", port=0,
                                               log_level="warning", lifespan="off"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.01)
        base = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
        try:
            measure(base, opened, args.fill, args.runs)
        finally:
            server.should_exit = True
            thread.join(timeout=30)
    return 0


def measure(base: str, opened: Station, fill: float, runs: int) -> None:
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def token(path: str) -> str:
        return re.search(r'name="csrf" value="([^"]+)"', opener.open(base + path).read().decode()).group(1)

    def post(path: str, form: dict[str, str]) -> None:
        opener.open(base + path, urllib.parse.urlencode({"csrf": token(path if path == "/login" else "/"), **form})
                    .encode()).read()

    post("/login", {"user": "reviewer", "password": PASSWORD})
    folder = next(opened.archive.glob("[0-9]*/*/*/*/*/*/*/session-open.json")).parent
    session = Verdicts(opened.engine).latest(folder).footage
    post(f"/sessions/{session.session}/view", {"reason": "benchmark"})
    ranges(base, opener, session)
    fill_up(folder, session, fill)
    recheck(opened.archive)
    filled = Verdicts(opened.engine).latest(folder).footage
    total = sum((folder / s.name).stat().st_size for s in filled.segments)
    page, verify = [], []
    for _ in range(runs):
        page.append(timed(lambda: opener.open(f"{base}/sessions/{session.session}").read()))
        verify.append(timed(lambda: post(f"/sessions/{session.session}/verify", {})))
    print(f"session of {len(filled.segments)} segments ({fill:.0f} s of footage), {total / 1e6:.0f} MB, median over "
          f"{runs} runs each: page (stored verdicts) {statistics.median(page) * 1000:.0f} ms; "
          f"verify now + page (every byte read, as every opening did before) {statistics.median(verify) * 1000:.0f} ms")


def timed(action) -> float:
    began = time.perf_counter()
    action()
    return time.perf_counter() - began


def ranges(base: str, opener, session: playback.SessionFootage) -> None:
    """Every part of every segment fetched as the player does, one Range request each."""
    times, fetched = [], 0
    began_all = time.perf_counter()
    for segment in session.segments:
        for part in segment.parts:
            request = urllib.request.Request(f"{base}/sessions/{session.session}/media/{segment.name}", headers={
                "Range": f"bytes={part.offset}-{part.offset + part.size - 1}"})
            began = time.perf_counter()
            body = opener.open(request).read()
            times.append(time.perf_counter() - began)
            fetched += len(body)
    elapsed = time.perf_counter() - began_all
    times.sort()
    print(f"{len(times)} Range requests (init parts and ~1 s fragments), {fetched / 1e6:.1f} MB: "
          f"median {statistics.median(times) * 1000:.1f} ms, p95 {times[int(0.95 * (len(times) - 1))] * 1000:.1f} ms, "
          f"{fetched / 1e6 / elapsed:.0f} MB/s")


def fill_up(folder: Path, session: playback.SessionFootage, seconds: float) -> None:
    """Copies of the session's first segment (video, index, manifest) after its last, until it
    holds ``seconds`` of footage: a synthetic session as long as a real one of that length."""
    folder.chmod(stat.S_IRWXU)
    first, number = session.segments[0], session.segments[-1].number
    length = session.duration
    while length < seconds:
        number += 1
        for suffix in ("", INDEX_SUFFIX, MANIFEST_SUFFIX):
            shutil.copyfile(folder / (first.name + suffix), folder / f"seg-{number:06d}.mp4{suffix}")
        length += first.duration


if __name__ == "__main__":
    sys.exit(main())
