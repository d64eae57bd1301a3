"""Progress of long work (rebuild, verify, export make, purge) on stderr: shown at a terminal or
with ``--progress``, silent in a pipe, so that stdout stays what a script parses."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from station.words.messages import _

Progress = Callable[[int, int, str], None]      # (done, total, what is being done now)


def add_progress(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--progress", action="store_true", default=None,
                        help=_("show progress on stderr even when it is not a terminal (at one it is shown anyway)"))


def meter(args: argparse.Namespace, doing: str) -> Progress | None:
    """A progress line for ``doing`` (already in the user's language), or None when it is not shown."""
    if not (args.progress or sys.stderr.isatty()):
        return None
    terminal = sys.stderr.isatty()

    def show(done: int, total: int, what: str) -> None:
        line = f"{doing} {done}/{total} {what}"
        end = "\n" if not terminal or done == total else ""
        print(f"\r\x1b[K{line}" if terminal else line, end=end, file=sys.stderr, flush=True)

    return show
