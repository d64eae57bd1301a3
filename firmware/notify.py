"""systemd's notify protocol (sd_notify), without a library: one datagram to ``$NOTIFY_SOCKET``.

``READY=1`` tells systemd that a ``Type=notify`` service is up; ``WATCHDOG=1`` must then come
at least every ``WatchdogSec`` (systemd passes it as ``$WATCHDOG_USEC``), or systemd kills
and restarts the service. Outside systemd there is no socket and every call does nothing.
"""
from __future__ import annotations

import os
import socket


def notify(*lines: str) -> bool:
    """Send ``lines`` (e.g. ``"READY=1"``, ``"STATUS=recording"``) to systemd; False when not under systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # an abstract socket: its name starts with a NUL byte
        address = "\0" + address[1:]
    try:
        # Non-blocking: a slow systemd must never hold up the service loop.
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK) as sock:
            sock.sendto("\n".join(lines).encode("utf-8"), address)
    except OSError:
        return False  # systemd gone (shutting down): nothing to tell
    return True


def watchdog_seconds() -> float | None:
    """How often systemd wants ``WATCHDOG=1`` (``WatchdogSec``), or None when no watchdog is set for us."""
    usec, pid = os.environ.get("WATCHDOG_USEC"), os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 1e6 or None
    except ValueError:
        return None
