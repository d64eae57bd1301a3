"""Capture times: every frame and sample carries its monotonic and its wall-clock time.

The monotonic clock orders and spaces frames (it never jumps); the wall clock says when
they happened. Adapters that get a sensor timestamp on the monotonic clock derive the wall
time from the current offset between the two clocks, so both times name the same instant.
"""
import time


def wall_at(monotonic_ns: int) -> int:
    """The wall-clock time (ns since the epoch) of an instant given on the monotonic clock."""
    return time.time_ns() - (time.monotonic_ns() - monotonic_ns)


def sleep_until(monotonic_ns: int) -> None:
    """Sleep until the monotonic clock reaches ``monotonic_ns`` (returns at once if past)."""
    delay = monotonic_ns - time.monotonic_ns()
    if delay > 0:
        time.sleep(delay / 1e9)
