"""Battery adapters on fake sysfs trees and a fake I2C bus that follows smbus2's SMBus API."""
from __future__ import annotations

import pytest

from hw import AdapterClosed, HardwareError
from hw.battery import CRATE, SOC, VCELL, VERSION, MAX17048Battery, SimulatedBattery, SysfsBattery, detect_battery
from hw.sources import open_battery


def supply(root, name, **files):
    folder = root / name
    folder.mkdir(parents=True)
    for key, value in files.items():
        (folder / key).write_text(f"{value}\n")
    return folder


def test_sysfs_battery_reads_charge_voltage_and_minutes_from_charge_and_current(tmp_path):
    bat = supply(tmp_path, "BAT0", type="Battery", present=1, capacity=80, status="Discharging",
                 voltage_now=3_912_000, charge_now=2_000_000, current_now=-1_000_000)
    reading = SysfsBattery(bat).read()
    assert reading.percent == 80 and reading.status == "Discharging"
    assert reading.voltage == pytest.approx(3.912)
    assert reading.minutes_left == pytest.approx(120)  # 2 Ah at 1 A, whatever the sign of current_now


def test_sysfs_battery_minutes_from_time_to_empty_or_energy_and_none_while_charging(tmp_path):
    timed = supply(tmp_path, "A", capacity=50, status="Discharging", time_to_empty_now=1800)
    assert SysfsBattery(timed).read().minutes_left == pytest.approx(30)
    powered = supply(tmp_path, "B", capacity=50, status="Discharging", energy_now=10_000_000, power_now=5_000_000)
    assert SysfsBattery(powered).read().minutes_left == pytest.approx(120)
    unknown = supply(tmp_path, "C", capacity=50, status="Discharging")
    assert SysfsBattery(unknown).read().minutes_left is None
    charging = supply(tmp_path, "D", capacity=50, status="Charging", time_to_empty_now=1800)
    assert SysfsBattery(charging).read().minutes_left is None


def test_missing_or_absent_or_garbled_battery_is_a_hardware_error(tmp_path):
    with pytest.raises(HardwareError, match="no battery"):
        SysfsBattery(tmp_path / "BAT9").read()
    with pytest.raises(HardwareError, match="no battery"):
        SysfsBattery(supply(tmp_path, "BAT1", present=0, capacity=0)).read()
    with pytest.raises(HardwareError, match="not a number"):
        SysfsBattery(supply(tmp_path, "BAT2", capacity="lots")).read()
    with pytest.raises(OSError):  # HardwareError is an OSError: callers may catch either
        SysfsBattery(tmp_path / "BAT9").read()


def test_auto_takes_the_kernels_first_and_second_battery_else_simulated(tmp_path):
    supply(tmp_path, "AC", type="Mains", online=1)
    supply(tmp_path, "BAT0", type="Battery", capacity=90)
    supply(tmp_path, "BAT1", type="Battery", capacity=40)
    assert detect_battery(0, tmp_path) == f"sysfs:{tmp_path / 'BAT0'}"
    assert detect_battery(1, tmp_path) == f"sysfs:{tmp_path / 'BAT1'}"
    assert detect_battery(2, tmp_path) == "simulated:"
    assert open_battery("auto", 1, root=tmp_path).read().percent == 40
    assert detect_battery(0, tmp_path / "nothing") == "simulated:"


class FakeSMBus:
    """Follows smbus2.SMBus: a word read returns the first byte on the wire as the low byte."""

    def __init__(self, registers: dict[int, int]) -> None:
        self.registers = registers  # register -> 16-bit value as the datasheet writes it (MSB first on the wire)
        self.closed = False

    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int, force=None) -> list[int]:
        if i2c_addr != 0x36:
            raise OSError(121, "Remote I/O error")
        wire = []
        for reg in range(register, register + length, 2):
            wire += [self.registers.get(reg, 0) >> 8, self.registers.get(reg, 0) & 0xFF]
        return wire[:length]

    def read_word_data(self, i2c_addr: int, register: int, force=None) -> int:
        first, second = self.read_i2c_block_data(i2c_addr, register, 2)
        return first | second << 8

    def close(self) -> None:
        self.closed = True


def gauge(soc_percent: float, volts: float, crate_percent_per_hour: float, version: int = 0x0012) -> FakeSMBus:
    crate = round(crate_percent_per_hour / 0.208) & 0xFFFF
    return FakeSMBus({VERSION: version, SOC: round(soc_percent * 256), VCELL: round(volts / 78.125e-6),
                      CRATE: crate})


def test_max17048_reads_big_endian_registers_as_the_datasheet_scales_them():
    reading = MAX17048Battery(gauge(75.5, 3.9, -10.0)).read()
    assert reading.percent == pytest.approx(75.5)
    assert reading.voltage == pytest.approx(3.9, abs=1e-4)
    assert reading.status == "Discharging"
    # 75.5 % at 10 %/h (quantised to the register's 0.208 %/h steps).
    assert reading.minutes_left == pytest.approx(75.5 / (48 * 0.208) * 60)


def test_max17048_charging_has_no_minutes_left_and_soc_is_capped():
    reading = MAX17048Battery(gauge(100.4, 4.2, +5.0)).read()
    assert reading.status == "Charging" and reading.minutes_left is None and reading.percent == 100


def test_max17048_wrong_chip_or_bus_error_is_a_hardware_error():
    with pytest.raises(HardwareError, match="VERSION reads 0x0003"):
        MAX17048Battery(gauge(50, 3.8, -1, version=0x0003))  # a MAX17043
    with pytest.raises(HardwareError, match="I2C read failed"):
        MAX17048Battery(gauge(50, 3.8, -1), address=0x37)


def test_max17048_closes_the_bus_it_opened_once_and_never_a_bus_it_was_given(monkeypatch):
    opened: list[FakeSMBus] = []

    def open_bus(number: int) -> FakeSMBus:
        opened.append(gauge(50, 3.8, -1, version=0x0003 if number == 2 else 0x0012))
        return opened[-1]

    monkeypatch.setattr("smbus2.SMBus", open_bus)
    given = gauge(50, 3.8, -1)
    with MAX17048Battery(given) as borrowing, MAX17048Battery(1) as owning:
        assert owning.read().percent == 50
    assert borrowing.closed and owning.closed
    assert not given.closed and opened[0].closed
    with pytest.raises(AdapterClosed, match="MAX17048 fuel gauge at 0x36 on I2C bus 1 is closed"):
        owning.read()
    with pytest.raises(HardwareError, match="VERSION reads 0x0003"):
        MAX17048Battery(2)  # the bus it opened for a wrong chip is closed again
    assert opened[1].closed


def test_max17048_on_a_missing_bus_and_bad_urls_are_refused():
    with pytest.raises(HardwareError):
        open_battery("max17048:250:0x36")
    with pytest.raises(HardwareError, match="max17048:BUS"):
        open_battery("max17048:one")
    with pytest.raises(HardwareError, match="unknown battery"):
        open_battery("usb:")


def test_simulated_battery_drains_with_use():
    now = [1000.0]
    battery = SimulatedBattery(percent=50, full_minutes=100, clock=lambda: now[0])
    assert battery.simulated
    assert battery.read().percent == 50 and battery.read().minutes_left == 50
    now[0] += 10 * 60
    assert battery.read().percent == pytest.approx(40)
    assert battery.read().minutes_left == pytest.approx(40)
    now[0] += 100 * 60
    assert battery.read().percent == 0
    assert open_battery("simulated:30").read().percent == pytest.approx(30, abs=0.1)
