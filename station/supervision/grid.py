"""Tables in the reports' PDFs, drawn cell by cell: fpdf2's own ``table`` lays out every cell
with ``multi_cell`` and took about 6 ms a row, and even ``cell`` costs 8 times ``text``: too slow
for a unit's month of hundreds of devices. This wraps text by its glyph widths and draws boxes
and text directly."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

PAD = 1.0
BASELINE = 0.78        # of a line's height, from its top: where the text sits


def wrap(pdf: Any, text: str, width: float) -> list[str]:
    """``text`` in lines no wider than ``width`` (mm) in the current font, broken between characters."""
    if pdf.get_string_width(text) <= width:
        return [text]
    lines, line, used = [], "", 0.0
    for char in text:
        wide = pdf.get_string_width(char)
        if line and used + wide > width:
            lines.append(line)
            line, used = "", 0.0
        line, used = line + char, used + wide
    return lines + [line]


def grid(pdf: Any, widths: Sequence[float], rows: Sequence[Sequence[Any]], *, header: bool = True,
         size: float = 8.5, line: float = 4.6) -> None:
    """Rows of cells at the cursor, ``widths`` in mm; the first row shaded as the header (and
    repeated after a page break) unless ``header`` is False."""
    pdf.set_font(size=size)
    pdf.set_fill_color(232, 236, 241)
    pdf.set_draw_color(120, 120, 120)
    for index, values in enumerate(rows):
        cells = [wrap(pdf, str(value), width - 2 * PAD) for value, width in zip(values, widths)]
        height = line * max(len(cell) for cell in cells) + PAD
        below = line + PAD if header and index == 0 else 0       # the header stays with a row
        if pdf.will_page_break(height + below):
            pdf.add_page()
            if header and index:
                _row(pdf, widths, [wrap(pdf, str(value), width - 2 * PAD) for value, width in zip(rows[0], widths)],
                     line, line + PAD, True)
        _row(pdf, widths, cells, line, height, header and index == 0)
    pdf.set_fill_color(255, 255, 255)


def _row(pdf: Any, widths: Sequence[float], cells: list[list[str]], line: float, height: float, shaded: bool) -> None:
    x, y = pdf.l_margin, pdf.get_y()
    for width, lines in zip(widths, cells):
        pdf.rect(x, y, width, height, style="DF" if shaded else "D")
        for number, text in enumerate(lines):
            pdf.text(x + PAD, y + PAD / 2 + (number + BASELINE) * line, text)
        x += width
    pdf.set_xy(pdf.l_margin, y + height)
