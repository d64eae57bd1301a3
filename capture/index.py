"""The frame index: a sidecar file per segment telling the exact capture time of every frame.

One JSON object per line (format in ``docs/frame-index.md``), appended as the segment is
written and synced with each fragment, so the index is as complete as the video after a
power cut.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Iterator

from capture.spool import AppendOnlyFile


class IndexWriter:
    """Appends index lines for one segment; ``sync()`` makes them durable."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = AppendOnlyFile(path)
        self._pending: list[str] = []
        self._hash = hashlib.sha256()

    def add(self, record: dict[str, Any]) -> None:
        self._pending.append(json.dumps(record, ensure_ascii=False, separators=(",", ":")))

    def sync(self) -> None:
        if self._pending:
            data = ("\n".join(self._pending) + "\n").encode("utf-8")
            self._file.write(data)
            self._hash.update(data)
            self._pending.clear()
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
