"""A bad configuration is refused at start with one sentence naming the key."""
from __future__ import annotations

import subprocess
import sys

import pytest

from firmware import config as configuration


def write(tmp_path, text):
    path = tmp_path / "bodycam.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_embedded_default_is_valid():
    config = configuration.load()
    assert config["video"]["fps"] == 30
    assert config["recording"]["segment_seconds"] == 60
    assert config["sources"]["camera"] == "auto"


def test_file_overrides_default_and_keeps_chinese_names(tmp_path):
    config = configuration.load(write(tmp_path, '[officer]\nname = "张三"\n[video]\nfps = 25\n'))
    assert config["officer"]["name"] == "张三"
    assert config["video"]["fps"] == 25
    assert config["video"]["width"] == 1920


@pytest.mark.parametrize("text, key, words", [
    ("[video]\nfsp = 30\n", "video.fsp", "unknown key"),
    ("[vidoe]\nfps = 30\n", "vidoe", "unknown section"),
    ('[video]\nfps = "30"\n', "video.fps", "must be a whole number"),
    ("[video]\nfps = true\n", "video.fps", "must be a whole number"),
    ("[video]\nfps = 0\n", "video.fps", "from 1 to 60"),
    ("[video]\nwidth = 1921\n", "video.width", "even number"),
    ("[recording]\nsegment_seconds = 1\n", "recording.segment_seconds", "from 2 to 3600"),
    ('[device]\nserial = "BC1"\n', "device.serial", "exactly 7"),
    ('[officer]\npolice_number = "12345a"\n', "officer.police_number", "exactly 6 digits"),
    ('[officer]\npolice_number = "１２３４５６"\n', "officer.police_number", "digits 0-9"),   # full-width digits
    ('[unit]\nnumber = "١١٠١٠٥٠٠٠٠٠٠"\n', "unit.number", "digits 0-9"),   # Arabic-Indic digits
    ('[officer]\nname = "' + "名" * 33 + '"\n', "officer.name", "1 to 32 characters"),
    ('[unit]\nnumber = "123"\n', "unit.number", "exactly 12 digits"),
    ('[sources]\ncamera = "usb0"\n', "sources.camera", "simulated:"),
    ("video = 3\n", "video", "must be a [video] table"),
    ("[dock]\nbaudrate = 250000\n", "dock.baudrate", "a standard line rate"),
    ("[dock]\nbaudrate = 4800\n", "dock.baudrate", "a standard line rate"),
])
def test_bad_values_are_refused_naming_the_key(tmp_path, text, key, words):
    with pytest.raises(configuration.ConfigError) as refused:
        configuration.load(write(tmp_path, text))
    message = str(refused.value)
    assert f"'{key}'" in message
    assert words in message
    assert message.count("\n") == 0


def test_invalid_toml_and_missing_file_are_refused(tmp_path):
    with pytest.raises(configuration.ConfigError, match="not valid TOML"):
        configuration.load(write(tmp_path, "[video\nfps = 30\n"))
    with pytest.raises(configuration.ConfigError, match="cannot read"):
        configuration.load(tmp_path / "absent.toml")


def test_overrides_are_checked_by_the_same_rules():
    with pytest.raises(configuration.ConfigError, match="'video.height'"):
        configuration.load().with_overrides({"video": {"height": 7}})


def test_record_refuses_a_bad_config_before_recording(tmp_path):
    path = write(tmp_path, f'[video]\nfps = "fast"\n[device]\ndata_dir = "{tmp_path / "data"}"\n')
    result = subprocess.run([sys.executable, "-m", "firmware", "record", "--seconds", "1", "--config", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "'video.fps' must be a whole number" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists()


def test_data_dir_under_recording_is_still_read_with_one_warning(tmp_path, caplog):
    path = write(tmp_path, f'[recording]\ndata_dir = "{tmp_path / "old"}"\nsegment_seconds = 5\n')
    config = configuration.load(path)
    assert config["device"]["data_dir"] == str(tmp_path / "old") and config["recording"]["segment_seconds"] == 5
    assert "data_dir" not in config["recording"]
    [warning] = [r for r in caplog.records if r.levelname == "WARNING"]
    message = warning.getMessage()
    assert str(path) in message and "'device.data_dir'" in message
    assert "\n" not in message


def test_data_dir_in_both_places_is_refused_naming_both(tmp_path):
    path = write(tmp_path, f'[device]\ndata_dir = "{tmp_path / "new"}"\n[recording]\ndata_dir = "{tmp_path / "old"}"\n')
    with pytest.raises(configuration.ConfigError) as refused:
        configuration.load(path)
    message = str(refused.value)
    assert "'recording.data_dir'" in message and "'device.data_dir'" in message and "\n" not in message


def test_data_dir_under_recording_is_refused_from_code():
    """Only a file written before the move is forgiven: code uses the new key."""
    with pytest.raises(configuration.ConfigError, match="unknown key 'recording.data_dir'"):
        configuration.load().with_overrides({"recording": {"data_dir": "/tmp/x"}})


def test_an_old_config_file_records_where_it_says_and_bodycam_warns_once(tmp_path):
    path = write(tmp_path, f'[recording]\ndata_dir = "{tmp_path / "data"}"\n[sources]\ncamera = "simulated:"\n'
                           f'microphone = "simulated:"\n[video]\nwidth = 320\nheight = 240\n')
    result = subprocess.run([sys.executable, "-m", "firmware", "inspect", "--config", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert f"no recordings in {tmp_path / 'data' / 'spool'}" in result.stdout
    [warning] = result.stderr.splitlines()
    assert str(path) in warning and "'device.data_dir'" in warning
