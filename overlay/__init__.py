"""Burning time, officer, device and place into every frame before it is encoded.

``overlay.burn.Overlay`` is the recorder's frame filter; ``overlay.status.OverlayStatus`` is
where the rest of the device (GNSS, clock check, case entry) tells it what to show.
"""
from bodycam_errors import BodycamError


class OverlayError(BodycamError, OSError):
    """The overlay cannot draw: no usable font, or text the font has no glyphs for."""
