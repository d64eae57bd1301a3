"""Bar charts of the usage report, drawn twice from one description: as SVG for the page (served
with it, no script, no library) and with fpdf2's own lines and boxes for the PDF."""
from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any

COLOURS = ("#2f6db5", "#d9822b", "#3a9c5b", "#c23b3b", "#7b5aa6", "#8c8c8c")
WIDTH, ROW, LABEL, GAP = 640, 22, 200, 4


@dataclass(frozen=True)
class Chart:
    """Horizontal bars: one row per (label, value); ``unit`` names what the values count."""

    title: str
    rows: list[tuple[str, float]]
    unit: str
    colour: str = COLOURS[0]

    @property
    def peak(self) -> float:
        return max([value for _, value in self.rows] + [1e-9])


def _figure(value: float) -> str:
    return f"{value:.1f}" if value != int(value) else str(int(value))


def svg(chart: Chart, chart_id: str) -> str:
    """The chart as an inline SVG element; every bar carries its label and value as text."""
    height = ROW * max(len(chart.rows), 1) + 30
    span = WIDTH - LABEL - 60
    opening = (f'<svg id="{escape(chart_id)}" class="chart" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" '
               f'height="{height}" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(chart.title)}">')
    title = f'<text x="0" y="16" font-size="14" font-weight="bold">{escape(chart.title)}（{escape(chart.unit)}）</text>'
    parts = [opening, title]
    for number, (label, value) in enumerate(chart.rows):
        top = 26 + number * ROW
        length = span * value / chart.peak
        parts.append(f'<g class="bar" data-label="{escape(label)}" data-value="{_figure(value)}">'
                     f'<text x="{LABEL - 6}" y="{top + 14}" font-size="12" text-anchor="end">{escape(label)}</text>'
                     f'<rect x="{LABEL}" y="{top}" width="{length:.1f}" height="{ROW - GAP}" fill="{chart.colour}"/>'
                     f'<text x="{LABEL + length + 4:.1f}" y="{top + 14}" font-size="12">{_figure(value)}</text></g>')
    return "".join(parts) + "</svg>"


def draw(pdf: Any, chart: Chart, width: float = 180) -> None:
    """The chart drawn at the PDF's cursor with fpdf2's primitives (the font set by the caller)."""
    row, label = 5.0, 48.0
    span = width - label - 14
    if pdf.will_page_break(row * len(chart.rows) + 10):     # the title stays with its bars
        pdf.add_page()
    pdf.set_font(size=10)
    pdf.cell(0, 7, f"{chart.title}（{chart.unit}）", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(size=7.5)
    red, green, blue = (int(chart.colour[i:i + 2], 16) for i in (1, 3, 5))
    left, top = pdf.l_margin, pdf.get_y()
    pdf.set_fill_color(red, green, blue)
    for number, (name, value) in enumerate(chart.rows):
        y, shown = top + number * row, name[:28]
        pdf.text(left + label - 2 - pdf.get_string_width(shown), y + row * 0.7, shown)
        length = span * value / chart.peak
        if length > 0:
            pdf.rect(left + label, y + 0.5, length, row - 1.5, style="F")
        pdf.text(left + label + length + 1, y + row * 0.7, _figure(value))
    pdf.set_fill_color(255, 255, 255)
    pdf.set_xy(left, top + row * len(chart.rows) + 3)
