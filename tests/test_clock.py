"""The clock: a fake RTC tree, the kernel's adjtimex, the dock's time-set, and the trusted/untrusted verdict."""
from __future__ import annotations

import ctypes
import os
import time
from datetime import datetime, timezone

import pytest

import firmware.selftest as selftest
from evidence.paths import DataDir
from firmware.selftest import PASS, WARN, clock_checks, clock_verdict
from firmware.version import BUILD_DATE
from hw import HardwareError
from hw.clock import STA_UNSYNC, KernelSync, SimulatedRtc, SysfsRtc, kernel_sync
from hw.gnss import Gnss
from hw.sources import open_rtc
from tests.conftest import small_context


def rtc_tree(tmp_path, seconds):
    root = tmp_path / "rtc0"
    root.mkdir(exist_ok=True)
    (root / "since_epoch").write_text(f"{seconds}\n")
    return root


def by_name(checks):
    return {c.name: c for c in checks}


@pytest.fixture
def synced(monkeypatch):
    monkeypatch.setattr(selftest, "kernel_sync", lambda: KernelSync(True, 20_000, 0))


@pytest.fixture
def unsynced(monkeypatch):
    monkeypatch.setattr(selftest, "kernel_sync", lambda: KernelSync(False, 16_000_000, 5))


def test_sysfs_rtc_reads_since_epoch_and_auto_falls_back_to_simulated(tmp_path):
    root = rtc_tree(tmp_path, 1_800_000_000)
    assert SysfsRtc(root).read() == 1_800_000_000
    assert isinstance(open_rtc("auto", root), SysfsRtc)
    auto = open_rtc("auto", tmp_path / "none")
    assert isinstance(auto, SimulatedRtc) and auto.simulated
    assert open_rtc("simulated:3600").read() == pytest.approx(time.time() + 3600, abs=1.5)
    with pytest.raises(HardwareError, match="cannot read the RTC"):
        SysfsRtc(tmp_path / "missing").read()
    (root / "since_epoch").write_text("garbage")
    with pytest.raises(HardwareError):
        SysfsRtc(root).read()
    with pytest.raises(HardwareError, match="unknown RTC"):
        open_rtc("i2c:0x68")


def test_kernel_sync_reads_adjtimex_without_privilege_and_reads_the_unsync_flag(monkeypatch):
    real = kernel_sync()  # the real call, read-only
    assert real.state in range(6) and real.max_error_us >= 0

    class FakeLibc:
        def __init__(self, status, state):
            self.status, self.state = status, state

        def adjtimex(self, pointer):
            timex = ctypes.cast(pointer, ctypes.POINTER(type(pointer._obj))).contents
            assert timex.modes == 0, "the self-test must never change the clock"
            timex.status, timex.maxerror = self.status, 1234
            return self.state

    import hw.clock
    monkeypatch.setattr(hw.clock, "_libc", FakeLibc(0, 0))
    assert kernel_sync() == KernelSync(True, 1234, 0)
    monkeypatch.setattr(hw.clock, "_libc", FakeLibc(STA_UNSYNC, 5))
    assert not kernel_sync().synchronised
    monkeypatch.setattr(hw.clock, "_libc", FakeLibc(0, 5))  # TIME_ERROR alone is not synchronised either
    assert not kernel_sync().synchronised


def test_a_clock_before_the_build_date_is_untrusted(tmp_path, synced):
    before = datetime.fromisoformat(BUILD_DATE).replace(tzinfo=timezone.utc).timestamp() - 1
    checks = clock_checks(SimulatedRtc(now=lambda: before), None, small_context(tmp_path), now=before)
    assert by_name(checks)["clock.plausible"].status == WARN
    verdict = clock_verdict(checks)
    assert not verdict.trusted and "clock.plausible" in verdict.reason and BUILD_DATE in checks[0].limit


