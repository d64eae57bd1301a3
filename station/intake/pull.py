"""``bodycam-station pull``: take everything an enrolled device offers into the archive."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from evidence.keys import read_keys
from evidence.paths import ArchiveDir
from station.intake.archive import ArchiveSink
from station.catalogue.catalogue import Catalogue
from station.intake.enroll import dock_authenticator
from station.intake.witness import Witness, open_witness
from sync.dock import Dock, PullReport
from sync.link import DEFAULT_BAUDRATE, LinkConfig, open_port


def pull(archive: Path, port_url: str, *, progress: Callable[[int, int], None] | None = None,
         config: LinkConfig = LinkConfig(), patience: float = 30.0, catalogue: Catalogue | None = None,
         witness: Witness | None = None, baudrate: int = DEFAULT_BAUDRATE) -> PullReport:
    """Take everything an enrolled device offers on ``port_url`` (at ``baudrate`` on a UART) into
    ``archive``, setting its clock from ours, file it in ``catalogue`` (by default the archive's
    own SQLite catalogue) and check the device's chain against ``witness`` (by default the
    archive's own database, each refusal signed into its audit trail)."""
    sink = ArchiveSink(archive, read_keys(ArchiveDir(archive).devices), progress=progress, catalogue=catalogue,
                       witness=open_witness(archive, audited=True) if witness is None else witness)
    port = open_port(port_url, baudrate)
    try:
        return Dock(port, sink, dock_authenticator(archive), config=config, clock=time.time_ns).pull(patience)
    finally:
        port.close()
