"""Work on the central store done in the background, in a thread of its own: the dock
service's push (after each pull, so a bay's pull completes locally whether the store answers
or not) and the anchoring of the audit trail by a station that pushes nothing, such as one
that only serves the review page (its views and exports are audit entries too).

A :class:`StoreJob` runs once when it starts, when woken (:meth:`StoreJob.wake`: a pull
ended), and every ``every`` seconds besides, so that a legal hold, a case link or a case
closed at the desk reaches the store's locks without a pull. When the store is unreachable or
refuses, it waits and tries again, each wait twice the last (from ``first_wait`` up to
``longest_wait``); the log says so in one warning sentence when the trouble starts, not a
traceback per attempt, and one sentence when the store answers again.
"""
from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from bodycam_errors import BodycamError
from station.store.anchor import Checkpoint
from station.store.store import PushReport

log = logging.getLogger(__name__)
EVERY = 900.0             # seconds between two pushes when no pull asks for one
ANCHOR_EVERY = 300.0      # seconds between two anchorings of a station that pushes nothing
FIRST_WAIT = 30.0         # seconds before the first retry …
LONGEST_WAIT = 3600.0     # … doubling up to an hour
POLL = 0.5                # seconds between two looks for a wake or a stop

Done = TypeVar("Done")


class StoreJob(Generic[Done]):
    """Runs ``job`` when woken, every ``every`` seconds, and with back-off while it fails;
    ``job`` is handed the stop event and returns soon once it is set. ``what`` names the job
    in the warning and ``meanwhile`` what waits for it, ``recovered`` is said when it works
    again, ``said`` words a success (None: nothing to say)."""

    def __init__(self, job: Callable[[threading.Event], Done], *, what: str, meanwhile: str, recovered: str,
                 said: Callable[[Done], str | None], every: float = EVERY, first_wait: float = FIRST_WAIT,
                 longest_wait: float = LONGEST_WAIT, clock: Callable[[], float] = time.monotonic) -> None:
        self.job, self.what, self.meanwhile, self.recovered, self.said = job, what, meanwhile, recovered, said
        self.every, self.first_wait, self.longest_wait, self.clock = every, first_wait, longest_wait, clock
        self._woken = threading.Event()
        self._woken.set()                 # run once at the start (what earlier runs left pending)
        self.failing: str | None = None   # the sentence of the trouble in course, if any
        self.failures = 0                 # attempts failed in a row

    def wake(self) -> None:
        """Run soon (at once, unless a retry is already waiting its turn)."""
        self._woken.set()

    def run(self, stop: threading.Event) -> None:
        """Run when woken or due, and retry with back-off, until ``stop`` is set."""
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
            stop.wait(min(POLL, self.every))

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """The job in a thread of its own for the duration of the block."""
        stop = threading.Event()
        thread = threading.Thread(target=self.run, args=(stop,), name="store-job", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def _attempt(self, stop: threading.Event) -> bool:
        try:
            done = self.job(stop)
        except (BodycamError, OSError) as exc:
            if self.failing is None:
                log.warning("%s failed (%s); %s and it is tried again, each wait twice the last, up to %.0f s",
                            self.what, exc, self.meanwhile, self.longest_wait)
            self.failing = str(exc)
            self.failures += 1
            return False
        if self.failing is not None:
            log.info(self.recovered)
        self.failing, self.failures = None, 0
        if (sentence := self.said(done)) is not None:
            log.info(sentence)
        return True


def pusher(push: Callable[[threading.Event], PushReport], **timing: float) -> StoreJob[PushReport]:
    """The dock service's push after each pull (``timing``: ``every``, ``first_wait``, ``longest_wait``)."""
    return StoreJob(push, what="the push to the central store", meanwhile="the footage stays pending",
                    recovered="the central store takes the footage again", said=lambda report: (
                        f"central store: {len(report.sessions)} session(s) stored, {len(report.uploaded)} "
                        f"object(s) sent, {len(report.extended)} lock(s) extended"), **timing)


def anchorer(anchor: Callable[[], Checkpoint | None], every: float = ANCHOR_EVERY) -> StoreJob[Checkpoint | None]:
    """The anchoring of the audit trail every ``every`` seconds, and as often while it fails."""
    return StoreJob(lambda _stop: anchor(), what="anchoring the audit trail in the central store",
                    meanwhile="the entries wait in the station's journal",
                    recovered="the audit trail is anchored in the central store again",
                    said=lambda checkpoint: None if checkpoint is None else
                    f"audit trail anchored in the central store up to entry {checkpoint.last_seq}",
                    every=every, first_wait=every, longest_wait=every)
