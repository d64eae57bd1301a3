"""Each bay's state, kept where the command line and the review page read it from another process.

A bay is one port the dock service watches (its name is the port's file name, e.g. the
``/dev/serial/by-id/`` link of a device). Its state is a small JSON file,
``<archive>/dock/bays/<bay>.json``, replaced atomically (a reader sees the old state or the
new, never a mix) at each change of state and at most every ``WRITE_EVERY`` seconds while
bytes flow. It is a screen, not evidence: it is not fsynced, and the service writes every
bay afresh when it starts.
"""
from __future__ import annotations

import json
import os
import re
import threading
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from evidence import EvidenceError
from evidence.keys import key_id
from evidence.paths import ArchiveDir
from evidence.records import SignedRecord, read_record
from sync.messages import Item

STATES = ("idle", "authenticating", "pulling", "verifying", "done", "refused", "error")
WRITE_EVERY = 0.5                   # seconds between two writes of a bay whose bytes are flowing
UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass
class BayState:
    """What a bay shows: the device in it, how far its pull is, and how the last one ended."""
    bay: str
    port: str
    state: str = "idle"
    device: str = ""                # the device's serial, from its signed records
    key_id: str = ""                # the key the device proved
    officer: str = ""               # police number of the officer carrying it
    files_done: int = 0
    files_total: int = 0
    bytes_done: int = 0
    bytes_total: int = 0
    rate: float = 0.0               # bytes per second since the device was authenticated
    seconds_left: float | None = None
    result: str = ""                # the last pull's outcome, one sentence
    updated_ns: int = 0


def bays_folder(archive: Path) -> Path:
    return ArchiveDir(archive).dock / "bays"


def bay_name(port: str) -> str:
    """The bay of ``port``: its file name, made safe as a file name of its own."""
    return UNSAFE.sub("_", Path(port).name) or "port"


def read_bays(archive: Path) -> list[BayState]:
    """Every bay's last written state, by bay name."""
    known = {f.name for f in fields(BayState)}
    states = []
    for path in sorted(bays_folder(archive).glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue                      # removed or replaced while we looked: next poll sees it
        states.append(BayState(**{k: v for k, v in data.items() if k in known}))
    return states


class Bay:
    """One bay's live state, written to its file; the watch (``station.intake.pull.PullWatch``) of its pull."""

    def __init__(self, archive: Path, port: str, clock=time.monotonic) -> None:
        self.folders = ArchiveDir(archive)
        self.path = bays_folder(archive) / f"{bay_name(port)}.json"
        self.state = BayState(bay_name(port), port)
        self.stop = threading.Event()       # set when the port vanishes or the service stops
        self._clock = clock
        self._lock = threading.Lock()
        self._written = self._began = 0.0
        self._stored_bytes = self._written_at_store = self._written_now = 0
        self.write()

    def start(self) -> None:
        """A device is docked: authentication begins; the counts of the last pull are cleared."""
        self.stop.clear()
        self._stored_bytes = self._written_at_store = self._written_now = 0
        self._change(state="authenticating", device="", key_id="", officer="", files_done=0, files_total=0,
                     bytes_done=0, bytes_total=0,
                     rate=0.0, seconds_left=None)

    def finish(self, state: str, result: str) -> None:
        self._change(state=state, result=result, rate=0.0, seconds_left=None)

    def authenticated(self, device_key: bytes) -> None:
        self._began = self._clock()
        self._change(state="pulling", key_id=key_id(device_key), **self._who(self._archived_identity(device_key)))

    def offered(self, items: list[Item]) -> None:
        self._change(files_total=len(items), bytes_total=sum(item.size for item in items))

    def verifying(self, item: Item) -> None:
        self._change(state="verifying")

    def stored(self, item: Item, record: SignedRecord | None) -> None:
        self._stored_bytes += item.size
        self._written_at_store = self._written_now
        self._change(state="pulling", files_done=self.state.files_done + 1, bytes_done=self._stored_bytes,
                     **self._who(record))

    def progress(self, files: int, nbytes: int) -> None:
        self._written_now = nbytes
        with self._lock:
            state = self.state
            state.bytes_done = self._stored_bytes + max(0, nbytes - self._written_at_store)
            elapsed = max(self._clock() - self._began, 1e-3)
            state.rate = nbytes / elapsed
            left = max(0, state.bytes_total - state.bytes_done)
            state.seconds_left = left / state.rate if state.rate > 0 else None
            due = self._clock() - self._written >= WRITE_EVERY
        if due:
            self.write()

    def write(self) -> None:
        """Replace the bay's file with its state (a temporary file renamed over it)."""
        with self._lock:
            self.state.updated_ns = time.time_ns()
            data = json.dumps(asdict(self.state), sort_keys=True).encode()
            self._written = self._clock()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_name(f".{self.path.name}.tmp")
            temporary.write_bytes(data)
            os.replace(temporary, self.path)

    def _archived_identity(self, device_key: bytes) -> SignedRecord | None:
        """The newest identity record this archive holds of the device, if it docked before."""
        records = sorted(self.folders.chain(key_id(device_key)).glob("identity-*.json"))
        try:
            return read_record(records[-1]) if records else None
        except EvidenceError:
            return None

    @staticmethod
    def _who(record: SignedRecord | None) -> dict[str, str]:
        """The device serial and officer a signed record names (nothing from records that name neither)."""
        officer = record.body.get("officer") if record is not None else None
        if not isinstance(officer, dict):
            return {}
        return {"device": str(record.body.get("device", "")), "officer": str(officer.get("police_number", ""))}

    def _change(self, **values: object) -> None:
        with self._lock:
            for name, value in values.items():
                setattr(self.state, name, value)
        self.write()
