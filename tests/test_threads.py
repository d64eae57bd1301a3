"""The owned thread: a failure is logged with its traceback and reported; a join that times out raises."""
from __future__ import annotations

import logging
import threading

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
