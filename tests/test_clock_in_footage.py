"""An untrusted clock is a warning carried into the footage, not a refusal: the records say so."""
from __future__ import annotations

import subprocess
import sys

from evidence.records import read_record
from tests.conftest import write_config


def record_with_rtc(tmp_path, rtc: str):
    config = write_config(tmp_path, f'[clock]\nrtc = "{rtc}"\n')
    result = subprocess.run([sys.executable, "-m", "firmware", "record", "--seconds", "1", "--config", str(config)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    [session] = (tmp_path / "data" / "spool").iterdir()
    return result, session


def test_an_rtc_that_disagrees_is_recorded_as_an_untrusted_clock(tmp_path):
    result, session = record_with_rtc(tmp_path, "simulated:120")
    assert "clock" in result.stdout.lower()
    for name in ("session-open.json", "seg-000001.mp4.manifest"):
        clock = read_record(session / name).body["clock"]
        assert clock["status"] == "untrusted"
        assert "RTC" in clock["reason"] or "rtc" in clock["reason"]


def test_the_self_test_verdict_replaces_unchecked(tmp_path):
    _, session = record_with_rtc(tmp_path, "simulated:")
    clock = read_record(session / "seg-000001.mp4.manifest").body["clock"]
    # This sandbox's kernel clock is not synchronised and a simulated GNSS is no time source,
    # so the honest verdict here names its reason whichever way it goes.
    assert clock["status"] in ("trusted", "untrusted") and clock["reason"]
