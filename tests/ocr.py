"""Reading burned-in overlay text back from pictures with tesseract (installed by scripts/system-deps.sh)."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import cv2
import numpy as np

TIME_CHARACTERS = "0123456789-:+T"


def letters(luma: np.ndarray, box: tuple[int, int, int, int], margin: int = 6) -> np.ndarray:
    """The overlay's letters in ``box`` of a luma picture, black on white, ready for tesseract.

    A letter is a bright region (white inside, after encoding still > 200 on average) ringed
    all round by its dark outline; bright scene is either dimmer or not ringed, and is dropped.
    The work is done at 3x (smooth edges), the result handed over at 1.5x, the size tesseract
    reads best.
    """
    x, y, width, height = box
    crop = luma[max(0, y - margin):y + height + margin, max(0, x - margin):x + width + margin]
    big = cv2.resize(crop, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)
    bright = (big > 140).astype(np.uint8)
    dark = big < 100
    text = np.zeros_like(bright)
    contours, hierarchy = cv2.findContours(bright, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    # Outer boundaries of bright regions, also those inside another region's hole (white background).
    for contour in (c for c, h in zip(contours, hierarchy[0] if hierarchy is not None else []) if h[3] < 0):
        left, top, w, h = cv2.boundingRect(contour)
        # Work in the region's box plus the ring's width (the ring is 2 to 3 pixels out).
        x0, y0 = max(0, left - 4), max(0, top - 4)
        window = (slice(y0, top + h + 4), slice(x0, left + w + 4))
        shape = cv2.drawContours(np.zeros_like(bright[window]), [contour - (x0, y0)], -1, 1, cv2.FILLED)
        ring = (cv2.dilate(shape, np.ones((7, 7), np.uint8)) - cv2.dilate(shape, np.ones((3, 3), np.uint8))) > 0
        inside = (shape & bright[window]) > 0
        # All round: not the bright scene round the text, cut off by the crop, touching a bit of dark.
        ringed = ring.sum() >= cv2.arcLength(contour, True)
        if ringed and dark[window][ring].mean() > 0.9 and big[window][inside].mean() > 200:
            text[window][inside] = 1
    out = cv2.resize(np.where(text > 0, 0, 255).astype(np.uint8), None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    return cv2.copyMakeBorder(out, 20, 20, 20, 20, cv2.BORDER_CONSTANT, value=255)


def read_lines(images: list[np.ndarray], whitelist: str | None = None) -> list[str]:
    """Each image read as one line of text (tesseract --psm 7), all in one tesseract run."""
    tesseract = shutil.which("tesseract")
    assert tesseract, "tesseract is not installed: run scripts/system-deps.sh (make test does)"
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for number, image in enumerate(images):
            paths.append(f"{tmp}/{number:05d}.png")
            cv2.imwrite(paths[-1], image)
        Path(tmp, "list.txt").write_text("\n".join(paths) + "\n")
        options = ["-c", f"tessedit_char_whitelist={whitelist}"] if whitelist else []
        out = subprocess.run([tesseract, f"{tmp}/list.txt", "stdout", "--psm", "7", *options],
                             capture_output=True, text=True, check=True).stdout
    # One page per image, each ended by a form feed.
    return [page.strip() for page in out.split("\f")][:len(images)]
