"""The one way a test waits for another thread or process: a condition, polled until a deadline.

A test never sleeps in the hope that something happened: it waits for what it needs, and
fails naming it if that does not come. The deadline is generous (a loaded machine is slow);
nothing asserts how long the wait took.
"""
from __future__ import annotations

import time
from typing import Callable, TypeVar

DEADLINE_SECONDS = 30.0
POLL_SECONDS = 0.02

T = TypeVar("T")


def wait_for(condition: Callable[[], T], what: str, timeout: float = DEADLINE_SECONDS) -> T:
    """Poll ``condition`` until it returns something true, and return that; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what}"
        time.sleep(POLL_SECONDS)
    return value
