"""The spool: the device's store of recordings, which recording only ever appends to.

Files are created with ``O_EXCL`` (an existing file is never opened for writing again),
written with ``O_APPEND``, made read-only on disk, and fsynced together with their
directory so that a power cut cannot lose a file that was reported written. There is no
delete here: space is only released later, by the dock-confirmed upload.
"""
from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

from capture import CaptureError
from evidence.files import create_append_only, sync_directory


class AppendOnlyFile:
    """A new file that can only grow; ``sync()`` makes what was written durable."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._fd = create_append_only(path)
        except FileExistsError as exc:
            raise CaptureError(f"refusing to overwrite {path}: recordings are append-only") from exc
        except OSError as exc:
            raise CaptureError(f"cannot create {path}: {exc.strerror}") from exc
        self.size = 0

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        while view:
            try:
                written = os.write(self._fd, view)
            except OSError as exc:
                raise CaptureError(f"cannot write {self.path}: {exc.strerror}") from exc
            view = view[written:]
        self.size += len(data)
        return len(data)

    def sync(self) -> None:
        try:
            os.fsync(self._fd)
        except OSError as exc:
            raise CaptureError(f"cannot sync {self.path}: {exc.strerror}") from exc

    def close(self) -> None:
        """Sync and close; safe to call twice."""
        if self._fd >= 0:
            try:
                self.sync()
            finally:
                os.close(self._fd)
                self._fd = -1


def new_session_dir(spool: Path, serial: str) -> tuple[str, Path]:
    """Create the folder of a new recording session in ``spool``: ``<UTC start>-<serial>-<random>``."""
    try:
        spool.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CaptureError(f"cannot create the spool {spool}: {exc.strerror}") from exc
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    session_id = f"{stamp}-{serial}-{secrets.token_hex(3)}"
    path = spool / session_id
    try:
        path.mkdir()
    except OSError as exc:
        raise CaptureError(f"cannot create the session folder {path}: {exc.strerror}") from exc
    sync_directory(spool)
    return session_id, path