def test_the_self_test_says_what_the_picture_shows_of_the_clock(tmp_path, synced, monkeypatch):
    context = small_context(tmp_path)
    build = datetime.fromisoformat(BUILD_DATE).replace(tzinfo=timezone.utc).timestamp()

    def line(now):
        checks = clock_checks(SimulatedRtc(now=lambda: now), None, context, now=now)
        return selftest.Report("power-on", checks, clock_verdict(checks), 0.0, "时间未校准 / UNVERIFIED").clock_line()

    assert line(build + 60).startswith("clock: verified") and "shows the time" in line(build + 60)
    assert "CLOCK NOT SET" in line(build - 1) and line(build - 1).startswith("clock: WRONG")
    monkeypatch.setattr(selftest, "kernel_sync", lambda: KernelSync(False, 16_000_000, 5))
    unverified = line(build + 60)
    assert unverified.startswith("clock: UNVERIFIED") and "'时间未校准 / UNVERIFIED'" in unverified
    assert "CLOCK NOT SET" not in unverified


def test_an_rtc_that_disagrees_is_untrusted_and_one_within_the_drift_passes(tmp_path, synced):
    context = small_context(tmp_path, clock={"max_drift_seconds": 2})
    now = 1_900_000_000.7
    for offset, expected in [(0, PASS), (2, PASS), (-2, PASS), (3, WARN), (-3600, WARN)]:
        checks = clock_checks(SysfsRtc(rtc_tree(tmp_path, int(now) + offset)), None, context, now=now)
        assert by_name(checks)["clock.rtc"].status == expected, offset
    verdict = clock_verdict(checks)
    assert not verdict.trusted and "differs: -3600 s" in verdict.reason


def test_missing_rtc_is_a_warning(tmp_path, synced):
    checks = clock_checks(HardwareError("no RTC"), None, small_context(tmp_path))
    assert by_name(checks)["clock.rtc"].status == WARN


def test_kernel_synchronised_clock_is_trusted(tmp_path, synced):
    verdict = clock_verdict(clock_checks(SimulatedRtc(), None, small_context(tmp_path)))
    assert verdict.trusted and "kernel synchronised" in verdict.reason


def test_dock_time_set_vouches_until_it_is_too_old(tmp_path, unsynced):
    context = small_context(tmp_path, clock={"max_hours_since_set": 24})
    checks = by_name(clock_checks(SimulatedRtc(), None, context))
    assert checks["clock.source"].status == WARN and "never set by the dock" in checks["clock.source"].value
    stamp = DataDir(tmp_path).clock_set
    stamp.touch()
    os.utime(stamp, (time.time() - 23 * 3600,) * 2)
    verdict = clock_verdict(clock_checks(SimulatedRtc(), None, context))
    assert verdict.trusted and "set by the dock 23.0 h ago" in verdict.reason
    os.utime(stamp, (time.time() - 25 * 3600,) * 2)
    verdict = clock_verdict(clock_checks(SimulatedRtc(), None, context))
    assert not verdict.trusted and "set by the dock 25 h ago" in verdict.reason


class FedGnss(Gnss):
    """A real (not simulated) receiver whose sentences the test hands in directly."""

    def feed(self, *lines):
        for line in lines:
            self._parser.feed(line)
        return self


def gnss_at(when: datetime) -> FedGnss:
    from hw.gnss import sentences
    return FedGnss().feed(*sentences(31.2304, 121.4737, when))


def test_gnss_time_vouches_for_the_clock_and_contradicts_it_when_off(tmp_path, unsynced):
    context = small_context(tmp_path, clock={"max_drift_seconds": 2})
    now = datetime.now(timezone.utc)
    verdict = clock_verdict(clock_checks(SimulatedRtc(), gnss_at(now), context))
    assert verdict.trusted and "GNSS time agrees" in verdict.reason
    verdict = clock_verdict(clock_checks(SimulatedRtc(), gnss_at(now.replace(year=now.year - 1)), context))
    assert not verdict.trusted and "GNSS time differs" in verdict.reason


def test_a_simulated_gnss_never_vouches_for_the_clock(tmp_path, unsynced):
    from hw.gnss import SimulatedGnss
    verdict = clock_verdict(clock_checks(SimulatedRtc(), SimulatedGnss(), small_context(tmp_path)))
    assert not verdict.trusted and "no GNSS time" in verdict.reason
