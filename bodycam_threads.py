"""The one kind of thread bodycam starts: owned, reported on failure, joined with a check.

Modelled on gpiozero's ``GPIOThread`` and its ``ZombieThread`` error. An
:class:`OwnedThread` belongs to the object that starts it, which must stop and join it
(:meth:`OwnedThread.stop`): a join that times out raises :class:`ZombieThread` instead of
being forgotten, so a thread still running can never meet its successor (two offloads on
one serial port). Whatever escapes the target is logged with its traceback and handed to
the owner's ``on_error``, and kept as :attr:`OwnedThread.error`: a thread never dies
silently. Like ``bodycam_errors``, this module imports nothing else of ours, so every
package may use it.
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable

from bodycam_errors import BodycamError

log = logging.getLogger(__name__)


class ZombieThread(BodycamError, RuntimeError):
    """A thread did not end within the time its owner gave it."""


class OwnedThread(threading.Thread):
    """A daemon thread running ``target(*args)``; :attr:`stopping` is set when its owner asks it to end.

    ``stopping`` may be given, so that a target which takes a stop event (``serve(stop=...)``)
    is handed the very event :meth:`stop` sets.
    """

    def __init__(self, target: Callable[..., Any], name: str, args: tuple = (),
                 on_error: Callable[[Exception], None] | None = None,
                 stopping: threading.Event | None = None) -> None:
        super().__init__(name=name, daemon=True)
        self.stopping = stopping or threading.Event()
        self.error: Exception | None = None
        self._work, self._args, self._on_error = target, args, on_error

    def run(self) -> None:
        try:
            self._work(*self._args)
        except Exception as exc:
            self.error = exc
            log.exception("the %s thread failed", self.name)
            if self._on_error is not None:
                try:
                    self._on_error(exc)
                except Exception:
                    log.exception("the %s thread could not report its failure", self.name)

    def stop(self, timeout: float) -> None:
        """Ask the thread to end (set :attr:`stopping`) and join it; raises ZombieThread if it does not."""
        self.stopping.set()
        self.join(timeout)

    def join(self, timeout: float | None = None) -> None:
        """Wait for the thread; raises ZombieThread if it still runs after ``timeout``. Safe to call twice."""
        if self.is_alive():
            super().join(timeout)
            if self.is_alive():
                raise ZombieThread(f"the {self.name} thread did not stop within {timeout} s")
