"""Listings on the command line: a table a person reads, times in the station's zone, or with
``--json`` one JSON object a line for a program (the values as stored: times in ns since 1970)."""
from __future__ import annotations

import argparse
import json
import sys
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from station.words import labels, zone
from station.words.messages import _, language


@dataclass(frozen=True)
class Column:
    key: str
    header: str                                   # English; shown through the catalogue
    show: Callable[[Any, argparse.Namespace], str] = lambda value, args: "-" if value in (None, "") else str(value)


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true",
                        help=_("one JSON object a line (times in ns since 1970) instead of a table"))


def time_column(key: str, header: str) -> Column:
    return Column(key, header, lambda value, args: zone.shown(value, args.zone))


def label_column(key: str, header: str, kind: str) -> Column:
    """A code shown by its label in the user's language (``labels.label``)."""
    return Column(key, header, lambda value, args: "-" if value is None else labels.label(kind, value, language()))


def emit(rows: Iterable[dict[str, Any]], columns: Sequence[Column], args: argparse.Namespace) -> int:
    """Print the rows; returns how many."""
    rows = list(rows)
    if not rows and not args.json:
        print(_("(nothing found)"), file=sys.stderr)
        return 0
    if args.json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False, sort_keys=True))
        return len(rows)
    cells = [[_(column.header) for column in columns]]
    cells += [[column.show(row.get(column.key), args).replace("\n", " ") for column in columns] for row in rows]
    widths = [max(width(line[i]) for line in cells) for i in range(len(columns))]
    for line in cells:
        print("  ".join(text + " " * (wide - width(text)) for text, wide in zip(line, widths)).rstrip())
    return len(rows)


def width(text: str) -> int:
    """Columns a terminal gives the text: two for each wide (CJK) character."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)
