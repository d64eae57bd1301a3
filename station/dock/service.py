"""``bodycam-station dock``: watch the bays' ports and pull every docked device at the same time.

Ports are found by polling the configured globs (``/dev/serial/by-id/*``, ``/dev/ttyACM*`` …)
every ``POLL`` seconds: udev's events would need pyudev, which the station does not depend
on, and a glob twice a second costs nothing beside a transfer. A port that appears is a
docking: its bay gets a worker thread that pulls it exactly as ``bodycam-station pull``
does (the puller is handed in by ``station.services``, on the one opened station), except
that one thread reads every bay's port (``sync.link.PortHub``) and each bay's thread takes
whole messages from it. A port
that disappears ends its bay's pull (the copy under way stays partial; the next docking
resumes it). Each pull ends in one sentence in the bay's state and the log; a bay that
fails never stops the others. When told to stop, every pull is abandoned cleanly: no
receipt goes for an item not stored. Each pull's end is told to ``after_pull`` (the push to
the central store, which runs among the ``background`` jobs: never inside a bay's pull).
"""
from __future__ import annotations

import glob
import logging
import threading
from pathlib import Path
from typing import Callable, Sequence

from bodycam_errors import BodycamError
from bodycam_threads import OwnedThread
from station.dock.bays import Bay, bays_folder
from station.intake.pull import PullWatch
from sync import Abandoned, AuthError, LinkDown, PeerError, PortError
from sync.dock import PullReport
from sync.link import PortHub

log = logging.getLogger(__name__)
POLL = 0.5                # seconds between two looks for docked devices
STOP_SECONDS = 30.0       # how long a bay's worker may take to abandon its pull

Puller = Callable[[str, PullWatch, threading.Event, PortHub], PullReport]
Job = Callable[[threading.Event], None]     # runs beside the bays until the event is set


class DockService:
    """The bays of ``archive``: each port matching ``ports`` (globs) is a bay, pulled by ``pull``."""

    def __init__(self, archive: Path, ports: Sequence[str], pull: Puller, *, poll: float = POLL,
                 after_pull: Callable[[], None] | None = None, background: Sequence[Job] = ()) -> None:
        self.archive, self.ports, self.pull, self.poll = Path(archive), list(ports), pull, poll
        self.after_pull, self.background = after_pull, list(background)
        self.bays: dict[str, Bay] = {}
        self.workers: dict[str, OwnedThread] = {}
        self.stopping = threading.Event()
        self._present: set[str] = set()        # the ports seen at the last look
        self._arrived: set[str] = set()        # docked, their pull not started yet
        self._hub: PortHub | None = None       # reads every bay's port while running

    def run(self, stop: threading.Event) -> None:
        """Watch and pull until ``stop`` is set; then abandon every pull and return once all ended."""
        self._forget_old_bays()
        log.info("dock service watching %s", ", ".join(self.ports))
        self._hub = PortHub()
        jobs = [OwnedThread(job, f"dock job {n}", args=(self.stopping,)) for n, job in enumerate(self.background)]
        for job in jobs:
            job.start()
        try:
            while not stop.is_set():
                self._look()
                stop.wait(self.poll)
        finally:
            self.stopping.set()
            for bay in self.bays.values():
                bay.stop.set()
            try:
                for worker in [*self.workers.values(), *jobs]:
                    worker.join(STOP_SECONDS)
            finally:
                self._hub.close()

    def docked(self) -> set[str]:
        """The ports present now."""
        return {path for pattern in self.ports for path in glob.glob(pattern)}

    def _look(self) -> None:
        """Note the ports that came and went since the last look; start a pull for each docking."""
        present = self.docked()
        for port in self._present - present:          # pulled out
            self._arrived.discard(port)
            bay = self.bays[port]
            if port in self.workers:
                bay.stop.set()
            elif bay.state.state != "idle":
                bay.finish("idle", bay.state.result)
        self._arrived |= present - self._present
        self._present = present
        self.workers = {port: worker for port, worker in self.workers.items() if worker.is_alive()}
        for port in sorted(self._arrived - set(self.workers)):   # a bay still ending its last pull waits
            self._arrived.discard(port)
            bay = self.bays.get(port) or self.bays.setdefault(port, Bay(self.archive, port))
            bay.start()
            self.workers[port] = OwnedThread(self._pull_bay, f"bay {bay.state.bay}", args=(bay,))
            self.workers[port].start()

    def _pull_bay(self, bay: Bay) -> None:
        state, result = self._outcome(bay)
        bay.finish(state, result)
        (log.info if state == "done" else log.warning)("bay %s: %s", bay.state.bay, result)
        if self.after_pull is not None:
            self.after_pull()

    def _outcome(self, bay: Bay) -> tuple[str, str]:
        """The pull of ``bay``'s device, and how it ended: its state and one sentence."""
        try:
            report = self.pull(bay.state.port, bay, bay.stop, self._hub)
        except Abandoned:
            if self.stopping.is_set():
                return "idle", "stopped as the service shut down; the next docking resumes it"
            return "error", "the port vanished mid-transfer; the next docking resumes it"
        except (AuthError, PeerError) as exc:
            return "refused", f"refused: {exc}"
        except PortError as exc:
            return "error", f"the port failed or vanished ({exc}); the next docking resumes it"
        except LinkDown as exc:
            return "error", f"the device stopped answering or sent no valid frames ({exc})"
        except (BodycamError, OSError) as exc:
            return "error", f"the pull failed: {exc}"
        if report.failed:
            item, why = next(iter(report.failed.items()))
            return "refused", f"{len(report.failed)} item(s) refused, first {item}: {why}"
        offset = ("" if report.clock_offset_ns is None
                  else f", clock set (was {report.clock_offset_ns / 1e9:+.3f} s off)")
        return "done", (f"{len(report.items)} files, {report.bytes / 1e6:.2f} MB in {report.seconds:.1f} s, "
                        f"{len(report.resumed)} resumed{offset}")

    def _forget_old_bays(self) -> None:
        """The files of bays from an earlier run: this run writes its own."""
        for path in bays_folder(self.archive).glob("*.json"):
            path.unlink(missing_ok=True)
