"""GNSS: NMEA written into a real pseudo-terminal and read through pyserial; malformed input never stops the reader."""
from __future__ import annotations

import dataclasses
import os
import time
from datetime import datetime, timezone

import pytest

from firmware.selftest import PASS, WARN, gnss_check
from hw import AdapterClosed, HardwareError
from hw.gnss import Gnss, NmeaParser, SerialGnss, SimulatedGnss, checksummed, sentences
from hw.sources import open_gnss
from tests.waiting import wait_for


@pytest.fixture
def receiver():
    """A SerialGnss reading the slave side of a pty; the test writes NMEA into the master side."""
    master, slave = os.openpty()
    gnss = SerialGnss(os.ttyname(slave))
    try:
        yield gnss, lambda *lines: os.write(master, "".join(f"{line}\r\n" for line in lines).encode("latin-1"))
    finally:
        gnss.close()
        os.close(master)
        os.close(slave)


def test_fix_position_and_utc_from_rmc_and_gga_over_a_pty(receiver):
    gnss, send = receiver
    when = datetime(2026, 5, 1, 8, 30, 15, 250000, tzinfo=timezone.utc)
    send(*sentences(22.5431, -114.0579, when))
    wait_for(lambda: gnss.state().sentences == 2, "2 sentences read")
    position = gnss.position()
    assert gnss.fix and not gnss.simulated
    assert position.latitude == pytest.approx(22.5431, abs=1e-6)
    assert position.longitude == pytest.approx(-114.0579, abs=1e-6)
    assert position.satellites == 8 and position.altitude == 50.0
    assert gnss.state().utc == when
    assert str(position) == "22.54310N 114.05790W"


def test_no_fix_gives_no_position(receiver):
    gnss, send = receiver
    send(*sentences(22.5, 114.0, datetime.now(timezone.utc), fix=False))
    wait_for(lambda: gnss.state().sentences == 2, "2 sentences read")
    assert not gnss.fix and gnss.position() is None
    check = gnss_check(gnss, wait=0)
    assert check.status == WARN and "no fix (2 sentences, 0 malformed)" in check.value


def test_losing_the_fix_drops_the_position(receiver):
    gnss, send = receiver
    now = datetime.now(timezone.utc)
    send(*sentences(22.5, 114.0, now))
    wait_for(lambda: gnss.state().sentences == 2, "2 sentences read")
    assert gnss.fix
    send(*sentences(22.5, 114.0, now, fix=False))
    wait_for(lambda: gnss.state().sentences == 4, "4 sentences read")
    assert not gnss.fix and gnss.position() is None


MALFORMED = [
    "garbage",
    "$GPRMC,123519,A,4807.038,N*00",  # wrong checksum
    "$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W",  # no checksum
    checksummed("GPRMC,123519,A,48xx.038,N,01131.000,E,022.4,084.4,230394,003.1,W"),  # checksum fine, field not
    checksummed("GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,320394,003.1,W"),  # 32nd of March
    checksummed("GPGGA,123519,4807.038,N,01131.000,E,x,08,0.9,545.4,M,46.9,M,,"),  # pynmea2 keeps 'x' as text
    checksummed("GPGGA,123519,4807.038,N,01131.000,E,1,zz,0.9,abc,M,46.9,M,,"),
    "$GPRMC," + "9" * 5000,
    "\x00\xff\xfe$GP\x80\x81",
    "$",
]


def test_malformed_nmea_is_counted_and_never_stops_the_reader(receiver):
    gnss, send = receiver
    send(*MALFORMED)
    send(*sentences(48.1173, 11.5167, datetime.now(timezone.utc)))
    wait_for(lambda: gnss.state().sentences == 2, "2 sentences read")
    state = gnss.state()
    assert state.malformed >= 9 and gnss.error is None
    assert gnss.fix and gnss.position().latitude == pytest.approx(48.1173, abs=1e-6)


def test_parser_alone_survives_every_malformed_line_and_ignores_other_sentences():
    parser = NmeaParser()
    for line in MALFORMED + [b"\xff\xfe\xfd", checksummed("GPGSV,1,1,00")]:
        assert parser.feed(line) is False
    assert parser.state.sentences == 0 and parser.state.position is None


def test_a_stale_fix_is_no_fix():
    gnss = Gnss()
    for line in sentences(22.5, 114.0, datetime.now(timezone.utc)):
        gnss._parser.feed(line)
    assert gnss.fix
    gnss._parser.state = dataclasses.replace(gnss.state(), received_monotonic_ns=time.monotonic_ns() - 6 * 10**9)
    assert not gnss.fix and gnss.position() is None


def test_simulated_twin_goes_through_the_parser_and_is_named():
    gnss = open_gnss("simulated:30.5,-60.25")
    assert gnss.simulated and "simulated GNSS" in gnss.description
    assert str(gnss.position()) == "30.50000N 60.25000W"
    assert gnss.state().sentences >= 2
    check = gnss_check(gnss)
    assert check.status == PASS and check.simulated and "8 satellites" in check.value
    assert gnss_check(SimulatedGnss(fix=False)).status == WARN


def test_open_gnss_none_missing_port_and_bad_urls():
    assert open_gnss("none") is None
    assert gnss_check(None).status == WARN
    with pytest.raises(HardwareError, match="cannot open the GNSS port"):
        open_gnss("/dev/does-not-exist")
    with pytest.raises(HardwareError):
        open_gnss("simulated:north")


def test_close_is_safe_twice(receiver):
    gnss, _ = receiver
    gnss.close()
    gnss.close()
    assert gnss.closed and not gnss._port.is_open and not gnss._thread.is_alive()
    with pytest.raises(AdapterClosed, match="is closed"):
        gnss.position()
