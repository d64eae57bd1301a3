"""The folders and files of a device's data directory and of a dock's archive, named once.

Everything else asks these objects for a path instead of spelling ``"spool"`` or
``"device"`` by hand; docs/architecture.md lists the trees.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

RECEIPT_SUFFIX = ".receipt"
EVENTS = "events"          # the event log's folder, on the device and (per device key) in the archive
PARTIAL = ".partial"       # copies being received, on the dock
DEVICE_ITEMS = "device"    # item ids of the device's own records: its chain head and identity records


@dataclass(frozen=True)
class DataDir:
    """A device's data directory: ``spool/`` of sessions, ``device/`` of keys and chain head,
    ``receipts/`` from docks, ``events/`` of the event log."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def spool(self) -> Path:
        return self.root / "spool"

    @property
    def device(self) -> Path:
        return self.root / "device"

    @property
    def key(self) -> Path:
        return self.device / "device.key"

    @property
    def public_key(self) -> Path:
        return self.device / "device.pub"

    @property
    def identity(self) -> Path:
        """The signed identity records, ``identity-NNNNNN.json``: the newest one is who carries the device."""
        return self.device / "identity"

    @property
    def chain(self) -> Path:
        return self.device / "chain.json"

    @property
    def docks(self) -> Path:
        """Public keys of the docks an administrator enrolled on this device."""
        return self.device / "docks"

    @property
    def receipts(self) -> Path:
        return self.root / "receipts"

    @property
    def events(self) -> Path:
        return self.root / EVENTS

    @property
    def clock_set(self) -> Path:
        """Touched when a dock vouched for the clock; the self-test reads its age."""
        return self.root / "clock-set"

    @property
    def control_socket(self) -> Path:
        return self.root / "control.sock"

    @property
    def lock(self) -> Path:
        """Held (flock) by the one process that may write this data directory."""
        return self.root / "writer.lock"

    def receipt(self, item_id: str) -> Path:
        return self.receipts / (item_id + RECEIPT_SUFFIX)


@dataclass(frozen=True)
class ArchiveDir:
    """A dock's archive: ``YYYY/MM/DD/unit/device/officer/session/`` folders of evidence, the
    dock's key in ``dock/``, enrolled device keys in ``devices/``, event logs in ``events/``."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def dock(self) -> Path:
        return self.root / "dock"

    @property
    def key(self) -> Path:
        return self.dock / "dock.key"

    @property
    def public_key(self) -> Path:
        return self.dock / "dock.pub"

    @property
    def ca_key(self) -> Path:
        """The station's certificate authority (0600), which certifies its C2PA signing key."""
        return self.dock / "station-ca.key"

    @property
    def ca_certificate(self) -> Path:
        return self.dock / "station-ca.pem"

    @property
    def c2pa_key(self) -> Path:
        return self.dock / "c2pa-signer.key"

    @property
    def c2pa_certificate(self) -> Path:
        return self.dock / "c2pa-signer.pem"

    @property
    def devices(self) -> Path:
        """Public keys of the devices enrolled on this dock."""
        return self.root / "devices"

    @property
    def events(self) -> Path:
        return self.root / EVENTS

    @property
    def partial(self) -> Path:
        return self.root / PARTIAL

    @property
    def writeups(self) -> Path:
        """The officers' write-ups, signed by the dock, beside (never inside) the device's records."""
        return self.root / "writeups"

    @property
    def inspections(self) -> Path:
        """The supervisors' inspection findings, signed by the dock, beside the device's records."""
        return self.root / "inspections"

    @property
    def purge_log(self) -> Path:
        """One line per session the retention purge removed: who, what, why, when."""
        return self.root / "purges.jsonl"

    def chain(self, key: str) -> Path:
        """A device's identity records and the chain heads it offered, by its key id."""
        return self.root / "chain" / key

    def refused(self, key: str) -> Path:
        """What a device offered in a docking refused for release (its chain rewound or
        forked), archived as received and never receipted."""
        return self.root / "refused" / key
