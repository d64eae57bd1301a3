#!/usr/bin/env python3
"""Overlay benchmark (issue 4): what burning the overlay into a 1920x1080 frame costs.

In one run, on the same frames, per frame:
  - ours: ``overlay.burn.Overlay`` on I420 frames (the recorder's format) and on BGR frames;
  - naive putText: ``cv2.putText`` of the same ASCII lines (time, serial, police number, unit
    number, place, REC) on every frame, once with a plain white line (picamera2's
    ``timestamped_video.py`` way) and once with a black outline under it (readable on any
    background, as ours is); on I420 frames it writes the luma plane only;
  - naive Pillow: Pillow renders every line, Chinese name and unit included, with the same
    outline, on every frame, and the drawn pixels are copied into the frame.
Frame times advance by 1/fps, so the clock changes every ``fps`` frames as in a recording and
the 99th percentile includes those frames. The first frame (glyphs rendered for the first time)
is reported apart and left out of the statistics.

Targets: ours median <= 0.1 ms; >= 3x cheaper than plain putText; >= 20x cheaper than Pillow.

    python bench/bench_overlay.py [--frames 900] [--json results.json]
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from overlay.burn import Overlay, OverlaySettings  # noqa: E402
from overlay.status import OverlayStatus  # noqa: E402

WIDTH, HEIGHT, FPS = 1920, 1080, 30
IDENTITY = {"device": "BC00042", "police_number": "012345", "officer": "张三丰",
            "unit_number": "110105000000", "unit": "朝阳分局执法大队"}
TARGET_MEDIAN_MS, TARGET_PUTTEXT, TARGET_PILLOW = 0.1, 3.0, 20.0


def _frames(count: int, bgr: bool) -> list[np.ndarray]:
    """A few different pictures (gradient and noise), so no run draws on a cached, identical frame."""
    rng = np.random.default_rng(4)
    base = (np.add.outer(np.arange(HEIGHT) // 5, np.arange(WIDTH) // 9) % 220 + 16).astype(np.uint8)
    out = []
    for _ in range(count):
        picture = np.dstack([base, base[::-1], base[:, ::-1]]) + rng.integers(0, 20, (HEIGHT, WIDTH, 3), np.uint8)
        out.append(picture if bgr else cv2.cvtColor(picture, cv2.COLOR_BGR2YUV_I420))
    return out


def _measure(draw: Callable[[np.ndarray, int], None], frames: list[np.ndarray], count: int,
             start_ns: int) -> tuple[float, np.ndarray]:
    """Time ``draw`` on ``count`` frames: (first call in ms, the others in ms)."""
    times = np.empty(count)
    for n in range(count):
        image, wall_ns = frames[n % len(frames)], start_ns + n * 1_000_000_000 // FPS
        began = time.perf_counter_ns()
        draw(image, wall_ns)
        times[n] = (time.perf_counter_ns() - began) / 1e6
    return times[0], times[1:]


def _ascii_lines(overlay: Overlay, wall_ns: int) -> list[str]:
    return [overlay.format_time(wall_ns // 1_000_000_000) + "  REC",
            f"{IDENTITY['device']}  {IDENTITY['police_number']}", IDENTITY["unit_number"], "NO GPS"]


def naive_puttext(overlay: Overlay, outline: bool, bgr: bool) -> Callable[[np.ndarray, int], None]:
    scale, line = HEIGHT / 1000, round(HEIGHT * 0.045)

    def draw(image: np.ndarray, wall_ns: int) -> None:
        target = image if bgr else image[:HEIGHT]
        white, black = ((255, 255, 255), (0, 0, 0)) if bgr else (235, 16)
        for row, text in enumerate(_ascii_lines(overlay, wall_ns)):
            origin = (28, 24 + line * (row + 1))
            if outline:
                cv2.putText(target, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, black, 7, cv2.LINE_AA)
            cv2.putText(target, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, white, 2, cv2.LINE_AA)
    return draw


def naive_pillow(overlay: Overlay, bgr: bool) -> Callable[[np.ndarray, int], None]:
    glyphs = overlay.glyphs  # the same font, size and outline as ours
    font, stroke, height = glyphs.font, glyphs.stroke, glyphs.height
    box = (HEIGHT // 4, WIDTH // 3)

    def draw(image: np.ndarray, wall_ns: int) -> None:
        lines = _ascii_lines(overlay, wall_ns)
        lines[1] += "  " + IDENTITY["officer"]
        lines[2] += "  " + IDENTITY["unit"]
        fill, outline = Image.new("L", box[::-1]), Image.new("L", box[::-1])
        for row, text in enumerate(lines):
            ImageDraw.Draw(outline).text((8, row * height), text, font=font, fill=255, stroke_width=stroke,
                                         stroke_fill=255)
            ImageDraw.Draw(fill).text((8, row * height), text, font=font, fill=255)
        drawn = np.asarray(outline) >= 128
        value = np.asarray(fill)
        region = image[24:24 + box[0], 28:28 + box[1]]
        if bgr:
            np.copyto(region, value[:, :, np.newaxis], where=drawn[:, :, np.newaxis])
        else:
            np.copyto(region, (16 + value.astype(np.uint16) * 219 // 255).astype(np.uint8), where=drawn)
    return draw


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=900, help="frames per method (default 900: 30 s at 30 fps)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    start_ns = time.time_ns() // 1_000_000_000 * 1_000_000_000 + 500_000_000
    results: dict[str, dict[str, float]] = {}
    for fmt in ("i420", "bgr"):
        frames = _frames(4, bgr=fmt == "bgr")
        settings = OverlaySettings(identity=IDENTITY, utc_offset="+08:00")
        ours = Overlay(WIDTH, HEIGHT, settings, OverlayStatus(), pixel_format=fmt)
        methods = {"ours": ours.draw,
                   "putText": naive_puttext(ours, outline=False, bgr=fmt == "bgr"),
                   "putText+outline": naive_puttext(ours, outline=True, bgr=fmt == "bgr"),
                   "Pillow": naive_pillow(ours, bgr=fmt == "bgr")}
        for name, draw in methods.items():
            first, times = _measure(draw, frames, args.frames, start_ns)
            results[f"{fmt} {name}"] = {"median_ms": float(np.median(times)), "p99_ms": float(np.percentile(times, 99)),
                                        "max_ms": float(times.max()), "first_ms": float(first)}
    print(f"overlay cost per {WIDTH}x{HEIGHT} frame, {args.frames} frames each "
          f"({platform.processor() or platform.machine()}, Python {platform.python_version()})")
    print(f"{'method':<24}{'median ms':>10}{'p99 ms':>9}{'max ms':>9}{'first ms':>10}{'x ours':>8}")
    for fmt in ("i420", "bgr"):
        ours = results[f"{fmt} ours"]["median_ms"]
        for key in (k for k in results if k.startswith(fmt)):
            r = results[key]
            r["ratio"] = r["median_ms"] / ours
            print(f"{key:<24}{r['median_ms']:>10.4f}{r['p99_ms']:>9.4f}{r['max_ms']:>9.3f}{r['first_ms']:>10.2f}"
                  f"{r['ratio']:>8.1f}")
    verdicts = []
    for fmt in ("i420", "bgr"):
        r = {k.split(" ", 1)[1]: v for k, v in results.items() if k.startswith(fmt)}
        verdicts += [(f"{fmt}: median <= {TARGET_MEDIAN_MS} ms", r["ours"]["median_ms"] <= TARGET_MEDIAN_MS),
                     (f"{fmt}: >= {TARGET_PUTTEXT:g}x cheaper than putText", r["putText"]["ratio"] >= TARGET_PUTTEXT),
                     (f"{fmt}: >= {TARGET_PILLOW:g}x cheaper than Pillow", r["Pillow"]["ratio"] >= TARGET_PILLOW)]
    for what, ok in verdicts:
        print(f"{'PASS' if ok else 'FAIL'}  {what}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0 if all(ok for _, ok in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
