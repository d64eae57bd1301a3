"""``bodycam-station pull``: take everything an enrolled device offers into the archive."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from evidence.keys import Signer, read_keys
from evidence.paths import ArchiveDir
from station.catalogue.catalogue import Catalogue
from station.catalogue.verdicts import Verdicts
from station.intake.archive import ArchiveSink
from station.intake.enroll import dock_authenticator
from station.intake.witness import Witness
from sync.dock import Dock, PullReport
from sync.link import DEFAULT_BAUDRATE, LinkConfig, open_port


def pull_into(archive: Path, port_url: str, *, catalogue: Catalogue, witness: Witness, signer: Signer,
              progress: Callable[[int, int], None] | None = None, config: LinkConfig = LinkConfig(),
              patience: float = 30.0, baudrate: int = DEFAULT_BAUDRATE) -> PullReport:
    """Take everything an enrolled device offers on ``port_url`` (at ``baudrate`` on a UART) into
    ``archive``, setting its clock from ours (the dock authenticated by ``signer``), file it in
    ``catalogue`` and check the device's chain against ``witness``. Each session the pull added
    to is then verified once and its verdicts stored (``station.catalogue.verdicts``), so the
    review page need not read its footage again."""
    sink = ArchiveSink(archive, read_keys(ArchiveDir(archive).devices), catalogue, progress=progress, witness=witness)
    port = open_port(port_url, baudrate)
    try:
        report = Dock(port, sink, dock_authenticator(archive, signer), config=config, clock=time.time_ns).pull(patience)
    finally:
        port.close()
    stored = Verdicts(catalogue.engine)
    for folder in sorted(sink.sessions_filed):
        stored.check(folder)
    return report
