"""The audit trail anchored every few minutes by a station that pushes nothing, such as one
that only serves the review page (``bodycam-station web``): its views and exports are audit
entries too, and reach the bucket this way rather than at a push (:mod:`station.store.anchor`).

The anchoring runs in a thread of its own, once when it starts and then every ``every``
seconds. When the store is unreachable or refuses, the log says so in one warning sentence
when the trouble starts, not a traceback per attempt, and one sentence when it anchors again.
"""
from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator

from bodycam_errors import BodycamError
from station.store.anchor import Checkpoint

log = logging.getLogger(__name__)
EVERY = 300.0             # seconds between two anchorings


class Anchorer:
    """Runs ``anchor`` now and every ``every`` seconds until stopped."""

    def __init__(self, anchor: Callable[[], Checkpoint | None], every: float = EVERY) -> None:
        self.anchor, self.every = anchor, every
        self.failing: str | None = None   # the sentence of the trouble in course, if any
        self.failures = 0                 # attempts failed in a row

    def run(self, stop: threading.Event) -> None:
        """Anchor, then again every ``every`` seconds, until ``stop`` is set."""
        while not stop.is_set():
            self._attempt()
            stop.wait(self.every)

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """The anchoring in a thread of its own for the duration of the block."""
        stop = threading.Event()
        thread = threading.Thread(target=self.run, args=(stop,), name="anchorer", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def _attempt(self) -> None:
        try:
            checkpoint = self.anchor()
        except (BodycamError, OSError) as exc:
            if self.failing is None:
                log.warning("anchoring the audit trail in the central store failed (%s); it is tried again every "
                            "%.0f s", exc, self.every)
            self.failing = str(exc)
            self.failures += 1
            return
        if self.failing is not None:
            log.info("the audit trail is anchored in the central store again")
        self.failing, self.failures = None, 0
        if checkpoint is not None:
            log.info("audit trail anchored in the central store up to entry %d", checkpoint.last_seq)
