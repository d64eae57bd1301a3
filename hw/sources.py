"""The one table of source URLs: for each kind of part, the strings that choose an adapter.

A part is chosen by a string in the manner of pyserial's URLs. ``simulated:`` is every
part's simulated twin and ``auto`` the real part found on this machine (else the twin).
Each entry of :data:`SOURCES` is a pattern the whole string must match, the form a user is
told, and the opener it leads to. The configuration checks a value with :func:`valid` and
words its refusal with :func:`forms`; the ``open_*`` functions below open through :func:`open_source`.
So a scheme is named in this one place. Openers import their adapter only when called, so
checking a configuration loads no device library.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from hw import HardwareError
from hw.battery import POWER_SUPPLY, Battery
from hw.clock import RTC0, Rtc

if TYPE_CHECKING:       # the adapters themselves load only when opened: checking a config needs none
    from hw.camera import Camera
    from hw.gnss import Gnss
    from hw.microphone import Microphone

_NUMBER = r"-?\d+(?:\.\d+)?"


@dataclass(frozen=True)
class Source:
    """``pattern`` (a regular expression matching the whole string) opens with ``opener(match, **options)``."""

    pattern: str
    form: str
    opener: Callable[..., Any]


def _camera(kind: str) -> Callable[..., Any]:
    def opener(match: re.Match, width: int, height: int, fps: int, epoch_ns: int | None = None) -> Any:
        if kind == "simulated":
            from hw.simulated import SimulatedCamera
            return SimulatedCamera(width, height, fps, epoch_ns=epoch_ns)
        if kind == "picamera2":
            from hw.picamera2_camera import Picamera2Camera
            return Picamera2Camera(width, height, fps, camera_num=int(match["rest"] or 0))
        from hw.opencv_camera import OpenCVCamera
        return OpenCVCamera(match["rest"], width, height, fps, is_file=kind == "file")
    return opener


def _microphone(kind: str) -> Callable[..., Any]:
    def opener(match: re.Match, sample_rate: int, channels: int, epoch_ns: int | None = None) -> Any:
        if kind == "simulated":
            from hw.simulated import SimulatedMicrophone
            return SimulatedMicrophone(sample_rate, channels, epoch_ns=epoch_ns)
        from hw.microphone import PyAVMicrophone
        return PyAVMicrophone(kind, match["rest"], sample_rate, channels)
    return opener


def _battery(kind: str) -> Callable[..., Any]:
    def opener(match: re.Match, full_minutes: float = 600.0, **_: Any) -> Any:
        from hw import battery
        if kind == "simulated":
            return battery.SimulatedBattery(float(match["rest"] or 100), full_minutes)
        if kind == "sysfs":
            return battery.SysfsBattery(match["rest"])
        return battery.MAX17048Battery(int(match["bus"]), int(match["address"] or "0x36", 0))
    return opener


def _rtc(kind: str) -> Callable[..., Any]:
    def opener(match: re.Match, **_: Any) -> Any:
        from hw import clock
        return clock.SimulatedRtc(float(match["rest"] or 0)) if kind == "simulated" else clock.SysfsRtc(match["rest"])
    return opener


def _gnss(kind: str) -> Callable[..., Any]:
    def opener(match: re.Match, baudrate: int = 9600) -> Any:
        from hw import gnss
        if kind == "none":
            return None
        if kind == "simulated":
            place = match["rest"]
            return gnss.SimulatedGnss(*(float(part) for part in place.split(","))) if place else gnss.SimulatedGnss()
        return gnss.SerialGnss(match.string, baudrate)
    return opener


def _pin_factory(kind: str) -> Callable[..., Any]:
    def opener(match: re.Match) -> Any:
        from hw import gpio
        return gpio.simulated_factory() if kind == "simulated" else gpio.default_factory()
    return opener


def _auto(kind: str, detect: Callable[..., str]) -> Callable[..., Any]:
    def opener(match: re.Match, **options: Any) -> Any:
        return open_source(kind, detect(**{k: v for k, v in options.items() if k in ("which", "root")}), **options)
    return opener


def _detect_camera() -> str:
    from hw.camera import detect_camera
    return detect_camera()


def _detect_microphone() -> str:
    from hw.microphone import detect_microphone
    return detect_microphone()


def _detect_battery(which: int = 0, root: Path | None = None) -> str:
    from hw.battery import detect_battery
    return detect_battery(which, root or POWER_SUPPLY)


def _detect_rtc(root: Path | None = None) -> str:
    return f"sysfs:{root or RTC0}" if ((root or RTC0) / "since_epoch").exists() else "simulated:"


def _detect_gnss() -> str:
    return "/dev/serial0" if Path("/dev/serial0").exists() else "simulated:"


SOURCES: dict[str, list[Source]] = {
    "camera": [
        Source(r"auto", "auto", _auto("camera", _detect_camera)),
        Source(r"simulated:", "simulated:", _camera("simulated")),
        Source(r"v4l2:(?P<rest>.+)", "v4l2:DEVICE", _camera("v4l2")),
        Source(r"file:(?P<rest>.+)", "file:PATH", _camera("file")),
        Source(r"picamera2:(?P<rest>\d*)", "picamera2:", _camera("picamera2")),
    ],
    "microphone": [
        Source(r"auto", "auto", _auto("microphone", _detect_microphone)),
        Source(r"simulated:", "simulated:", _microphone("simulated")),
        Source(r"alsa:(?P<rest>.+)", "alsa:DEVICE", _microphone("alsa")),
        Source(r"pulse:(?P<rest>.+)", "pulse:DEVICE", _microphone("pulse")),
    ],
    "battery": [
        Source(r"auto", "auto", _auto("battery", _detect_battery)),
        Source(rf"simulated:(?P<rest>{_NUMBER})?", "simulated:, simulated:PERCENT", _battery("simulated")),
        Source(r"sysfs:(?P<rest>.+)", "sysfs:PATH", _battery("sysfs")),
        Source(r"max17048:(?P<bus>\d+)(?::(?P<address>(?:0x)?[0-9A-Fa-f]+))?", "max17048:BUS:ADDRESS",
               _battery("max17048")),
    ],
    "rtc": [
        Source(r"auto", "auto", _auto("rtc", _detect_rtc)),
        Source(rf"simulated:(?P<rest>{_NUMBER})?", "simulated:, simulated:SECONDS", _rtc("simulated")),
        Source(r"sysfs:(?P<rest>.+)", "sysfs:PATH", _rtc("sysfs")),
    ],
    "gnss": [
        Source(r"auto", "auto", _auto("gnss", _detect_gnss)),
        Source(r"none", "none", _gnss("none")),
        Source(rf"simulated:(?P<rest>{_NUMBER},{_NUMBER})?", "simulated:, simulated:LAT,LON", _gnss("simulated")),
        Source(r"/.+", "a device path", _gnss("serial")),
        Source(r"[a-z0-9+]+://.+", "a pyserial URL", _gnss("serial")),
    ],
    "pin_factory": [
        Source(r"auto", "auto", _pin_factory("auto")),
        Source(r"simulated:", "simulated:", _pin_factory("simulated")),
    ],
}


NAMES = {"camera": "camera source", "microphone": "microphone source", "battery": "battery", "rtc": "RTC",
         "gnss": "GNSS receiver", "pin_factory": "GPIO pin factory"}


def _match(kind: str, url: str) -> tuple[Source, re.Match] | None:
    for source in SOURCES[kind]:
        if match := re.fullmatch(source.pattern, url):
            return source, match
    return None


def valid(kind: str, url: str) -> bool:
    """Whether ``url`` names a source of this kind (the configuration's check)."""
    return _match(kind, url) is not None


def forms(kind: str) -> str:
    """The accepted forms, for a refusal: "auto, simulated:, v4l2:DEVICE, file:PATH or picamera2:"."""
    words = [source.form for source in SOURCES[kind]]
    return ", ".join(words[:-1]) + " or " + words[-1]


def open_source(kind: str, url: str, **options: Any) -> Any:
    """Open the part of this kind that ``url`` names; HardwareError (one sentence) for a string it is not."""
    found = _match(kind, url)
    if found is None:
        raise HardwareError(f"unknown {NAMES[kind]} '{url}' (use {forms(kind)})")
    source, match = found
    return source.opener(match, **options)


def open_camera(url: str, width: int, height: int, fps: int, epoch_ns: int | None = None) -> Camera:
    """Open the camera named by ``url`` (``hw.sources``); ``auto`` takes the first real camera found, else
    the simulated one.

    ``epoch_ns`` is the shared start of the simulated world, so that a simulated camera's
    flashes and a simulated microphone's beeps happen at the same instants.
    """
    return open_source("camera", url, width=width, height=height, fps=fps, epoch_ns=epoch_ns)


def open_rtc(url: str, root: Path = RTC0) -> Rtc:
    """Open the RTC named by ``url`` (``hw.sources``); ``auto`` takes ``root`` if the kernel has it, else the
    simulated one."""
    return open_source("rtc", url, root=root)


def open_battery(url: str, which: int = 0, full_minutes: float = 600.0, root: Path = POWER_SUPPLY) -> Battery:
    """Open the battery named by ``url`` (``hw.sources``); ``auto`` takes the kernel's battery number ``which``
    (0 main, 1 backup)."""
    return open_source("battery", url, which=which, full_minutes=full_minutes, root=root)


def open_factory(name: str):
    """The gpiozero pin factory named ``name`` (``hw.sources``): ``simulated:`` or ``auto``."""
    return open_source("pin_factory", name)


def open_gnss(url: str, baudrate: int = 9600) -> Gnss | None:
    """Open the receiver named by ``url`` (``hw.sources``); ``none`` says the device has none (returns None)."""
    return open_source("gnss", url, baudrate=baudrate)


def open_microphone(url: str, sample_rate: int, channels: int, epoch_ns: int | None = None) -> Microphone:
    """Open the microphone named by ``url`` (``hw.sources``); ``auto`` takes ALSA's default device if there is one."""
    return open_source("microphone", url, sample_rate=sample_rate, channels=channels, epoch_ns=epoch_ns)
