"""``bodycam-station pull``: take everything an enrolled device offers into the archive."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from evidence.keys import read_keys
from evidence.paths import ArchiveDir
from station.archive import ArchiveSink
from station.db import connect, database_url
from station.enroll import dock_authenticator
from station.witness import Witness, ensure_schema
from sync.dock import Dock, PullReport
from sync.link import LinkConfig, open_port


def open_witness(archive: Path, url: str | None = None) -> Witness:
    """The station's witness of its devices' chains, in the station database (``station.db``)."""
    engine = connect(database_url(archive, url))
    ensure_schema(engine)
    return Witness(engine)


def pull(archive: Path, port_url: str, *, progress: Callable[[int, int], None] | None = None,
         config: LinkConfig = LinkConfig(), patience: float = 30.0) -> PullReport:
    """Take everything an enrolled device offers into ``archive``, setting its clock from ours."""
    sink = ArchiveSink(archive, read_keys(ArchiveDir(archive).devices), progress=progress,
                       witness=open_witness(archive))
    port = open_port(port_url)
    try:
        return Dock(port, sink, dock_authenticator(archive), config=config, clock=time.time_ns).pull(patience)
    finally:
        port.close()
