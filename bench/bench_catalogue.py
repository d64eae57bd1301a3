#!/usr/bin/env python3
"""Catalogue benchmark (issue 16): search in a large catalogue, and filing a pulled session.

- A SQLite catalogue (the station's default) is filled with ``--sessions`` (default 1,000,000)
  synthetic sessions: 2,000 officers, 1,000 devices, 50 units, starts spread over two years.
  Then ``--queries`` (default 500) searches by officer and day (``Catalogue.search(officer=,
  date=)``), each for a random officer and day: p50, p95, max in ms, and the sessions found.
- Filing a pulled session as the archive sink does (``Catalogue.take``): open record, 3
  segment manifests (each with its GNSS place) with their indexes and videos, close record,
  real Ed25519-signed records, into that same large catalogue: ms per session (11 items),
  p50 and p95.

Target: search by officer and date p95 <= 50 ms; cataloguing a pulled session <= 5 ms.

    python bench/bench_catalogue.py [--sessions 1000000] [--queries 500] [--filed 200]
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from evidence.keys import FileSigner  # noqa: E402
from evidence.records import FORMAT, GENESIS, SignedRecord, sign  # noqa: E402
from station.catalogue.catalogue import DAY_NS, Catalogue, sessions  # noqa: E402
from station.services import open_database  # noqa: E402

START = 1_735_689_600 * 10**9          # 2025-01-01 UTC
SPAN = 730 * DAY_NS


def fill(catalogue: Catalogue, count: int, rng: random.Random) -> None:
    batch = []
    for number in range(count):
        officer, device = rng.randrange(2000), rng.randrange(1000)
        started = START + rng.randrange(SPAN)
        batch.append({
            "session": f"S{number:08d}", "station": "0" * 16, "folder": f"x/S{number:08d}",
            "device": f"BC{device:05d}", "key_id": f"{device:016x}", "police_number": f"{officer:06d}",
            "officer": f"officer {officer}", "unit_number": f"{officer % 50:012d}", "unit": f"unit {officer % 50}",
            "firmware": "1", "started_ns": started, "ended_ns": started + 600 * 10**9, "archived_ns": started + DAY_NS,
            "clock": "trusted", "pre_event_ms": 0, "segments_sealed": 10, "manifests": 10, "indexes": 10,
            "videos": 10, "stop_reason": "end_of_enforcement", "stop_code": "end_of_enforcement",
            "marked": rng.random() < 0.02})
        if len(batch) == 20_000:
            with catalogue.engine.begin() as connection:
                connection.execute(sessions.insert(), batch)
            batch.clear()
    if batch:
        with catalogue.engine.begin() as connection:
            connection.execute(sessions.insert(), batch)


def searches(catalogue: Catalogue, queries: int, rng: random.Random) -> tuple[list[float], int]:
    times, found = [], 0
    for _ in range(queries):
        day = time.strftime("%Y-%m-%d", time.gmtime((START + rng.randrange(SPAN)) // 10**9))
        began = time.perf_counter()
        found += len(catalogue.search(officer=f"{rng.randrange(2000):06d}", date=day))
        times.append((time.perf_counter() - began) * 1e3)
    return times, found


def pulled_session(signer: FileSigner, number: int, seq: int, prev: str) -> list[tuple[str, SignedRecord | None]]:
    common = {"format": FORMAT, "device": "BC99999", "key_id": signer.key_id, "session": f"P{number:06d}"}
    who = {"officer": {"police_number": "123456", "name": "officer"}, "unit": {"number": "0" * 12, "name": "unit"},
           "firmware": "1", "clock": {"status": "trusted"}}
    wall = START + number * 10**12
    items = []
    opened = sign({**common, **who, "type": "session-open", "seq": seq, "prev": prev, "started_wall": wall,
                   "link": None, "pre_event_ms": 0}, signer)
    items.append(("session-open.json", opened))
    last = opened
    fix = {"lat": 39904200, "lon": 116407400, "utc": wall}
    for segment in range(1, 4):
        frame = {"n": segment * 60, "pts": segment * 60, "mono": 0, "wall": wall + segment * 2 * 10**9}
        manifest = sign({**common, **who, "type": "segment", "seq": seq + segment, "prev": last.hash,
                         "segment": segment, "file": {"name": f"seg-{segment:06d}.mp4", "size": 1, "sha256": "0" * 64},
                         "parts": [], "index": {"name": "i", "size": 1, "sha256": "0" * 64},
                         "frames": {"count": 60, "first": frame, "last": frame}, "flags": [], "markers": [],
                         "place": {"first": fix, "last": fix}, "sealed_wall": wall}, signer)
        items += [(f"seg-{segment:06d}.mp4.manifest", manifest), (f"seg-{segment:06d}.mp4.idx", None),
                  (f"seg-{segment:06d}.mp4", None)]
        last = manifest
    closed = sign({**common, "type": "session-close", "seq": seq + 4, "prev": last.hash, "segments": 3,
                   "last_segment": last.hash, "reason": "end_of_enforcement", "flags": [], "ended_wall": wall + 10**10},
                  signer)
    items.append(("session-close.json", closed))
    return items


def filing(catalogue: Catalogue, count: int, folder: Path) -> list[float]:
    signer = FileSigner.generate(folder / "bench.key")
    times, seq, prev = [], 1, GENESIS
    for number in range(count):
        items = pulled_session(signer, number, seq, prev)
        seq, prev = seq + 5, items[-1][1].hash
        began = time.perf_counter()
        for name, record in items:
            catalogue.take("1" * 16, f"x/P{number:06d}", name, record, 0)
        times.append((time.perf_counter() - began) * 1e3)
    return times


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--filed", type=int, default=200)
    args = parser.parse_args()
    rng = random.Random(16)
    with tempfile.TemporaryDirectory() as folder:
        engine = open_database(Path(folder))
        catalogue = Catalogue(engine)
        began = time.perf_counter()
        fill(catalogue, args.sessions, rng)
        print(f"filled {args.sessions} sessions in {time.perf_counter() - began:.0f} s")
        times, found = searches(catalogue, args.queries, rng)
        print(f"search by officer and date ({args.queries} queries, {found} sessions found): "
              f"p50 {percentile(times, 0.5):.2f} ms, p95 {percentile(times, 0.95):.2f} ms, max {max(times):.2f} ms")
        filed = filing(catalogue, args.filed, Path(folder))
        print(f"filing a pulled session (11 items, {args.filed} sessions): p50 {percentile(filed, 0.5):.2f} ms, "
              f"p95 {percentile(filed, 0.95):.2f} ms, mean {statistics.mean(filed):.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
