"""The two ends as the device and the dock run them: spool and archive, keys, clock, event log.

``serve`` is the device side of ``bodycam serve``, ``pull`` the dock side of ``bodycam dock``;
``sync.demo`` and the tests call them over a pseudo-terminal pair.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from firmware.eventlog import EventLog
from firmware.selftest import TIME_SET_FILE
from sync.archive import ArchiveSink
from sync.device import Device, DeviceStats
from sync.dock import Dock, PullReport
from sync.enroll import device_authenticator, dock_authenticator, enrolled_devices_dir, read_keys
from sync.link import LinkConfig, open_port
from sync.spool_source import SpoolSource, release_due


@dataclass(frozen=True)
class ClockPolicy:
    set_system_clock: bool = False     # only then does the dock's time change the system clock
    max_drift_ns: int = 2 * 10**9      # a clock this close to the dock's counts as set by it


class _EventLogHandler(logging.Handler):
    """Every refusal the device end logs also goes into the device's event log."""

    def __init__(self, events: EventLog) -> None:
        super().__init__(logging.WARNING)
        self.events = events

    def emit(self, record: logging.LogRecord) -> None:
        self.events.append("dock_refused", {"message": record.getMessage()})


def clock_setter(data_dir: Path, events: EventLog, policy: ClockPolicy) -> Callable[[int], int]:
    """SET_CLOCK on the device: record the offset; set the clock only if the policy allows."""
    def set_clock(dock_ns: int) -> int:
        device_ns = time.time_ns()
        applied = False
        if policy.set_system_clock:
            time.clock_settime_ns(time.CLOCK_REALTIME, dock_ns)
            applied = True
        events.append("clock_set", {"dock_ns": dock_ns, "device_ns": device_ns, "offset_ns": device_ns - dock_ns,
                                    "applied": applied})
        if applied or abs(device_ns - dock_ns) <= policy.max_drift_ns:
            # The self-test takes this file's age as "the dock vouched for the clock".
            (Path(data_dir) / TIME_SET_FILE).touch()
        return device_ns
    return set_clock


def serve(data_dir: Path, port_url: str, *, release_after_days: float = 0, clock: ClockPolicy = ClockPolicy(),
          stop: threading.Event | None = None, sessions: int | None = None,
          config: LinkConfig = LinkConfig()) -> DeviceStats:
    """Offer the spool to enrolled docks on ``port_url`` until ``stop`` (or ``sessions`` sessions)."""
    data_dir = Path(data_dir)
    events = EventLog(data_dir)
    for item_id in release_due(data_dir, release_after_days):
        events.append("released", {"item": item_id})
    source = SpoolSource(data_dir, release_after_days, event=events.append)
    handler = _EventLogHandler(events)
    logger = logging.getLogger("sync.device")
    logger.addHandler(handler)
    port = open_port(port_url)
    try:
        return Device(port, source, device_authenticator(data_dir), config=config,
                      set_clock=clock_setter(data_dir, events, clock)).serve(stop, sessions)
    finally:
        port.close()
        logger.removeHandler(handler)


def pull(archive: Path, port_url: str, *, progress: Callable[[int, int], None] | None = None,
         config: LinkConfig = LinkConfig(), patience: float = 30.0) -> PullReport:
    """Take everything an enrolled device offers into ``archive``, setting its clock from ours."""
    sink = ArchiveSink(archive, read_keys(enrolled_devices_dir(archive)), progress=progress)
    port = open_port(port_url)
    try:
        return Dock(port, sink, dock_authenticator(archive), config=config, clock=time.time_ns).pull(patience)
    finally:
        port.close()
