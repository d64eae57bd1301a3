"""The frame index: a sidecar file per segment telling the exact capture time of every frame.

One JSON object per line (format in ``docs/frame-index.md``), appended as the segment is
written and synced with each fragment, so the index is as complete as the video after a
power cut.
"""
from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

from capture.spool import AppendOnlyFile


class IndexWriter:
    """Appends index lines for one segment; ``sync()`` makes them durable.

    The recording thread adds lines while the fsync thread syncs: a lock keeps each line whole
    and in order."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = AppendOnlyFile(path)
        self._pending: list[str] = []
        self._hash = hashlib.sha256()
        self._lock = threading.Lock()

    def add(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
        with self._lock:
            self._pending.append(line)

    def sync(self, first: Callable[[], None] = lambda: None) -> None:
        """Write the lines added so far and fsync them. ``first`` runs once they are taken and
        before they are written: the segment's own fsync, so that no line names a byte that
        is not yet durable. One thread at a time syncs (the fsync thread, then the closing one)."""
        with self._lock:
            lines, self._pending = self._pending, []
        first()
        if lines:
            data = ("\n".join(lines) + "\n").encode("utf-8")
            self._file.write(data)
            self._hash.update(data)
        self._file.sync()

    def close(self) -> None:
        self.sync()
        self._file.close()

    def digest(self) -> dict[str, Any]:
        """Name, size and SHA-256 of what was written, hashed on the way out."""
        return {"name": self.path.name, "size": self._file.size, "sha256": self._hash.hexdigest()}


def read_index(path: Path) -> Iterator[dict[str, Any]]:
    """The records of an index file; a last line cut short by a power cut is skipped."""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.endswith("\n"):
                return
            yield json.loads(line)
