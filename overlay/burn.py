"""The overlay: time, device, officer, unit, place and case burned into every frame.

What a frame costs is one masked copy of a small pre-rendered picture: the 8-byte words of the
frame that it draws on, found once per change, overwritten or AND-ed and OR-ed in a few NumPy
passes. That picture changes only when its text does: once a second for the clock,
and then only the characters that changed are re-assembled from cached glyphs and converted
to the frame's colour format. Text is opaque where drawn: a white (or coloured) letter inside a
black outline, readable on any background and still sharp after H.264. Scene that the outlines
of neighbouring letters enclose (between 1 and 3, inside the 2's curve) is blacked out too: on a
bright picture such a white speck ringed in black looks exactly like part of a letter.

The time drawn on a frame is that frame's own capture time (``Frame.wall_ns``, the same as in
the frame index), never the time it was drawn. It is always drawn: a clock nobody vouches for
is marked as such beside the time (``unverified_mark``), and only a time that is certainly
wrong, before ``not_before`` (the firmware's build date), is replaced by ``CLOCK NOT SET``.
"""
from __future__ import annotations

import math
import re
from itertools import accumulate
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Mapping, NamedTuple, Protocol

import numpy as np

from overlay import OverlayError
from overlay.font import GlyphCache, find_font
from overlay.status import OverlayStatus, Status

Colour = tuple[int, int, int]  # RGB
WHITE: Colour = (255, 255, 255)
RED: Colour = (255, 40, 40)
YELLOW: Colour = (255, 255, 0)
POSITIONS = ("top-left", "top-right", "bottom-left", "bottom-right")
PIXEL_FORMATS = ("i420", "bgr")
ISO_8601 = "%Y-%m-%dT%H:%M:%S%:z"
_SEPARATOR = "  "
CLOCK_NOT_SET = "CLOCK NOT SET"
UNVERIFIED_MARK = "时间未校准 / UNVERIFIED"
_UTC_OFFSET = re.compile(r"^([+-])(\d\d):(\d\d)$")


@dataclass(frozen=True)
class OverlaySettings:
    """``size`` is the font size in percent of the picture height; ``utc_offset`` is ``local``
    (the system's time zone) or ``+HH:MM``/``-HH:MM``; ``time_format`` is a strftime pattern
    in which ``%:z`` is the offset with a colon. ``unverified_mark`` follows the time while the
    clock is not vouched for; a capture time before ``not_before`` (seconds since the epoch)
    is certainly wrong and shows as ``CLOCK NOT SET``."""

    position: str = "top-left"
    size: float = 3.0
    time_format: str = ISO_8601
    utc_offset: str = "local"
    font: str = "auto"
    identity: Mapping[str, str] = field(default_factory=dict)
    unverified_mark: str = UNVERIFIED_MARK
    not_before: int = 0


class _Frame(Protocol):
    image: np.ndarray
    wall_ns: int


