"""Thin adapters to the device's hardware, each with a simulated twin.

Nothing here knows about the product: the adapters hand out frames, samples and readings,
and the rest of the code never asks whether they are real or simulated. A source is
chosen by a string, in the manner of pyserial's URLs: ``synthetic:``, ``v4l2:/dev/video0``,
``file:clip.mp4``, ``picamera2:``; ``alsa:default``, ``pulse:default``.
"""
from bodycam_errors import BodycamError


class HardwareError(BodycamError, OSError):
    """A device is missing, refused to open, or stopped delivering data."""
