"""One table of source strings: the configuration accepts exactly what the adapters open."""
from __future__ import annotations

import pytest

from firmware import config as configuration
from hw import HardwareError
from hw.battery import SimulatedBattery
from hw.clock import SimulatedRtc
from hw.gnss import SimulatedGnss
from hw.sources import SOURCES, forms, open_battery, open_gnss, open_rtc, valid

KEYS = {"camera": ("sources", "camera"), "microphone": ("sources", "microphone"), "battery": ("battery", "main"),
        "rtc": ("clock", "rtc"), "gnss": ("gnss", "port"), "pin_factory": ("gpio", "pin_factory")}


def test_every_kind_of_part_is_a_configuration_key_checked_against_the_table():
    assert set(KEYS) == set(SOURCES)
    for kind, (section, key) in KEYS.items():
        assert configuration.SCHEMA[section][key].must == forms(kind)


@pytest.mark.parametrize("kind,old", [("camera", "synthetic:"), ("microphone", "synthetic:"),
                                      ("pin_factory", "mock")])
def test_the_old_names_of_simulated_parts_are_refused_with_the_new_one(kind, old):
    section, key = KEYS[kind]
    assert not valid(kind, old) and valid(kind, "simulated:")
    with pytest.raises(configuration.ConfigError, match=f"'{section}.{key}' must be auto(, | or )simulated:"):
        configuration.load().with_overrides({section: {key: old}})


def test_a_simulated_string_opens_the_simulated_twin():
    battery = open_battery("simulated:40")
    assert isinstance(battery, SimulatedBattery) and battery.start_percent == 40
    assert isinstance(open_rtc("simulated:-3"), SimulatedRtc) and open_rtc("simulated:-3").offset == -3
    gnss = open_gnss("simulated:22.5,114.0")
    assert isinstance(gnss, SimulatedGnss) and (gnss.latitude, gnss.longitude) == (22.5, 114.0)
    assert open_gnss("none") is None
    with pytest.raises(HardwareError, match=r"unknown battery 'simulated:lots' \(use auto, simulated:"):
        open_battery("simulated:lots")