class Overlay:
    """Draws onto frames of ``width`` x ``height`` in ``pixel_format`` (``i420`` or ``bgr``).

    ``settings.identity`` gives ``device``, ``police_number``, ``officer``, ``unit_number`` and
    ``unit`` (as in the frame index); ``status`` the live place, clock trust, case and recording.
    Refuses (``OverlayError``) an identity the font cannot draw, before anything is recorded.
    """

    def __init__(self, width: int, height: int, settings: OverlaySettings,
                 status: OverlayStatus | None = None, pixel_format: str = "i420") -> None:
        if settings.position not in POSITIONS or pixel_format not in PIXEL_FORMATS:
            raise ValueError(f"overlay: position must be one of {POSITIONS}, pixel_format one of {PIXEL_FORMATS}")
        self.width, self.height, self.settings, self.pixel_format = width, height, settings, pixel_format
        self.status = status or OverlayStatus()
        self.glyphs = GlyphCache(*find_font(settings.font), size=max(8, round(height * settings.size / 100)))
        # Every ASCII glyph rendered now, before recording, so no frame waits for Pillow later.
        self.glyphs.missing("".join(map(chr, range(32, 127))) + "●")
        texts = {key.replace("_", " "): settings.identity.get(key, "")
                 for key in ("device", "police_number", "officer", "unit_number", "unit")}
        for name, text in {**texts, "unverified-clock mark": settings.unverified_mark}.items():
            missing = self.glyphs.missing(text)
            if missing:
                raise OverlayError(f"the overlay font {self.glyphs.font.getname()[0]} cannot draw "
                                   f"{missing!r} of the {name}")
        self._zone = _utc_offset(settings.utc_offset)
        self._target: _Target = _I420Target() if pixel_format == "i420" else _BGRTarget()
        self._lines: list[_Line] = []
        self._second: int | None = None
        self._shown: Status | None = None
        self._boxes: dict[str, tuple[int, int, int, int]] = {}
        self._place: tuple[slice, slice, slice, slice] | None = None
        self._origin = (0, 0)
        self._canvas_width = 0

    def __call__(self, frame: _Frame) -> None:
        """The recorder's frame filter: draw onto ``frame.image`` for its capture time."""
        self.draw(frame.image, frame.wall_ns)

    def draw(self, image: np.ndarray, wall_ns: int) -> None:
        """Burn the overlay into ``image`` (in place) showing the time ``wall_ns`` (ns since the epoch)."""
        second, status = wall_ns // 1_000_000_000, self.status.current
        if second != self._second or status is not self._shown:
            self._refresh(second, status)
        if self._place is not None:
            self._target.paste(image, self.width, self.height, *self._place)

    def boxes(self) -> dict[str, tuple[int, int, int, int]]:
        """Where each field was last drawn: name -> (x, y, width, height) in the frame.

        Fields: ``time`` (or ``clock`` when ``CLOCK NOT SET`` replaces it), ``unverified`` (the
        mark of a clock nobody vouches for), ``recording``, ``device``, ``police_number``,
        ``officer``, ``unit_number``, ``unit``, ``location``, ``case``."""
        return dict(self._boxes)

    def format_time(self, second: int) -> str:
        """The clock text for a whole second since the epoch, in the configured offset and format."""
        when = datetime.fromtimestamp(second, self._zone or timezone.utc)
        if self._zone is None:
            when = when.astimezone()
        offset = when.strftime("%z")
        return when.strftime(self.settings.time_format.replace("%:z", f"{offset[:3]}:{offset[3:]}"))

    def _fields(self, second: int, status: Status) -> list[list[tuple[str, str, Colour]]]:
        who = self.settings.identity
        if second < self.settings.not_before:
            clock = [("clock", CLOCK_NOT_SET, YELLOW)]
        else:
            clock = [("time", self.format_time(second), WHITE)]
            if not status.clock_trusted:
                clock.append(("unverified", self.settings.unverified_mark, YELLOW))
        lines = [clock + ([("recording", "● REC", RED)] if status.recording else []),
                 [(key, who[key], WHITE) for key in ("device", "police_number", "officer") if who.get(key)],
                 [(key, who[key], WHITE) for key in ("unit_number", "unit") if who.get(key)],
                 [("location", _location_text(status.location), WHITE)]]
        if status.case_number:
            lines.append([("case", f"CASE {status.case_number}", WHITE)])
        return [line for line in lines if line]

    def _refresh(self, second: int, status: Status) -> None:
        self._second, self._shown = second, status
        fields = self._fields(second, status)
        if len(fields) != len(self._lines):
            self._lines = [_Line(self.glyphs) for _ in fields]
        old_widths = [line.width for line in self._lines]
        dirty = [line.set(content) for line, content in zip(self._lines, fields)]
        if [line.width for line in self._lines] != old_widths or self._place is None:
            self._lay_out()
            dirty = [(0, line.width) for line in self._lines]
        boxes = {}
        for row, (line, columns) in enumerate(zip(self._lines, dirty)):
            top, left = row * self.glyphs.height, self._left(line)
            if columns is not None:
                self._target.put(top, left + columns[0], *line.picture(*columns))
            for name, (start, end) in line.fields.items():
                boxes[name] = (self._origin[0] + left + start, self._origin[1] + top, end - start, self.glyphs.height)
        self._boxes = boxes

    def _left(self, line: "_Line") -> int:
        """Column of a line in the overlay's picture: flush left, or flush right for *-right."""
        return self._canvas_width - line.width if self.settings.position.endswith("right") else 0

    def _lay_out(self) -> None:
        """Place the overlay's picture anew (a line changed width, or lines came or went)."""
        line_height = self.glyphs.height
        width, height = max(line.width for line in self._lines), line_height * len(self._lines)
        self._target.allocate(height, width)
        self._canvas_width = width
        margin = line_height // 2 & ~1
        x = margin if self.settings.position.endswith("left") else (self.width - margin - width) & ~1
        y = margin if self.settings.position.startswith("top") else (self.height - margin - height) & ~1
        self._origin = (x, y)
        # The part of the picture inside the frame (a small frame clips a large overlay).
        x0, y0 = max(x, 0), max(y, 0)
        x1, y1 = min(x + width, self.width), min(y + height, self.height)
        self._place = None if x1 <= x0 or y1 <= y0 else (
            slice(y0, y1), slice(x0, x1), slice(y0 - y, y1 - y), slice(x0 - x, x1 - x))


