"""The one root of every error bodycam raises on purpose, and how errors reach a console.

Each package has its own base (``hw.HardwareError``, ``capture.CaptureError``,
``evidence.EvidenceError``, ``sync.LinkError`` …) that derives from :class:`BodycamError`
and, where it fits, from a builtin (``OSError``, ``ValueError``), so a caller may catch
either. This module imports nothing of ours, so every package may import it
(docs/architecture.md).
"""
from __future__ import annotations

import logging
import os
import threading

DEBUG_VARIABLE = "BODYCAM_DEBUG"      # =1: tracebacks and INFO lines on the console, as -v


class BodycamError(Exception):
    """Root of the errors raised by bodycam's own code."""


def debugging(verbose: bool = False) -> bool:
    """Whether the console shows tracebacks: ``-v`` given, or BODYCAM_DEBUG=1 in the environment."""
    return verbose or os.environ.get(DEBUG_VARIABLE) == "1"


class _ConsoleFormatter(logging.Formatter):
    """``prog: message``, one line; a failure's exception is named on the same line, and its
    traceback follows only when debugging."""

    def __init__(self, prog: str, verbose: bool) -> None:
        super().__init__(f"{prog}: %(message)s")
        self.prog, self.verbose = prog, verbose

    def format(self, record: logging.LogRecord) -> str:
        if self.verbose or not record.exc_info or record.exc_info[1] is None:
            return super().format(record)
        error = record.exc_info[1]
        return f"{self.prog}: {record.getMessage()}: {error or type(error).__name__}"


_console: logging.Handler | None = None


def console_logging(prog: str, verbose: bool = False) -> None:
    """Send every module's warnings, and a thread's failure, to stderr as one line each (at
    INFO and with tracebacks when debugging). Called again, it replaces its own handler."""
    global _console
    verbose = debugging(verbose)
    root = logging.getLogger()
    if _console is not None:
        root.removeHandler(_console)
    _console = logging.StreamHandler()
    _console.setFormatter(_ConsoleFormatter(prog, verbose))
    root.addHandler(_console)
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    threading.excepthook = _log_thread_failure


def _log_thread_failure(args: threading.ExceptHookArgs) -> None:
    """A thread not started as an ``OwnedThread`` that fails: logged like one, not printed raw."""
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "unnamed"
    logging.getLogger("bodycam_threads").error("the %s thread failed", name,
                                               exc_info=(args.exc_type, args.exc_value, args.exc_traceback))
