"""Thin adapters to the device's hardware, each with a simulated twin.

Nothing here knows about the product: the adapters hand out frames, samples and readings,
and the rest of the code never asks whether they are real or simulated. A part is
chosen by a string, in the manner of pyserial's URLs: ``simulated:`` (every part's twin),
``auto``, ``v4l2:/dev/video0``, ``file:clip.mp4``, ``picamera2:``; ``alsa:default``;
``sysfs:PATH``, ``max17048:1:0x36``; ``/dev/ttyS0``. The one table of these strings, and
of the adapter each opens, is ``hw.sources.SOURCES``. Every adapter and every twin derives
from ``hw.base.Adapter``: ``close()`` (safe twice), ``closed`` and ``with``.
"""
from bodycam_errors import BodycamError


class HardwareError(BodycamError, OSError):
    """A device is missing, refused to open, or stopped delivering data."""


class AdapterClosed(HardwareError, ValueError):
    """An adapter was used after it was closed (a ``ValueError`` too, as for a closed file)."""
