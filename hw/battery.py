"""Batteries: charge and minutes of recording left, for the main and the backup battery.

A battery is chosen by a string, like the cameras: ``sysfs:/sys/class/power_supply/BAT0``
(the Linux power_supply class), ``max17048:BUS:ADDRESS`` (a MAX17048 fuel gauge on I2C,
read with smbus2), ``simulated:`` or ``simulated:PERCENT`` (a battery that drains while the
device runs), and ``auto`` (the kernel's first or second battery, else simulated).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from hw import HardwareError
from hw.base import Adapter

POWER_SUPPLY = Path("/sys/class/power_supply")


@dataclass(frozen=True)
class BatteryReading:
    """``minutes_left`` is recording time at the present draw; None while charging or when the gauge cannot tell."""

    percent: float
    minutes_left: float | None
    voltage: float | None
    status: str  # the power_supply words: Discharging, Charging, Full, Not charging, Unknown


class Battery(Adapter):
    """Base class of the battery adapters.

    A subclass must set ``description`` and override :meth:`read`; it may override
    ``_close`` and set ``simulated`` (:class:`~hw.base.Adapter`).
    """

    description = "battery"

    def read(self) -> BatteryReading:
        """The present charge; raises HardwareError when the battery is missing or unreadable
        (AdapterClosed once closed)."""
        raise NotImplementedError


class SysfsBattery(Battery):
    """A battery the kernel knows: ``/sys/class/power_supply/NAME`` (any root, so tests use a fake tree)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.description = f"battery {self.root}"

    def _value(self, name: str) -> str | None:
        try:
            return (self.root / name).read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise HardwareError(f"cannot read {self.root / name}: {exc}") from exc

    def _number(self, name: str) -> float | None:
        text = self._value(name)
        try:
            return None if text is None else float(text)
        except ValueError as exc:
            raise HardwareError(f"{self.root / name} holds {text!r}, not a number") from exc

    def read(self) -> BatteryReading:
        self._check_open()
        capacity = self._number("capacity")
        if capacity is None or self._value("present") == "0":
            raise HardwareError(f"no battery at {self.root}")
        status = self._value("status") or "Unknown"
        voltage = self._number("voltage_now")
        return BatteryReading(min(100.0, max(0.0, capacity)), self._minutes_left(status),
                              None if voltage is None else voltage / 1e6, status)

    def _minutes_left(self, status: str) -> float | None:
        if status in ("Charging", "Full"):
            return None
        # Drivers offer one of three ways; current and power are negative on some while discharging.
        seconds = self._number("time_to_empty_now")
        if seconds:
            return seconds / 60
        for stock, draw in (("charge_now", "current_now"), ("energy_now", "power_now")):
            have, rate = self._number(stock), self._number(draw)
            if have is not None and rate:
                return have / abs(rate) * 60
        return None


# MAX17048 registers (datasheet, table 2): 16-bit, sent most significant byte first.
VCELL, SOC, VERSION, CRATE = 0x02, 0x04, 0x08, 0x16
VCELL_VOLTS_PER_BIT = 78.125e-6
CRATE_PERCENT_PER_HOUR_PER_BIT = 0.208
MAX17048_ADDRESS = 0x36


class MAX17048Battery(Battery):
    """A MAX17048 fuel gauge on an I2C bus: ``bus`` is a bus number or an smbus2.SMBus-like object."""

    def __init__(self, bus: int | Any, address: int = MAX17048_ADDRESS) -> None:
        self.address = address
        self._owns_bus = isinstance(bus, int)
        self.description = f"MAX17048 fuel gauge at 0x{address:02x} on I2C bus {bus if self._owns_bus else '(given)'}"
        if self._owns_bus:
            from smbus2 import SMBus  # only a device with I2C needs it
            try:
                bus = SMBus(bus)
            except OSError as exc:
                raise HardwareError(f"cannot open I2C bus {bus}: {exc.strerror or exc}") from exc
        self._bus = bus
        with self._closing_on_failure():
            version = self._register(VERSION)
            if version & 0xFFF0 != 0x0010:
                raise HardwareError(f"no MAX17048 at 0x{address:02x}: VERSION reads 0x{version:04x}")

    def _register(self, register: int) -> int:
        try:
            word = self._bus.read_word_data(self.address, register)
        except OSError as exc:
            raise HardwareError(f"{self.description}: I2C read failed: {exc.strerror or exc}") from exc
        # SMBus words are little-endian on the wire; the MAX17048 sends its MSB first.
        return ((word & 0xFF) << 8) | (word >> 8)

    def read(self) -> BatteryReading:
        self._check_open()
        percent = min(100.0, self._register(SOC) / 256)
        voltage = self._register(VCELL) * VCELL_VOLTS_PER_BIT
        crate = self._register(CRATE)
        crate = (crate - 0x10000 if crate & 0x8000 else crate) * CRATE_PERCENT_PER_HOUR_PER_BIT
        if crate < 0:
            return BatteryReading(percent, percent / -crate * 60, voltage, "Discharging")
        return BatteryReading(percent, None, voltage, "Charging" if crate > 0 else "Unknown")

    def _close(self) -> None:
        if self._owns_bus:
            self._bus.close()


class SimulatedBattery(Battery):
    """A battery that drains at a steady recording draw: ``full_minutes`` from 100 % to empty."""

    simulated = True

    def __init__(self, percent: float = 100.0, full_minutes: float = 600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.start_percent, self.full_minutes, self._clock = percent, full_minutes, clock
        self._started = clock()
        self.description = f"simulated battery (no gauge found: {full_minutes:.0f} min when full)"

    def read(self) -> BatteryReading:
        self._check_open()
        used = (self._clock() - self._started) / 60 / self.full_minutes * 100
        percent = max(0.0, self.start_percent - used)
        return BatteryReading(percent, percent / 100 * self.full_minutes, None, "Discharging")


def detect_battery(which: int, root: Path = POWER_SUPPLY) -> str:
    """The source ``auto`` stands for: the kernel's battery number ``which``, else simulated."""
    batteries = []
    for supply in sorted(root.glob("*")) if root.is_dir() else []:
        try:
            if (supply / "type").read_text(encoding="ascii").strip() == "Battery":
                batteries.append(supply)
        except OSError:
            continue
    return f"sysfs:{batteries[which]}" if which < len(batteries) else "simulated:"
