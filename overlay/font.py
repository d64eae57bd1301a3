"""The overlay's font and its glyphs: each character is rendered once, with its outline, and reused.

Pillow (FreeType) draws a character only the first time it is needed; every later line that
uses it is assembled from the cached coverage masks with numpy, so a new second on the clock
costs a few array copies instead of a font rasterisation.
"""
from __future__ import annotations

import math
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from overlay import OverlayError

# Noto Sans Mono CJK SC Bold first: Chinese and Latin in one face, digits of equal width,
# bold strokes that survive H.264. (path, face index inside the collection)
_KNOWN_FONTS = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", 7),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 7),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 1),
)
# A code point no font maps: it draws the font's "missing glyph" box (.notdef).
_NOT_A_CHARACTER = "\U0010FFFF"
# Ink of these spans the line's height: accents above capitals, descenders, CJK ideographs.
_TALLEST = "ÅÉgjpqy|()[]张国"


def find_font(name: str = "auto") -> tuple[str, int]:
    """The font file (and face index) named by ``name``: a path, or ``auto`` for a Chinese-capable face."""
    if name != "auto":
        if not Path(name).is_file():
            raise OverlayError(f"the overlay font {name} does not exist")
        return name, 0
    for path, index in _KNOWN_FONTS:
        if Path(path).is_file():
            return path, index
    if shutil.which("fc-match"):
        found = subprocess.run(["fc-match", "-f", "%{file}\n%{index}", ":lang=zh:style=Bold"],
                               capture_output=True, text=True, check=False).stdout.split("\n")
        if len(found) == 2 and Path(found[0]).is_file() and _covers_chinese(found[0], int(found[1] or 0)):
            return found[0], int(found[1] or 0)
    raise OverlayError("no font for Chinese text is installed (run scripts/system-deps.sh, "
                       "or apt install fonts-noto-cjk)")


def _covers_chinese(path: str, index: int) -> bool:
    return not GlyphCache(path, index, 16).missing("张")


@dataclass(frozen=True)
class Glyph:
    """One character: coverage (0-255) of the letter and of letter plus outline, ``pad`` columns
    left of the pen position; ``advance`` is where the next character's pen goes."""

    fill: np.ndarray
    outline: np.ndarray
    advance: float
    pad: int


class GlyphCache:
    """Glyphs of one font at one pixel size, with an outline ``stroke`` pixels wide, all ``height`` tall."""

    def __init__(self, path: str, index: int, size: int) -> None:
        try:
            self.font = ImageFont.truetype(path, size, index=index)
        except OSError as exc:
            raise OverlayError(f"cannot load the overlay font {path}: {exc}") from exc
        # An outline of 1/12 em keeps counters (the holes in 0, 6, 8, 9) open in a bold face.
        self.stroke = max(1, round(size / 12))
        # Room for a glyph's ink left of its pen position, plus the outline.
        self.pad = self.stroke + math.ceil(size / 8)
        top, bottom = self.font.getbbox(_TALLEST, anchor="ls")[1::2]
        self._baseline = self.stroke - top
        self.height = bottom - top + 2 * self.stroke + 1 & ~1  # even, for the halved chroma rows
        self._glyphs: dict[str, Glyph] = {}
        self._inks: dict[tuple[str, tuple[int, int, int]], np.ndarray] = {}
        self._notdef = self.glyph(_NOT_A_CHARACTER).fill

    def glyph(self, char: str) -> Glyph:
        cached = self._glyphs.get(char)
        if cached is None:
            cached = self._glyphs[char] = self._render(char)
        return cached

    def ink(self, char: str, colour: tuple[int, int, int]) -> np.ndarray:
        """The glyph's letter in an RGB colour, premultiplied by its coverage (black where uncovered)."""
        cached = self._inks.get((char, colour))
        if cached is None:
            fill = self.glyph(char).fill[:, :, np.newaxis].astype(np.uint16)
            cached = self._inks[char, colour] = (fill * np.array(colour, np.uint16) // 255).astype(np.uint8)
        return cached

    def missing(self, text: str) -> str:
        """The characters of ``text`` that this font would draw as its missing-glyph box."""
        return "".join(dict.fromkeys(c for c in text if c.strip() and np.array_equal(self.glyph(c).fill, self._notdef)))

    def _render(self, char: str) -> Glyph:
        advance = self.font.getlength(char)
        size = (math.ceil(advance) + 2 * self.pad, self.height)
        masks = []
        for stroke in (0, self.stroke):
            image = Image.new("L", size)
            ImageDraw.Draw(image).text((self.pad, self._baseline), char, font=self.font, fill=255, anchor="ls",
                                       stroke_width=stroke, stroke_fill=255)
            masks.append(np.asarray(image))
        return Glyph(masks[0], masks[1], advance, self.pad)
