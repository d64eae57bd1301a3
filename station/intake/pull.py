"""``bodycam-station pull``: take everything an enrolled device offers into the archive."""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable, Protocol

from evidence.keys import Signer, read_keys
from evidence.paths import ArchiveDir
from evidence.records import SignedRecord
from station.catalogue.catalogue import Catalogue
from station.catalogue.verdicts import Verdicts
from station.intake.archive import ArchiveSink
from station.intake.enroll import dock_authenticator
from station.intake.witness import Witness
from sync.dock import Dock, PullReport
from sync.link import LinkConfig, PortHub, open_port
from sync.messages import Item
from sync.rates import DEFAULT_BAUDRATE
from sync.store import Partial


class PullWatch(Protocol):
    """What a pull tells whoever shows its progress (the dock service's bays)."""

    def offered(self, items: list[Item]) -> None:
        """The device's list, at the start of each session."""

    def authenticated(self, device_key: bytes) -> None:
        """The device proved ``device_key``; taking its items starts."""

    def verifying(self, item: Item) -> None:
        """All of ``item`` arrived; it is being checked against its seals."""

    def stored(self, item: Item, record: SignedRecord | None) -> None:
        """``item`` is checked and stored (``record``: the chain record it holds, if any)."""

    def progress(self, files: int, nbytes: int) -> None:
        """Files stored and bytes written so far in this pull."""


def pull_into(archive: Path, port_url: str, *, catalogue: Catalogue, witness: Witness, signer: Signer,
              progress: Callable[[int, int], None] | None = None, config: LinkConfig = LinkConfig(),
              patience: float = 30.0, baudrate: int = DEFAULT_BAUDRATE, watch: PullWatch | None = None,
              stop: threading.Event | None = None, hub: PortHub | None = None) -> PullReport:
    """Take everything an enrolled device offers on ``port_url`` (at ``baudrate`` on a UART) into
    ``archive``, setting its clock from ours (the dock authenticated by ``signer``), file it in
    ``catalogue`` and check the device's chain against ``witness``; ``watch`` hears how it goes,
    ``stop`` abandons it (``sync.Abandoned``: the item under way stays partial, unreceipted);
    ``hub`` reads the port (the dock service's one thread for all its bays).
    Each session the pull added to is then verified once and its verdicts stored
    (``station.catalogue.verdicts``), so the review page need not read its footage again; the
    files this pull took are not read for it: the sink hashed them as they arrived."""
    sink = ArchiveSink(archive, read_keys(ArchiveDir(archive).devices), catalogue,
                       progress=watch.progress if watch else progress, witness=witness)
    port = open_port(port_url, baudrate)
    try:
        report = Dock(port, _WatchedSink(sink, watch) if watch else sink, dock_authenticator(archive, signer),
                      config=config, clock=time.time_ns, offered=watch.offered if watch else None,
                      stop=stop, hub=hub).pull(patience)
    finally:
        port.close()
    stored = Verdicts(catalogue.engine)
    for folder, digests in sorted(sink.sessions_filed.items()):
        stored.check(folder, digests=digests)
    return report


class _WatchedSink:
    """The archive's sink, telling ``watch`` when the device is known and each item is checked."""

    def __init__(self, sink: ArchiveSink, watch: PullWatch) -> None:
        self.sink, self.watch = sink, watch

    def peer(self, device_key: bytes) -> None:
        self.sink.peer(device_key)
        self.watch.authenticated(device_key)

    def resume(self, item: Item) -> Partial | None:
        partial = self.sink.resume(item)
        if partial is None:
            self.watch.stored(item, None)
            return None
        return _WatchedPartial(partial, item, self.watch)


class _WatchedPartial:
    """The archive's partial copy, whose commit (the check against the seals) the watch hears of."""

    def __init__(self, partial: Partial, item: Item, watch: PullWatch) -> None:
        self.partial, self.item, self.watch = partial, item, watch

    @property
    def offset(self) -> int:
        return self.partial.offset

    def write(self, data: bytes) -> None:
        self.partial.write(data)

    def commit(self) -> None:
        self.watch.verifying(self.item)
        self.partial.commit()
        self.watch.stored(self.item, self.partial.record)

    def close(self) -> None:
        self.partial.close()
