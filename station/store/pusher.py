"""The push the dock service runs after each pull, in a thread of its own, so a bay's pull
completes locally whether the central store answers or not.

A pull that ends wakes the pusher (:meth:`Pusher.wake`); it pushes at once, once when the
service starts (what earlier runs left pending), and every ``every`` seconds besides, so that a
legal hold, a case link or a case closed at the desk reaches the store's locks without a pull. When the store is unreachable or refuses, the
push waits and tries again, each wait twice the last (from ``first_wait`` up to
``longest_wait``); the log says so in one warning sentence when the trouble starts, not a
traceback per attempt, and one sentence when the store takes the footage again.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from bodycam_errors import BodycamError
from station.store.store import PushReport

log = logging.getLogger(__name__)
EVERY = 900.0             # seconds between two pushes when no pull asks for one
FIRST_WAIT = 30.0         # seconds before the first retry …
LONGEST_WAIT = 3600.0     # … doubling up to an hour
POLL = 0.5                # seconds between two looks for a wake or a stop


class Pusher:
    """Runs ``push`` when woken, with back-off while it fails; ``push`` is handed the service's
    stop event and returns soon once it is set."""

    def __init__(self, push: Callable[[threading.Event], PushReport], *, first_wait: float = FIRST_WAIT,
                 longest_wait: float = LONGEST_WAIT, every: float = EVERY,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.push, self.first_wait, self.longest_wait, self.clock = push, first_wait, longest_wait, clock
        self.every = every
        self._woken = threading.Event()
        self._woken.set()                 # push what is pending once at the start
        self.failing: str | None = None   # the sentence of the trouble in course, if any
        self.failures = 0                 # pushes failed in a row

    def wake(self) -> None:
        """A pull ended: push soon (at once, unless a retry is already waiting its turn)."""
        self._woken.set()

    def run(self, stop: threading.Event) -> None:
        """Push when woken and retry with back-off until ``stop`` is set."""
        wait, due, last = self.first_wait, None, self.clock()
        while not stop.is_set():
            if self.failing is None and (self._woken.is_set() or self.clock() - last >= self.every):
                due = self.clock()
            self._woken.clear()
            if due is not None and self.clock() >= due:
                if self._attempt(stop):
                    wait, due, last = self.first_wait, None, self.clock()
                else:
                    due, wait = self.clock() + wait, min(wait * 2, self.longest_wait)
            stop.wait(POLL)

    def _attempt(self, stop: threading.Event) -> bool:
        try:
            report = self.push(stop)
        except (BodycamError, OSError) as exc:
            if self.failing is None:
                log.warning("the push to the central store failed (%s); the footage stays pending and the push is "
                            "retried, each wait twice the last, up to %.0f s", exc, self.longest_wait)
            self.failing = str(exc)
            self.failures += 1
            return False
        if self.failing is not None:
            log.info("the central store takes the footage again")
        self.failing, self.failures = None, 0
        log.info("central store: %d session(s) stored, %d object(s) sent, %d lock(s) extended",
                 len(report.sessions), len(report.uploaded), len(report.extended))
        return True