class _Line:
    """One line of text as pictures: ``rgb`` (letters, premultiplied by their coverage),
    ``outline`` (coverage of letters plus outline), assembled from cached glyphs, and ``mask``
    (the pixels drawn: letters, outline and the scene the outline encloses)."""

    def __init__(self, glyphs: GlyphCache) -> None:
        self.glyphs = glyphs
        self._fields: list[tuple[str, str, Colour]] = []
        self.content: list[tuple[str, Colour]] = []
        self.fields: dict[str, tuple[int, int]] = {}
        self.width = 0
        self._pens: list[int] = []
        self.rgb = np.zeros((glyphs.height, 0, 3), np.uint8)
        self.outline = np.zeros((glyphs.height, 0), np.uint8)
        self.mask = np.zeros((glyphs.height, 0), bool)

    def set(self, fields: list[tuple[str, str, Colour]]) -> tuple[int, int] | None:
        """Show ``fields`` (name, text, colour); returns the even column range that changed, or None."""
        if fields == self._fields:
            return None
        self._fields = fields
        content: list[tuple[str, Colour]] = []
        spans: dict[str, tuple[int, int]] = {}
        for name, text, colour in fields:
            if content:
                content += [(c, colour) for c in _SEPARATOR]
            spans[name] = (len(content), len(content) + len(text))
            content += [(c, colour) for c in text]
        pad, glyph = self.glyphs.pad, self.glyphs.glyph
        glyphs = [glyph(c) for c, _ in content]
        pens = [pad + round(a) for a in accumulate((g.advance for g in glyphs), initial=0.0)]
        width = pens[-1] + pad + 1 & ~1
        if width == self.width and pens == self._pens:
            # Same places: only the changed characters' columns are cleared and drawn again
            # (the clock's new second is one or two digits). A glyph spans pen - pad to
            # pen - pad + its width; the old glyph's span is cleared as well as the new one's.
            changed = [(pens[j] - pad, pens[j] - pad + max(g.fill.shape[1], glyph(o[0]).fill.shape[1]))
                       for j, (new, o, g) in enumerate(zip(content, self.content, glyphs)) if new != o]
            start = max(0, min((a for a, _ in changed), default=0)) & ~1
            end = min(width, max((b for _, b in changed), default=0) + 1 & ~1)
        else:
            start, end = 0, width
            self.rgb = np.zeros((self.glyphs.height, width, 3), np.uint8)
            self.outline = np.zeros((self.glyphs.height, width), np.uint8)
            self.mask = np.zeros((self.glyphs.height, width), bool)
        self.content, self._pens, self.width = content, pens, width
        self.fields = {name: (pens[a] - pad // 2, pens[b] + pad // 2) for name, (a, b) in spans.items()}
        if start >= end:  # the same text under other field names
            return None
        self.rgb[:, start:end] = 0
        self.outline[:, start:end] = 0
        for (char, colour), pen, g in zip(content, pens, glyphs):
            if pen - pad < end and pen - pad + g.fill.shape[1] > start:
                self._blit(char, colour, pen, start, end)
        # A pocket of enclosed scene can reach past the redrawn glyphs, into a neighbour's columns.
        mask = _enclosed_filled(self.outline >= 128)
        changed = np.flatnonzero((mask != self.mask).any(axis=0))
        self.mask = mask
        if changed.size:
            start, end = min(start, changed[0] & ~1), max(end, changed[-1] + 2 & ~1)
        return start, end

    def _blit(self, char: str, colour: Colour, pen: int, start: int, end: int) -> None:
        """Draw a glyph at ``pen``, only within the columns ``start:end``."""
        glyph = self.glyphs.glyph(char)
        left = pen - glyph.pad
        lo, hi = max(left, start), min(left + glyph.fill.shape[1], end)
        if hi <= lo:
            return
        cut = slice(lo - left, hi - left)
        np.maximum(self.outline[:, lo:hi], glyph.outline[:, cut], out=self.outline[:, lo:hi])
        np.maximum(self.rgb[:, lo:hi], self.glyphs.ink(char, colour)[:, cut], out=self.rgb[:, lo:hi])

    def picture(self, start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
        """The columns ``start:end``: RGB values and the mask of pixels that are drawn."""
        return self.rgb[:, start:end], self.mask[:, start:end]


def _enclosed_filled(drawn: np.ndarray) -> np.ndarray:
    """``drawn`` (bool) plus every pixel it encloses, also through a gap of up to 2 pixels (which
    H.264 blurs shut), so no scene inside a line's outline can pass for part of a letter."""
    free = ~_dilated(drawn)
    # Scene is outside when it connects (4-neighbours) to the picture's edge. Each free pixel
    # joins its run along the row to its run down the column; the outside grows over these
    # pairs of runs (a few passes over the pairs) instead of pixel by pixel.
    row_runs, column_runs = _runs(free), _runs(free.T).T
    row_of, column_of = row_runs[free], column_runs[free]
    reached_rows = np.zeros(row_of.max(initial=0) + 1, bool)
    reached_columns = np.zeros(column_of.max(initial=0) + 1, bool)
    for edge in (np.s_[0, :], np.s_[-1, :], np.s_[:, 0], np.s_[:, -1]):
        reached_rows[row_runs[edge]] = True
    reached_rows[0] = False  # label 0 is the drawn pixels
    count = 0
    while count != (count := np.count_nonzero(reached_rows)):
        reached_columns[column_of[reached_rows[row_of]]] = True
        reached_rows[row_of[reached_columns[column_of]]] = True
    return drawn | ~_dilated(reached_rows[row_runs])


def _runs(free: np.ndarray) -> np.ndarray:
    """Each run of ``free`` pixels along a row numbered (from 1, all rows in turn); 0 elsewhere."""
    starts = free.copy()
    starts[:, 1:] &= ~free[:, :-1]
    return np.cumsum(starts, axis=None, dtype=np.int32).reshape(free.shape) * free


def _dilated(mask: np.ndarray) -> np.ndarray:
    """``mask`` grown by one pixel in all eight directions (3x3), inside its own bounds."""
    wide = mask.copy()
    wide[:, 1:] |= mask[:, :-1]
    wide[:, :-1] |= mask[:, 1:]
    out = wide.copy()
    out[1:] |= wide[:-1]
    out[:-1] |= wide[1:]
    return out


class _Stencil:
    """One plane of the overlay's picture as two arrays: ``keep`` (0 where drawn, 255 elsewhere)
    and ``ink`` (the drawn value, 0 elsewhere)."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.keep = np.full(shape, 255, np.uint8)
        self.ink = np.zeros(shape, np.uint8)

    def put(self, rows: slice, cols: slice, values: np.ndarray, mask: np.ndarray) -> None:
        if values.ndim > mask.ndim:
            mask = mask[..., np.newaxis]
        self.keep[rows, cols] = np.where(mask, 0, 255)
        self.ink[rows, cols] = np.where(mask, values, 0)


class _Plane(NamedTuple):
    """Part of one plane of the overlay's picture and where it goes: the plane starts at byte
    ``base`` of the frame, its rows ``stride`` bytes apart; the part's top-left byte is at row
    ``top``, byte ``left`` of the plane."""

    keep: np.ndarray
    ink: np.ndarray
    base: int
    stride: int
    top: int
    left: int


class _Paste:
    """The words of a frame that the overlay draws on, found once each time its picture changes.
    A frame then costs a few passes over only those words (about 8,000 of 8 bytes for the default
    overlay on 1080p I420): words wholly drawn are overwritten, the others AND-ed with what to
    keep and OR-ed with the ink. Copying the overlay's rectangle row by row would cost a NumPy
    loop per row and plane, and that, not the bytes, is what a frame's paste spent its time on.

    A word is 8 bytes when every row of every plane starts at a multiple of 8 (widths that are
    multiples of 16), else the largest size for which they do, down to single bytes."""

    def __init__(self, frame_bytes: int, planes: list[_Plane]) -> None:
        common = math.gcd(frame_bytes, *(n for plane in planes for n in (plane.base, plane.stride)))
        size = min(8, common & -common)
        self.word = np.dtype(f"u{size}")
        at, keeps, inks = [], [], []
        for plane in planes:
            phase = plane.left % size
            height, width = plane.keep.shape
            padded = (phase + width + size - 1) // size * size
            keep = np.full((height, padded), 255, np.uint8)
            ink = np.zeros((height, padded), np.uint8)
            keep[:, phase:phase + width], ink[:, phase:phase + width] = plane.keep, plane.ink
            keep, ink = keep.view(self.word), ink.view(self.word)
            rows, columns = np.nonzero(keep != np.iinfo(self.word).max)
            first = (plane.base + (plane.top + np.arange(height)) * plane.stride + plane.left - phase) // size
            at.append(first[rows] + columns)
            keeps.append(keep[rows, columns])
            inks.append(ink[rows, columns])
        at, keep, ink = np.concatenate(at), np.concatenate(keeps), np.concatenate(inks)
        whole = keep == 0
        self.whole_at, self.whole_ink = at[whole], ink[whole]
        self.part_at, self.part_keep, self.part_ink = at[~whole], keep[~whole], ink[~whole]
        self._part = np.empty(self.part_at.size, self.word)

    def __call__(self, image: np.ndarray) -> None:
        words = image.reshape(-1).view(self.word)
        words[self.whole_at] = self.whole_ink
        np.take(words, self.part_at, out=self._part, mode="clip")
        np.bitwise_and(self._part, self.part_keep, out=self._part)
        np.bitwise_or(self._part, self.part_ink, out=self._part)
        words[self.part_at] = self._part


class _Target:
    """The overlay's picture in a frame's own format, with its mask; pasted onto every frame."""

    _paste: _Paste | None = None

    def allocate(self, height: int, width: int) -> None:
        raise NotImplementedError

    def put(self, top: int, left: int, rgb: np.ndarray, mask: np.ndarray) -> None:
        """Write RGB pixels and their mask (True where drawn) at (top, left) of the picture (all even)."""
        raise NotImplementedError

    def paste(self, image: np.ndarray, width: int, height: int,
              rows: slice, cols: slice, src_rows: slice, src_cols: slice) -> None:
        """Paste the picture's part ``src_rows, src_cols`` onto ``rows, cols`` of a frame."""
        self._check(image, width, height)
        if self._paste is None:
            self._paste = _Paste(image.nbytes, self._planes(width, height, rows, cols, src_rows, src_cols))
        self._paste(image)

    def _check(self, image: np.ndarray, width: int, height: int) -> None:
        raise NotImplementedError

    def _planes(self, width: int, height: int, rows: slice, cols: slice, src_rows: slice,
                src_cols: slice) -> list[_Plane]:
        raise NotImplementedError


class _BGRTarget(_Target):
    def allocate(self, height: int, width: int) -> None:
        self.bgr = _Stencil((height, width, 3))
        self._paste = None

    def put(self, top: int, left: int, rgb: np.ndarray, mask: np.ndarray) -> None:
        h, w = mask.shape
        self.bgr.put(slice(top, top + h), slice(left, left + w), rgb[:, :, ::-1], mask)
        self._paste = None

    def _check(self, image: np.ndarray, width: int, height: int) -> None:
        if image.shape != (height, width, 3) or not image.flags.c_contiguous:
            raise ValueError(f"overlay: expected a contiguous BGR frame of {width}x{height}, got shape {image.shape}")

    def _planes(self, width: int, height: int, rows: slice, cols: slice, src_rows: slice,
                src_cols: slice) -> list[_Plane]:
        keep, ink = self.bgr.keep[src_rows, src_cols], self.bgr.ink[src_rows, src_cols]
        h, w = keep.shape[:2]
        return [_Plane(keep.reshape(h, w * 3), ink.reshape(h, w * 3), 0, width * 3, rows.start, cols.start * 3)]


class _I420Target(_Target):
    def allocate(self, height: int, width: int) -> None:
        self.y = _Stencil((height, width))
        self.u = _Stencil((height // 2, width // 2))
        self.v = _Stencil((height // 2, width // 2))
        self._paste = None

    def put(self, top: int, left: int, rgb: np.ndarray, mask: np.ndarray) -> None:
        h, w = mask.shape
        rows, cols = slice(top // 2, (top + h) // 2), slice(left // 2, (left + w) // 2)
        y, u, v = _rgb_to_i420(rgb)
        self.y.put(slice(top, top + h), slice(left, left + w), y, mask)
        # A chroma sample is replaced where any of its four luma pixels is drawn.
        chroma_mask = mask[0::2, 0::2] | mask[1::2, 0::2] | mask[0::2, 1::2] | mask[1::2, 1::2]
        self.u.put(rows, cols, u, chroma_mask)
        self.v.put(rows, cols, v, chroma_mask)
        self._paste = None

    def _check(self, image: np.ndarray, width: int, height: int) -> None:
        if image.shape != (height * 3 // 2, width) or not image.flags.c_contiguous:
            raise ValueError(f"overlay: expected a contiguous I420 frame of {width}x{height}, got shape {image.shape}")

    def _planes(self, width: int, height: int, rows: slice, cols: slice, src_rows: slice,
                src_cols: slice) -> list[_Plane]:
        luma = width * height
        planes = [_Plane(self.y.keep[src_rows, src_cols], self.y.ink[src_rows, src_cols], 0, width,
                         rows.start, cols.start)]
        half = [slice(s.start // 2, s.stop // 2) for s in (rows, cols, src_rows, src_cols)]
        for stencil, base in ((self.u, luma), (self.v, luma * 5 // 4)):
            planes.append(_Plane(stencil.keep[half[2], half[3]], stencil.ink[half[2], half[3]], base, width // 2,
                                 half[0].start, half[1].start))
        return planes


def _rgb_to_i420(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Y, U and V planes of an RGB picture of even size: BT.601 video range in 20-bit fixed point,
    each chroma sample from the top-left pixel of its 2x2 block (bit for bit what OpenCV's
    RGB2YUV_I420 gives, which the overlay used before; here without loading OpenCV)."""
    r, g, b = (rgb[:, :, channel].astype(np.int32) for channel in range(3))
    y = (269484 * r + 528482 * g + 102760 * b + (16 << 20) + (1 << 19)) >> 20
    r, g, b = r[0::2, 0::2], g[0::2, 0::2], b[0::2, 0::2]
    u = (-155188 * r - 305135 * g + 460324 * b + (128 << 20) + (1 << 19)) >> 20
    v = (460324 * r - 385875 * g - 74448 * b + (128 << 20) + (1 << 19)) >> 20
    return y.astype(np.uint8), u.astype(np.uint8), v.astype(np.uint8)


def _utc_offset(text: str) -> timezone | None:
    """``local`` -> None (the system's zone, looked up per second); ``+08:00`` -> a fixed zone."""
    if text == "local":
        return None
    match = _UTC_OFFSET.match(text)
    if match is None or int(match[2]) > 14 or int(match[3]) > 59:
        raise ValueError(f"overlay: utc_offset must be local or +HH:MM / -HH:MM, got {text!r}")
    sign = -1 if match[1] == "-" else 1
    return timezone(sign * timedelta(hours=int(match[2]), minutes=int(match[3])))


def _location_text(location: tuple[float, float] | None) -> str:
    if location is None:
        return "NO GPS"
    latitude, longitude = location
    return f"{abs(latitude):.5f}{'N' if latitude >= 0 else 'S'} {abs(longitude):.5f}{'E' if longitude >= 0 else 'W'}"
