"""The GPIO panel on gpiozero's MockFactory: button events, holds, light and vibration patterns."""
from __future__ import annotations

import queue

import pytest
from gpiozero.pins.mock import MockFactory, MockPin

from firmware import config as configuration
from firmware.panel import PATTERNS, open_panel
from hw import HardwareError
from hw.gpio import HOLD, PRESS, RELEASE, Input, Panel, Pattern
from hw.sources import open_factory

WAIT = 10  # seconds: bounded waits, never timed asserts


def panel(events: queue.Queue, hold: float = 0.3) -> Panel:
    return Panel({"record": Input(17, hold), "marker": Input(27)}, {"led_video": 6, "vibration": 19}, open_factory("simulated:"),
                 lambda *event: events.put(event))


def test_buttons_report_press_hold_release_with_the_press_number():
    events: queue.Queue = queue.Queue()
    with panel(events) as device:
        assert device.simulated and isinstance(device.pin("record"), MockPin)
        device.press("record", 0.05)  # shorter than the hold: no hold
        device.pin("record").drive_low()  # a finger on the real MockPin
        assert events.get(timeout=WAIT)[:2] == ("record", PRESS)
        assert events.get(timeout=WAIT)[:2] == ("record", RELEASE)
        assert events.get(timeout=WAIT) == ("record", PRESS, 2)
        assert events.get(timeout=WAIT) == ("record", HOLD, 2)  # comes while the button is still down
        device.pin("record").drive_high()
        assert events.get(timeout=WAIT) == ("record", RELEASE, 2)
        device.press("marker", 0.05)
        assert [events.get(timeout=WAIT) for _ in range(2)] == [("marker", PRESS, 1), ("marker", RELEASE, 1)]
    assert events.empty()


def test_a_pattern_pulses_its_outputs_then_restores_their_steady_state():
    with panel(queue.Queue()) as device:
        device.set("led_video", True)
        device.set("not fitted", True)  # ignored
        device.play(Pattern.repeat(("vibration", "led_video", "buzzer"), 3, 0.02, 0.02))
        assert device.wait_idle(WAIT)
        vibration = [s.state for s in device.pin("vibration").states]
        assert vibration == [False] + [True, False] * 3
        # Steady on, then three pulses (the first "on" is no change), then steady on again.
        assert [s.state for s in device.pin("led_video").states] == [False, True] + [False, True] * 3
        assert device.is_on("led_video") and not device.is_on("vibration")
        pin = device.pin("led_video")
    assert not pin.state  # closing switches everything off


def test_the_alarm_patterns_differ_so_an_officer_can_tell_them_apart():
    kinds = ["battery_low", "battery_critical", "storage_low", "storage_full", "clock_jump", "state_reason",
             "reminder", "marker", "start", "stop"]
    assert len({PATTERNS[k] for k in kinds}) == len(kinds)


def test_close_is_safe_twice_and_releases_the_pins():
    factory = MockFactory()
    device = Panel({"record": Input(17)}, {"led": 6}, factory)
    device.close()
    device.close()
    with pytest.raises(HardwareError, match="closed"):
        device.press("record", 0)
    Panel({"record": Input(17)}, {"led": 6}, factory).close()  # the same pins again: they were released


def test_a_pin_taken_twice_is_refused_and_nothing_stays_claimed():
    factory = MockFactory()
    with pytest.raises(HardwareError, match="GPIO"):
        Panel({"record": Input(17)}, {"led": 17}, factory)
    Panel({"record": Input(17)}, {}, factory).close()  # 17 was given back when the constructor failed


def test_the_config_pin_map_is_checked_before_any_pin_is_claimed(tmp_path):
    config = configuration.load().with_overrides({"gpio": {"pin_factory": "simulated:", "marker": 17}})
    with pytest.raises(configuration.ConfigError, match="'gpio.marker' and 'gpio.record' are both GPIO 17"):
        open_panel(config, lambda *event: None)
    with pytest.raises(configuration.ConfigError, match="gpio.hold_seconds"):
        configuration.load().with_overrides({"gpio": {"hold_seconds": 0.2}})  # a bump must not stop a recording
    config = configuration.load().with_overrides({"gpio": {"pin_factory": "simulated:", "buzzer": -1, "dock": -1}})
    with open_panel(config, lambda *event: None) as device:
        assert not device.is_pressed("dock") and device.description.startswith("simulated")


def test_auto_falls_back_to_the_mock_factory_where_there_is_no_gpio():
    if not isinstance(open_factory("auto"), MockFactory):
        pytest.skip("this machine has GPIO")
    with pytest.raises(HardwareError, match="unknown GPIO pin factory"):
        open_factory("pigpio")
