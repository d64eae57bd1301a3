"""Reading the device's event log: JSON lines, each naming the SHA-256 of the line before.

The writer is the device's (``firmware.eventlog``); the dock and any verifier only read, with
this module. The format is in docs/event-log.md.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evidence.paths import DataDir

GENESIS = "0" * 64
MAX_LINE_BYTES = 1 << 16


def log_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("events-*.jsonl"))


@dataclass
class Verification:
    """The events of a log in order, what breaks its chain, and lines cut short by a power cut.

    ``seq`` and ``prev`` are where the next line must chain to: the last complete line's
    ``seq`` and SHA-256 (-1 and 64 zeros before the first event; None where not known, for a
    file checked without the file before it).
    """

    records: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    torn: list[str] = field(default_factory=list)
    seq: int | None = -1
    prev: str | None = GENESIS

    @property
    def ok(self) -> bool:
        return not self.problems

    def check(self, name: str, data: bytes) -> Verification:
        """Go on with the chain through the bytes of one file called ``name``; returns self."""
        lines = data.split(b"\n")
        if lines.pop():
            self.torn.append(f"{name}: the last line is incomplete (power cut while writing)")
        for number, line in enumerate(lines, 1):
            where = f"{name} line {number}"
            try:
                record = json.loads(line)
            except ValueError:
                record = None
            if not (isinstance(record, dict) and isinstance(record.get("seq"), int)
                    and isinstance(record.get("prev"), str)):
                self.problems.append(f"{where}: not an event (a JSON object with 'seq' and 'prev')")
                record = None
            else:
                if self.prev is not None and record["prev"] != self.prev:
                    self.problems.append(f"{where}: 'prev' is not the SHA-256 of the line before")
                if self.seq is not None and record["seq"] != self.seq + 1:
                    self.problems.append(f"{where}: 'seq' is {record['seq']}, expected {self.seq + 1}")
                self.records.append(record)
            self.prev = hashlib.sha256(line).hexdigest()
            self.seq = record["seq"] if record is not None else None if self.seq is None else self.seq + 1
        return self


def verify(folders: DataDir) -> Verification:
    """Read every event of ``<data_dir>/events`` and check the chain: each line's ``prev`` and ``seq``."""
    result = Verification()
    for path in log_files(folders.events):
        result.check(path.name, path.read_bytes())
    return result
