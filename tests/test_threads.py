"""The owned thread: a failure is logged with its traceback and reported; a join that times out raises."""
from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from bodycam_threads import OwnedThread, ZombieThread


def test_a_failing_target_is_logged_with_its_traceback_and_reported_to_its_owner(caplog):
    reported: list[Exception] = []

    def broken() -> None:
        raise ValueError("the sensor said 'lots'")

    thread = OwnedThread(broken, "sensor", on_error=reported.append)
    with caplog.at_level(logging.ERROR, logger="bodycam_threads"):
        thread.start()
        thread.join(10)
    [record] = [r for r in caplog.records if r.name == "bodycam_threads"]
    assert record.getMessage() == "the sensor thread failed" and record.exc_info[0] is ValueError
    assert isinstance(thread.error, ValueError) and reported == [thread.error]


def test_a_thread_that_does_not_stop_raises_on_join_and_can_be_joined_once_it_ends():
    release = threading.Event()
    thread = OwnedThread(release.wait, "stuck")
    thread.start()
    with pytest.raises(ZombieThread, match="the stuck thread did not stop within 0.05 s"):
        thread.stop(0.05)
    assert thread.stopping.is_set() and thread.is_alive()
    release.set()
    thread.join(10)
    thread.join(10)  # twice is fine
    assert not thread.is_alive() and thread.error is None


def test_stop_hands_the_target_the_event_it_sets():
    stop = threading.Event()
    thread = OwnedThread(stop.wait, "waiter", stopping=stop)
    thread.start()
    thread.stop(10)
    assert not thread.is_alive()


@pytest.mark.parametrize("debug", ["0", "1"])
def test_on_the_console_a_failed_thread_is_one_line_its_traceback_only_when_debugging(debug):
    """Both kinds of thread: an owned one, and a plain one (the segmenter's fsync) through the hook."""
    script = textwrap.dedent("""
        import threading
        from bodycam_errors import console_logging
        from bodycam_threads import OwnedThread
        console_logging("bodycam")
        def broken():
            raise ValueError("the sensor said 'lots'")
        for thread in (OwnedThread(broken, "sensor"), threading.Thread(target=broken, name="fsync")):
            thread.start()
            thread.join(10)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "BODYCAM_DEBUG": debug}, cwd=Path(__file__).resolve().parents[1])
    lines = done.stderr.splitlines()
    if debug == "0":
        assert lines == ["bodycam: the sensor thread failed: the sensor said 'lots'",
                         "bodycam: the fsync thread failed: the sensor said 'lots'"]
    else:
        assert lines.count("Traceback (most recent call last):") == 2 and "bodycam: the fsync thread failed" in lines
