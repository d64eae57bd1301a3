"""The public evidence format that device, dock and third parties share.

Canonical signed records (:mod:`evidence.records`), the device's chain writer and head
(:mod:`evidence.chain`), keys (:mod:`evidence.keys`), the verifier (:mod:`evidence.verify`),
receipts (:mod:`evidence.receipts`), the event-log reader (:mod:`evidence.eventlog`), file
helpers (:mod:`evidence.files`) and the folders of a device data directory and a dock
archive (:mod:`evidence.paths`). Standard library and
``cryptography`` only: nothing else of ours is imported here (docs/architecture.md).
"""
from bodycam_errors import BodycamError


class EvidenceError(BodycamError, ValueError):
    """A record, key or receipt cannot be read, or its signature does not hold."""
