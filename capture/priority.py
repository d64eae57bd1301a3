"""Priority for the capture path: the threads that read the camera and microphone, draw, encode and write.

On Linux a nice value belongs to a thread, and a new thread starts with its creator's: so the
pipeline gives its own threads the configured value, and the encoders' worker threads get it by
being created while the creating thread holds it. Lowering a nice value below the current one
needs CAP_SYS_NICE or a high enough RLIMIT_NICE (systemd's ``LimitNICE=``); without either the
request is refused, and the threads keep the process's own value.
"""
from __future__ import annotations

import contextlib
import os
import threading
from typing import Iterator


def set_thread_nice(nice: int) -> str | None:
    """Give the calling thread the nice value ``nice``; returns why not when it is refused."""
    thread = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, thread, nice)
    except OSError as exc:
        current = os.getpriority(os.PRIO_PROCESS, thread)
        return f"cannot give the capture threads nice {nice} ({exc.strerror}); they keep nice {current}"
    return None


@contextlib.contextmanager
def thread_nice(nice: int) -> Iterator[str | None]:
    """Hold ``nice`` on the calling thread for the block (threads it creates keep it); yields why not."""
    thread = threading.get_native_id()
    before = os.getpriority(os.PRIO_PROCESS, thread)
    refused = set_thread_nice(nice)
    try:
        yield refused
    finally:
        if refused is None:
            with contextlib.suppress(OSError):  # back to a higher value is always allowed
                os.setpriority(os.PRIO_PROCESS, thread, before)
