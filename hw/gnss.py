"""A GNSS receiver: position, fix and UTC time from NMEA 0183 sentences (RMC and GGA).

A receiver is chosen by a string: any pyserial URL or device path (``/dev/ttyS0``, a pty,
``rfc2217://host:port``), ``simulated:`` or ``simulated:LAT,LON`` (a receiver with a fix
that feeds its own sentences through the same parser), ``none``, and ``auto`` (the Pi's
``/dev/serial0`` if present, else simulated). A malformed sentence is counted and skipped;
nothing a receiver sends can stop the reader.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import reduce

import pynmea2

from bodycam_threads import OwnedThread
from hw import HardwareError
from hw.base import Adapter

# A fix older than this is no fix: receivers send RMC and GGA once a second.
STALE_SECONDS = 5.0
STOP_SECONDS = 2.0
DEFAULT_POSITION = (39.9042, 116.4074)
# What pynmea2 raises on a sentence that is garbled or has impossible fields.
_MALFORMED = (ValueError, TypeError, AttributeError, IndexError, KeyError)


@dataclass(frozen=True)
class Position:
    latitude: float  # degrees, north positive
    longitude: float  # degrees, east positive
    altitude: float | None = None  # metres above mean sea level (GGA)
    satellites: int | None = None  # in use (GGA)

    def __str__(self) -> str:
        lat, lon = self.latitude, self.longitude
        return f"{abs(lat):.5f}{'N' if lat >= 0 else 'S'} {abs(lon):.5f}{'E' if lon >= 0 else 'W'}"


@dataclass(frozen=True)
class GnssState:
    """What the receiver last said. ``utc`` is its time at ``received_wall_ns`` on the system clock."""

    valid: bool = False  # the last RMC had status A
    position: Position | None = None
    utc: datetime | None = None
    received_wall_ns: int | None = None
    received_monotonic_ns: int | None = None
    sentences: int = 0
    malformed: int = 0


class NmeaParser:
    """Turns NMEA lines into a :class:`GnssState`; never raises on what a receiver sends."""

    def __init__(self) -> None:
        self.state = GnssState()

    def feed(self, line: bytes | str) -> bool:
        """Take one line; returns whether it was a valid RMC or GGA sentence."""
        state = self.state
        try:
            text = line.decode("ascii") if isinstance(line, bytes) else line
            sentence = pynmea2.parse(text.strip(), check=True)  # check: a sentence without checksum is refused
            update = self._update(sentence)
        except _MALFORMED:
            self.state = dataclasses.replace(state, malformed=state.malformed + 1)
            return False
        if update is None:
            return False
        # One assignment of a new frozen object: readers in other threads see the old or the new state.
        self.state = dataclasses.replace(state, **update, sentences=state.sentences + 1,
                                         received_wall_ns=time.time_ns(), received_monotonic_ns=time.monotonic_ns())
        return True

    def _update(self, sentence: pynmea2.NMEASentence) -> dict | None:
        old = self.state.position
        if isinstance(sentence, pynmea2.RMC):
            if sentence.status != "A":
                return {"valid": False}
            utc = datetime.combine(sentence.datestamp, sentence.timestamp).replace(tzinfo=timezone.utc)
            position = Position(sentence.latitude, sentence.longitude,
                                old.altitude if old else None, old.satellites if old else None)
            return {"valid": True, "position": position, "utc": utc}
        if isinstance(sentence, pynmea2.GGA):
            # pynmea2 hands back the raw text of a field it cannot convert: convert again, strictly.
            if not int(sentence.gps_qual or 0):
                return {"valid": False}
            return {"position": Position(sentence.latitude, sentence.longitude,
                                         None if sentence.altitude is None else float(sentence.altitude),
                                         int(sentence.num_sats or 0))}
        return None


class Gnss(Adapter):
    """Base class of the GNSS adapters.

    A subclass must set ``description`` and keep ``self._parser`` fed (or override :meth:`state`,
    calling ``_check_open`` first); it may override ``_close`` and set ``simulated``
    (:class:`~hw.base.Adapter`). Readers use :meth:`state`, :attr:`fix` and :meth:`position`
    (the overlay shows the latter).
    """

    description = "GNSS"

    def __init__(self) -> None:
        self._parser = NmeaParser()

    def state(self) -> GnssState:
        """What the receiver last said; AdapterClosed once closed."""
        self._check_open()
        return self._parser.state

    @property
    def fix(self) -> bool:
        """A valid position received within the last few seconds."""
        state = self.state()
        return (state.valid and state.position is not None and state.received_monotonic_ns is not None
                and time.monotonic_ns() - state.received_monotonic_ns <= STALE_SECONDS * 1e9)

    def position(self) -> Position | None:
        return self.state().position if self.fix else None


class SerialGnss(Gnss):
    """A receiver on a serial port (any pyserial URL), read line by line by a thread this object owns."""

    def __init__(self, url: str, baudrate: int = 9600) -> None:
        super().__init__()
        import serial

        self.description = f"GNSS on {url}"
        self.error: Exception | None = None
        try:
            self._port = serial.serial_for_url(url, baudrate=baudrate, timeout=0.2)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise HardwareError(f"cannot open the GNSS port {url}: {exc}") from exc
        self._thread = OwnedThread(self._run, "gnss")
        with self._closing_on_failure():  # a reader that cannot start leaves no port open
            self._thread.start()

    def _run(self) -> None:
        import serial

        while not self._thread.stopping.is_set():
            try:
                line = self._port.readline()
            except (serial.SerialException, OSError) as exc:  # port gone: state() goes stale
                self.error = exc
                return
            if line:
                self._parser.feed(line)

    def _close(self) -> None:
        try:
            self._thread.stop(STOP_SECONDS)
        finally:
            self._port.close()


class SimulatedGnss(Gnss):
    """A receiver standing still at ``latitude, longitude``; its sentences go through the real parser."""

    simulated = True

    def __init__(self, latitude: float = DEFAULT_POSITION[0], longitude: float = DEFAULT_POSITION[1],
                 fix: bool = True) -> None:
        super().__init__()
        self.latitude, self.longitude, self.has_fix = latitude, longitude, fix
        self.description = f"simulated GNSS (no receiver found: {f'fixed at {Position(latitude, longitude)}' if fix else 'no fix'})"

    def state(self) -> GnssState:
        self._check_open()
        for line in sentences(self.latitude, self.longitude, datetime.now(timezone.utc), self.has_fix):
            self._parser.feed(line)
        return self._parser.state


def checksummed(body: str) -> str:
    """``$BODY*CS`` with the NMEA checksum (XOR of the body's bytes)."""
    return f"${body}*{reduce(lambda a, b: a ^ b, body.encode('ascii'), 0):02X}"


def sentences(latitude: float, longitude: float, when: datetime, fix: bool = True) -> list[str]:
    """The RMC and GGA sentences a receiver at this place and time would send."""
    hms = when.strftime("%H%M%S.") + f"{when.microsecond // 10000:02d}"
    lat = f"{int(abs(latitude)):02d}{abs(latitude) % 1 * 60:07.4f},{'N' if latitude >= 0 else 'S'}"
    lon = f"{int(abs(longitude)):03d}{abs(longitude) % 1 * 60:07.4f},{'E' if longitude >= 0 else 'W'}"
    if not fix:
        return [checksummed(f"GPRMC,{hms},V,,,,,,,{when:%d%m%y},,,N"), checksummed(f"GPGGA,{hms},,,,,0,00,99.9,,M,,M,,")]
    return [checksummed(f"GPRMC,{hms},A,{lat},{lon},0.0,0.0,{when:%d%m%y},,,A"),
            checksummed(f"GPGGA,{hms},{lat},{lon},1,08,0.9,50.0,M,-8.0,M,,")]
