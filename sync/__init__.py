"""The dock link: framing, messages, a reliable stream over a serial port, device and dock ends.

The protocol is written down for third parties in ``docs/dock-protocol.md``. Every error
raised here derives from :class:`LinkError` and also from the builtin that fits, so a
caller may catch either.
"""
from bodycam_errors import BodycamError


class LinkError(BodycamError):
    """Root of the dock link's errors."""


class FrameError(LinkError, ValueError):
    """A payload cannot be framed (it is larger than the maximum frame)."""


class MessageError(LinkError, ValueError):
    """Bytes that are not a well-formed message; such a message is dropped, never answered."""


class VerifyError(LinkError, ValueError):
    """An item is refused: its bytes do not match its SHA-256, or its id is not a safe name."""


class AuthError(LinkError, PermissionError):
    """The peer did not prove that it holds an enrolled key."""


class PeerError(LinkError, ConnectionError):
    """The peer refused a request with an ERROR message."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"peer refused (error {code}): {text}")
        self.code = code


class LinkDown(LinkError, ConnectionError):
    """The peer stopped answering, or stopped draining the line, for longer than allowed."""


class Abandoned(LinkError, ConnectionError):
    """The dock was told to stop: the transfer under way is left partial and not receipted."""


class PortError(LinkError, OSError):
    """The serial port itself failed (unplugged, closed, I/O error)."""
