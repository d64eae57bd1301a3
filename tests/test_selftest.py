"""``bodycam selftest``: every check's PASS/WARN/FAIL boundary, the policy, exit codes, the table and the log."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

import firmware.selftest as selftest
from evidence.eventlog import verify
from evidence.keys import FileSigner
from evidence.paths import DataDir
from firmware.selftest import FAIL, PASS, WARN, battery_check, camera_check, key_check, open_hardware, run_selftest
from hw import HardwareError
from hw.battery import BatteryReading, SimulatedBattery
from hw.clock import KernelSync
from tests.conftest import small_config, small_context, write_config
from tests.mounts import tmpfs  # noqa: F401  (fixture)

SIMULATED = {"battery": {"main": "simulated:", "backup": "simulated:"}, "clock": {"rtc": "simulated:"},
             "gnss": {"port": "simulated:"}}


def bodycam(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "firmware", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def cut_clip(path: Path) -> Path:
    """An MP4 whose header (written first) promises 20 frames, cut where their data begins: it
    opens as a camera and fails at the first read, as a camera whose cable comes loose."""
    with av.open(str(path), "w", options={"movflags": "faststart"}) as clip:
        stream = clip.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for n in range(20):
            clip.mux(stream.encode(av.VideoFrame.from_ndarray(np.full((120, 160, 3), n * 10, np.uint8), "rgb24")))
        clip.mux(stream.encode())
    data = path.read_bytes()
    path.write_bytes(data[:data.index(b"mdat") + 4])
    return path


def test_selftest_on_a_pc_prints_every_check_and_names_the_simulated_adapters(tmp_path):
    done = bodycam("selftest", "--config", write_config(tmp_path))
    table = done.stdout
    for name in ("battery.main", "battery.backup", "storage.present", "storage.writable", "storage.probe",
                 "storage.free", "storage.offload", "clock.plausible", "clock.rtc", "clock.source", "gnss",
                 "camera", "microphone", "signing.key"):
        assert f"\n{name} " in table, name
    assert "* simulated (no real device found): battery.main, battery.backup, clock.rtc, gnss, camera, microphone" \
        in table
    assert "signing.key       WARN    not provisioned" in table  # a fresh device has no key yet
    # No FAIL on a PC: exit 1 for the warnings (key; clock, where the kernel is not synchronised).
    assert done.returncode == 1 and "result: WARN: can record" in table
    [event] = verify(DataDir(tmp_path / "data")).records
    assert event["type"] == "selftest" and event["data"]["result"] == "WARN" and event["data"]["exit_code"] == 1


def test_a_read_that_fails_on_its_thread_is_one_sentence_and_its_traceback_only_when_debugging(tmp_path):
    clip = cut_clip(tmp_path / "cut.mp4")
    config = write_config(tmp_path, camera=f"file:{clip}")
    done = bodycam("selftest", "--config", config)
    assert done.returncode == 2 and f"no frame: video file {clip} stopped delivering frames" in done.stdout
    assert done.stderr.splitlines() == [
        f"bodycam: the selftest-read thread failed: video file {clip} stopped delivering frames"], done.stderr
    for debugging in (bodycam("-v", "selftest", "--config", config),
                      bodycam("selftest", "--config", config, env={"BODYCAM_DEBUG": "1"})):
        assert debugging.returncode == 2
        assert "Traceback (most recent call last)" in debugging.stderr
        assert "hw.HardwareError: video file" in debugging.stderr


def test_selftest_json_has_each_check_with_value_and_limit(tmp_path):
    done = bodycam("selftest", "--json", "--config", write_config(tmp_path))
    report = json.loads(done.stdout)
    assert report["exit_code"] == done.returncode == 1
    assert {c["status"] for c in report["checks"]} <= {PASS, WARN}
    camera = next(c for c in report["checks"] if c["name"] == "camera")
    assert camera["simulated"] and camera["limit"] == "a 320x240 frame within 2 s"
    assert set(report["clock"]) == {"trusted", "reason"}


def test_battery_below_shutdown_level_fails_with_exit_2_and_refuses_to_record(tmp_path):
    config = write_config(tmp_path, '[battery]\nmain = "simulated:2"\n')
    done = bodycam("selftest", "--config", config)
    assert done.returncode == 2
    assert "result: FAIL: cannot record: battery.main 2 %" in done.stdout
    refused = bodycam("record", "--seconds", "1", "--config", config)
    assert refused.returncode == 1
    assert "cannot record: battery.main 2 %" in refused.stderr
    assert not (tmp_path / "data" / "spool").exists()  # nothing was started
    assert [r["data"]["when"] for r in verify(DataDir(tmp_path / "data")).records] == ["power-on", "before recording"]


def test_no_camera_fails(tmp_path):
    done = bodycam("selftest", "--config", write_config(tmp_path, camera="v4l2:/dev/no-camera"))
    assert done.returncode == 2 and "camera            FAIL    not found" in done.stdout


def test_a_camera_that_delivers_nothing_fails():
    class Dead:
        width, height, description, simulated = 320, 240, "dead camera", False

        def read(self):
            raise HardwareError("stopped")

    assert camera_check(Dead()).status == FAIL
    assert camera_check(HardwareError("no camera")).status == FAIL


@pytest.mark.parametrize("percent, minutes, expected", [
    (5.0, 100.0, FAIL),   # at the shutdown level: cannot record
    (5.1, 100.0, PASS),
    (50.0, 5.0, WARN),    # the low-battery alarm would fire at once
    (50.0, 5.1, PASS),
    (50.0, None, PASS),   # charging
])
def test_main_battery_boundaries(tmp_path, percent, minutes, expected):
    class Fixed(SimulatedBattery):
        def read(self):
            return BatteryReading(percent, minutes, 3.8, "Discharging" if minutes else "Charging")

    config = small_config(tmp_path)  # shutdown 5 %, low alarm 5 min
    assert battery_check("battery.main", Fixed(), config).status == expected


def test_backup_battery_warns_but_never_fails_and_a_missing_battery_warns(tmp_path):
    config = small_config(tmp_path)
    assert battery_check("battery.backup", SimulatedBattery(5), config, backup=True).status == WARN
    assert battery_check("battery.backup", SimulatedBattery(5.1), config, backup=True).status == PASS
    missing = battery_check("battery.main", HardwareError("no battery at /sys/class/power_supply/BAT0"), config)
    assert missing.status == WARN and "not found" in missing.value


def test_a_gauge_without_draw_is_estimated_from_the_configured_runtime(tmp_path):
    class NoDraw(SimulatedBattery):
        def read(self):
            return BatteryReading(2.0, None, None, "Discharging")

    config = small_config(tmp_path, battery={"full_minutes": 600, "shutdown_percent": 1, "critical_percent": 1,
                                             "low_alarm_minutes": 12})
    check = battery_check("battery.main", NoDraw(), config)
    assert "12 min left" in check.value and check.status == WARN  # 2 % of 600 min: the alarm would fire


def test_signing_key_not_provisioned_then_signs_then_unusable(tmp_path):
    assert key_check(DataDir(tmp_path)).status == WARN
    signer = FileSigner.generate(DataDir(tmp_path).key)
    check = key_check(DataDir(tmp_path))
    assert check.status == PASS and signer.key_id in check.value
    (DataDir(tmp_path).key).chmod(0o644)  # readable by others: refused by the key store
    assert key_check(DataDir(tmp_path)).status == WARN


def test_untrusted_clock_and_low_storage_warn_but_do_not_refuse(tmpfs, monkeypatch):
    monkeypatch.setattr(selftest, "kernel_sync", lambda: KernelSync(False, 16_000_000, 5))
    context = small_context(tmpfs, storage={"reserve_seconds": 3}, **SIMULATED)
    FileSigner.generate(context.data_dir.key)
    with open_hardware(context, with_devices=False) as hardware:
        report = run_selftest(context, hardware)
    statuses = {c.name: c.status for c in report.checks}
    assert statuses["storage.free"] == WARN and statuses["clock.source"] == WARN
    assert not report.clock.trusted and "kernel not synchronised" in report.clock.reason
    assert report.exit_code == 1 and FAIL not in statuses.values()


@pytest.mark.parametrize("overrides, key, words", [
    ({"battery": {"main": "usb:0"}}, "battery.main", "max17048:BUS:ADDRESS"),
    ({"battery": {"critical_percent": 6, "shutdown_percent": 5}}, "battery.shutdown_percent",
     "at or above 'battery.critical_percent'"),
    ({"storage": {"card_mount": "media/sd"}}, "storage.card_mount", "an absolute path"),
    ({"clock": {"rtc": "i2c:0x68"}}, "clock.rtc", "sysfs:PATH"),
    ({"gnss": {"port": "simulated:north"}}, "gnss.port", "pyserial URL"),
    ({"gnss": {"baudrate": 1234}}, "gnss.baudrate", "9600"),
])
def test_bad_self_check_settings_are_refused_in_one_sentence(tmp_path, overrides, key, words):
    from firmware.config import ConfigError
    with pytest.raises(ConfigError) as refused:
        small_config(tmp_path, **overrides)
    message = str(refused.value)
    assert f"'{key}'" in message and words in message and "\n" not in message
