"""From frames and samples to encoded packets to gapless fragmented-MP4 segments on the spool."""
from bodycam_errors import BodycamError


class CaptureError(BodycamError, OSError):
    """Recording cannot go on: the spool refused a write, the encoder failed, a device died."""
