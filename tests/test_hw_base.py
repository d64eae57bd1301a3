"""The one base of the hardware adapters: close once, ``closed``, ``with``, and a clear error after close."""
from __future__ import annotations

import ctypes
import dataclasses
import importlib
import inspect
import pkgutil
import re

import pytest

import hw
from hw import AdapterClosed, HardwareError
from hw.base import Adapter
from hw.battery import SimulatedBattery
from hw.camera import Frame
from hw.clock import SimulatedRtc
from hw.gnss import SimulatedGnss
from hw.gpio import Input, Panel
from hw.simulated import SimulatedCamera, SimulatedMicrophone
from hw.sources import open_factory
from hw.storage import Storage

# Classes of hw that are neither adapters nor records nor errors; a new one must be named here on purpose.
NOT_ADAPTERS = {"hw.gnss.NmeaParser"}  # turns lines into state; opens nothing


class Owner(Adapter):
    """An adapter that opens ``parts`` in turn (``fail_at``: the one whose opening fails)."""

    description = "test part"

    def __init__(self, parts: int = 1, fail_at: int | None = None, close_fails: bool = False) -> None:
        self.released: list[int] = []
        self.opened: list[int] = []
        self._close_fails = close_fails
        with self._closing_on_failure():
            for part in range(parts):
                if part == fail_at:
                    raise HardwareError(f"part {part} refused")
                self.opened.append(part)

    def _close(self) -> None:
        self.released.extend(self.opened)
        if self._close_fails:
            raise HardwareError("release failed")


# Every simulated twin (opened in a temporary folder) and a use of it.
TWINS = {
    "camera": (lambda folder: SimulatedCamera(64, 48, 30), lambda adapter: adapter.read()),
    "microphone": (lambda folder: SimulatedMicrophone(48000, 1), lambda adapter: adapter.read()),
    "battery": (lambda folder: SimulatedBattery(), lambda adapter: adapter.read()),
    "rtc": (lambda folder: SimulatedRtc(), lambda adapter: adapter.read()),
    "gnss": (lambda folder: SimulatedGnss(), lambda adapter: adapter.position()),
    "storage": (lambda folder: Storage(folder), lambda adapter: adapter.probe()),
    "gpio": (lambda folder: Panel({"record": Input(17)}, {"led": 6}, open_factory("simulated:")),
             lambda adapter: adapter.drive("record", True)),
}


def test_close_twice_releases_once_and_closed_turns_true():
    adapter = Owner(parts=2)
    assert not adapter.closed
    adapter.close()
    adapter.close()
    assert adapter.closed and adapter.released == [0, 1]


def test_a_release_that_fails_is_not_tried_again():
    adapter = Owner(close_fails=True)
    with pytest.raises(HardwareError, match="release failed"):
        adapter.close()
    adapter.close()
    assert adapter.closed and adapter.released == [0]


def test_with_closes_on_an_exception_and_returns_the_adapter():
    with pytest.raises(KeyError), Owner() as adapter:
        assert isinstance(adapter, Owner) and not adapter.closed
        raise KeyError("the caller's own failure")
    assert adapter.closed and adapter.released == [0]


def test_a_constructor_that_fails_part_way_releases_what_it_opened():
    closed: list[Owner] = []

    class Recorded(Owner):
        def _close(self) -> None:
            closed.append(self)
            super()._close()

    with pytest.raises(HardwareError, match="part 2 refused"):
        Recorded(parts=3, fail_at=2)
    [adapter] = closed
    assert adapter.closed and adapter.released == [0, 1]


def test_a_release_that_fails_while_opening_does_not_hide_why_opening_failed():
    with pytest.raises(HardwareError, match="part 1 refused"):
        Owner(parts=2, fail_at=1, close_fails=True)


def test_the_closed_error_is_a_hardware_error_an_os_error_and_a_value_error():
    assert issubclass(AdapterClosed, HardwareError)
    assert issubclass(AdapterClosed, OSError) and issubclass(AdapterClosed, ValueError)


@pytest.mark.parametrize("part", sorted(TWINS))
def test_every_twin_refuses_to_be_used_once_closed_and_says_which(tmp_path, part):
    open_twin, use = TWINS[part]
    with open_twin(tmp_path) as adapter:
        use(adapter)
    assert adapter.closed
    with pytest.raises(AdapterClosed, match=re.escape(f"{adapter.description} is closed")):
        use(adapter)


def hw_classes() -> list[type]:
    """Every class defined in a module of hw (each module imported, as the layering test reads them)."""
    found = []
    for module_info in pkgutil.iter_modules(hw.__path__):
        module = importlib.import_module(f"hw.{module_info.name}")
        found += [cls for _, cls in inspect.getmembers(module, inspect.isclass) if cls.__module__ == module.__name__]
    return found


def strays(classes: list[type]) -> list[type]:
    """The classes that are no record (a dataclass), no error, no ctypes structure, no helper named in
    NOT_ADAPTERS, and yet do not derive from the base: adapters that forgot it."""
    return [cls for cls in classes
            if not (dataclasses.is_dataclass(cls) or issubclass(cls, (BaseException, ctypes.Structure, Adapter))
                    or f"{cls.__module__}.{cls.__qualname__}" in NOT_ADAPTERS)]


def test_every_adapter_in_hw_derives_from_the_one_base():
    classes = hw_classes()
    assert {"Camera", "OpenCVCamera", "Picamera2Camera", "SimulatedCamera", "Microphone", "PyAVMicrophone",
            "SimulatedMicrophone", "Battery", "SysfsBattery", "MAX17048Battery", "SimulatedBattery", "Rtc",
            "SysfsRtc", "SimulatedRtc", "Gnss", "SerialGnss", "SimulatedGnss", "Panel",
            "Storage"} <= {cls.__name__ for cls in classes}
    assert strays(classes) == []


def test_the_walk_catches_an_adapter_that_forgets_the_base():
    class Forgetful:
        description = "a new camera"

        def read(self) -> None: ...

    assert strays([Forgetful, SimulatedCamera, Frame, HardwareError]) == [Forgetful]
