"""The device context: what every part of ``bodycam`` shares, built once per process.

A command line builds one :class:`DeviceContext` from the configuration and hands it to the
part it runs (the service, the self-test, the watcher, provisioning, the recorder, the
offload). The context holds the checked configuration, the data directory (the one
``DataDir`` of the process), the event log (the one writer of ``events/``) and the typed
sections the parts read as a whole, so nothing re-reads the raw configuration for a path or
builds its own event log.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from evidence.paths import DataDir
from firmware.config import Config, load
from firmware.eventlog import EventLog


@dataclass(frozen=True)
class DockSettings:
    """``[dock]``: where the dock is served and what its receipts and its time may do."""

    port: str                   # "" when the service serves no link
    baudrate: int
    release_after_days: float   # a receipted video is freed this long after the receipt
    set_system_clock: bool      # only then does the dock's time change the system clock
    max_drift_ns: int           # a clock this close to the dock's counts as set by it ([clock] max_drift_seconds)


@dataclass(frozen=True)
class DeviceContext:
    """The configuration, the data directory and the event log of one ``bodycam`` process."""

    config: Config
    data_dir: DataDir
    events: EventLog
    dock: DockSettings


def device_context(config: Config) -> DeviceContext:
    """The context of ``config``: its data directory, an event log there, its typed sections."""
    data_dir = DataDir(Path(config["device"]["data_dir"]))
    dock = config["dock"]
    return DeviceContext(
        config=config, data_dir=data_dir, events=EventLog(data_dir),
        dock=DockSettings(port=dock["port"], baudrate=dock["baudrate"],
                          release_after_days=dock["release_after_days"], set_system_clock=dock["set_system_clock"],
                          max_drift_ns=config["clock"]["max_drift_seconds"] * 10**9))


def load_context(path: str | Path | None = None, data_dir: Path | None = None,
                 overrides: dict[str, dict] | None = None) -> DeviceContext:
    """Load the configuration at ``path`` (over the embedded default), with ``overrides`` and a
    ``data_dir`` given on the command line laid over it, and build its context."""
    config = load(path)
    overrides = {section: dict(keys) for section, keys in (overrides or {}).items()}
    if data_dir is not None:
        overrides.setdefault("device", {})["data_dir"] = str(data_dir)
    return device_context(config.with_overrides(overrides) if overrides else config)
