#!/usr/bin/env python3
"""Usage report benchmark (issue 24): the monthly report of one unit, and of the whole station,
in the catalogue of bench_catalogue.py (default 1,000,000 sessions: 2,000 officers, 1,000
devices, 50 units, two years).

Besides bench_catalogue's sessions the catalogue gets what the report reads: each device's daily
docking (730,000 rows; a tenth a day and a half late), the device ledger (one hand-out per
device), a third of the sessions stored centrally, a write-up for every unspecified stop but one
in four, stored verdicts for one session in a hundred, and a refused docking a week.

Times, each the median of ``--runs``: building the page's data (``usage.usage``), drawing its
charts as SVG, and the PDF (``reports.pdf_bytes``), and the PDF of an empty report (the font's
fixed cost); then the query plan (EXPLAIN QUERY PLAN).
Goal: the page's data and the PDF of a unit's month within 2 s.

    python bench/bench_report.py [--sessions 1000000] [--runs 5]
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import sqlalchemy as sa
from bench_catalogue import SPAN, START, fill

from station.catalogue.catalogue import DAY_NS, Catalogue, dockings, ledger, sessions, writeups
from station.catalogue.verdicts import segment_verdicts, session_checks
from station.intake.witness import refusals
from station.services import open_database
from station.store.store import stored_sessions
from station.supervision import charts, reports, usage
from station.supervision.undocked import undocked

DEVICES = 1000
UNIT = f"{7:012d}"
MONTH = "2026-03"


def surroundings(catalogue: Catalogue, rng: random.Random) -> None:
    """Dockings, ledger, stored sessions, write-ups, verdicts and refusals around the sessions."""
    with catalogue.engine.begin() as connection:
        days = SPAN // DAY_NS + 2
        for device in range(DEVICES):
            late = [rng.random() < 0.1 for _ in range(days)]
            connection.execute(dockings.insert(), [
                {"station": "0" * 16, "key_id": f"{device:016x}",
                 "docked_ns": START + day * DAY_NS + (36 if late[day] else 20) * 3600 * 10**9} for day in range(days)])
        connection.execute(ledger.insert(), [{"device": f"BC{d:05d}", "police_number": f"{rng.randrange(2000):06d}",
                                              "out_ns": START - DAY_NS, "out_by": "bench"} for d in range(DEVICES)])
        connection.execute(refusals.insert(), [{"key_id": f"{d:016x}", "device": f"BC{d:05d}", "reason": "rewound",
                                                "refused_ns": START + week * 7 * DAY_NS}
                                               for week, d in enumerate(rng.sample(range(DEVICES), 100))])
        chosen = connection.execute(sa.select(sessions.c.session, sessions.c.ended_ns)).all()
        for start in range(0, len(chosen), 50_000):
            part = chosen[start:start + 50_000]
            connection.execute(stored_sessions.insert(), [
                {"session": s.session, "files": 30, "retain_until_ns": 0, "stored_ns": s.ended_ns + 30 * 3600 * 10**9}
                for s in part if rng.random() < 0.33])
            checked = [s for s in part if rng.random() < 0.01]
            if checked:
                connection.execute(session_checks.insert(), [{"session": s.session, "checked_ns": s.ended_ns,
                                                              "layout": "{}"} for s in checked])
                connection.execute(segment_verdicts.insert(), [
                    {"session": s.session, "name": f"seg-{n:06d}.mp4", "state": "TAMPERED" if n == 1 else "OK",
                     "detail": ""} for s in checked for n in range(1, 11)])
        unspecified = rng.sample([s.session for s in chosen], len(chosen) // 20)
        connection.execute(sessions.update().where(sessions.c.session == sa.bindparam("which"))
                           .values(stop_code="unspecified", stop_reason="unspecified"),
                           [{"which": s} for s in unspecified])
        connection.execute(writeups.insert(), [
            {"session": s, "station": "0" * 16, "file": f"writeups/{s}", "hash": "0" * 64, "reason": "other",
             "text": "bench", "written_by": "bench", "written_ns": START} for s in unspecified[len(unspecified) // 4:]])


def timed(runs: int, work) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        began = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - began)
    return statistics.median(times), result


def plans(catalogue: Catalogue, period: usage.Period, now: int) -> None:
    """EXPLAIN QUERY PLAN of the unit's month and of the devices not docked (their statements, as run)."""
    seen: list[str] = []

    def keep(connection, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    sa.event.listen(catalogue.engine, "before_cursor_execute", keep)
    usage.sessions_of(catalogue, UNIT, period)
    sa.event.remove(catalogue.engine, "before_cursor_execute", keep)
    chosen = [("the unit's month (usage.sessions_of)", seen[-1])]
    seen.clear()
    sa.event.listen(catalogue.engine, "before_cursor_execute", keep)
    undocked(catalogue, now, now - 31 * DAY_NS)
    sa.event.remove(catalogue.engine, "before_cursor_execute", keep)
    chosen += [("devices not docked (undocked._devices)", seen[0]), ("late dockings (undocked._late)", seen[1])]
    with catalogue.engine.connect() as connection:
        for what, (statement, parameters) in chosen:
            print(f"query plan of {what}:")
            for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters):
                print(f"  {row[3]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(24)
    with tempfile.TemporaryDirectory() as folder:
        catalogue = Catalogue(open_database(Path(folder)))
        began = time.perf_counter()
        fill(catalogue, args.sessions, rng)
        surroundings(catalogue, rng)
        print(f"filled {args.sessions} sessions and their dockings, ledger, stores, write-ups and verdicts "
              f"in {time.perf_counter() - began:.0f} s")
        period, now = usage.month(MONTH, UTC), START + SPAN
        for unit, what in ((UNIT, f"unit {UNIT}"), (None, "whole station")):
            data_s, found = timed(args.runs, lambda unit=unit: usage.usage(catalogue, unit, period, now, UTC))
            svg_s, _ = timed(args.runs, lambda found=found: [charts.svg(chart, name)
                                                             for name, chart in reports.chart_set(found)])
            pdf_s, pdf = timed(args.runs, lambda found=found: reports.pdf_bytes(found))
            print(f"{what}, {MONTH}: {found.sessions} sessions, {len(found.officers)} officers, "
                  f"{len(found.devices)} devices; page data {data_s * 1e3:.0f} ms, charts (SVG) {svg_s * 1e3:.0f} ms, "
                  f"PDF {pdf_s * 1e3:.0f} ms ({len(pdf) // 1024} KiB); data + PDF {(data_s + pdf_s) * 1e3:.0f} ms")
        empty = usage.usage(catalogue, "none", period, now, UTC)
        fixed_s, _ = timed(args.runs, lambda: reports.pdf_bytes(empty))
        print(f"the PDF of a report with no session (loading and subsetting Noto Sans CJK): {fixed_s * 1e3:.0f} ms")
        undocked_s, found = timed(args.runs, lambda: undocked(catalogue, now, now - 31 * DAY_NS))
        print(f"devices not docked and late dockings of the last 31 days: {len(found.devices)} devices, "
              f"{len(found.late)} sessions, {undocked_s * 1e3:.0f} ms")
        plans(catalogue, period, now)
    return 0


if __name__ == "__main__":
    sys.exit(main())
