"""The one root of every error bodycam raises on purpose.

Each package has its own base (``hw.HardwareError``, ``capture.CaptureError``,
``evidence.EvidenceError``, ``sync.LinkError`` …) that derives from :class:`BodycamError`
and, where it fits, from a builtin (``OSError``, ``ValueError``), so a caller may catch
either. This module imports nothing, so every package may import it (docs/architecture.md).
"""


class BodycamError(Exception):
    """Root of the errors raised by bodycam's own code."""
