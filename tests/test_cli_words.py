"""Every word a user of the command line reads: Chinese under a zh_CN locale and English
otherwise (gettext), times in the station's zone with the offset written (``--date`` is a day
there), tables for people and ``--json`` for programs, progress on stderr only when asked or at a
terminal, shell completion and ``--version``; run as a user runs them, through ``python -m``."""
from __future__ import annotations

import gettext
import json
import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from babel.messages.pofile import read_po

from scripts.messages import CATALOGUES, extracted
from station.catalogue.catalogue import sessions
from station.services import open_catalogue, pull
from station.words import labels
from sync.ptywire import PtyWire
from tests.conftest import record
from tests.test_dock_archive import device_serving, enrolled_copy

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "a long enough password"
SHANGHAI = ZoneInfo("Asia/Shanghai")
# 02:00 Beijing time on 7 December is still 6 December in UTC; 18:00 Beijing time on the 6th is too.
EARLY = datetime(2026, 12, 7, 2, 0, tzinfo=SHANGHAI)
EVENING = datetime(2026, 12, 6, 18, 0, tzinfo=SHANGHAI)


@pytest.fixture(scope="module")
def station(tmp_path_factory) -> tuple[Path, list[str]]:
    """A station on Asia/Shanghai with an administrator, a supervisor and two docked sessions, re-timed to
    02:00 on the 7th and 18:00 on the 6th, Beijing time; its config file and the sessions."""
    where = tmp_path_factory.mktemp("words")
    recorded = where / "recorded"
    for _ in range(2):
        record(recorded, 1)
    device, archive = enrolled_copy(recorded, where)
    catalogue = open_catalogue(archive)
    with PtyWire() as wire, device_serving(device, wire):
        assert not pull(archive, wire.b, catalogue=catalogue).failed
    found = [session["session"] for session in catalogue.search()]
    with catalogue.engine.begin() as connection:
        for session, moment in zip(found, (EARLY, EVENING)):
            connection.execute(sa.update(sessions).where(sessions.c.session == session)
                               .values(started_ns=int(moment.timestamp()) * 10**9))
    catalogue.engine.dispose()
    config = where / "station.toml"
    config.write_text(f'archive = "{archive}"\ntime_zone = "Asia/Shanghai"\n', encoding="utf-8")
    for name, role in (("admin", "administrator"), ("sup", "supervisor")):
        added = bodycam_station(config, "user", "add", name, "--role", role, user="admin", lang="C.UTF-8")
        assert added.returncode == 0, added.stderr
    return config, found


def bodycam_station(config: Path | None, *args: str, user: str = "sup",
                    lang: str = "zh_CN.UTF-8") -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items()
           if key not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "BODYCAM_CATALOGUE", "BODYCAM_STATION_CONFIG")}
    env.update(PYTHONPATH=str(ROOT), LANG=lang, BODYCAM_USER=user, BODYCAM_PASSWORD=PASSWORD,
               BODYCAM_NEW_PASSWORD=PASSWORD, TZ="UTC")
    where = ["--config", str(config)] if config else []
    return subprocess.run([sys.executable, "-m", "station", *where, *args], capture_output=True, text=True, env=env)


def json_lines(done: subprocess.CompletedProcess) -> list[dict]:
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_date_is_a_day_in_the_station_s_zone_and_tables_show_its_time_with_the_offset(station, tmp_path):
    config, (early, evening) = station
    on_the_7th = json_lines(bodycam_station(config, "search", "--date", "2026-12-07", "--json"))
    assert [s["session"] for s in on_the_7th] == [early]
    assert on_the_7th[0]["started_ns"] == int(EARLY.timestamp()) * 10**9
    assert [s["session"] for s in json_lines(bodycam_station(config, "search", "--date", "2026-12-06", "--json"))] \
        == [evening]
    assert [s["session"] for s in json_lines(bodycam_station(config, "search", "--since", "2026-12-07T01:30:00",
                                                             "--json"))] == [early]     # a time in the zone
    table = bodycam_station(config, "search", "--date", "2026-12-07")
    assert table.returncode == 0 and "2026-12-07 02:00:00+08:00" in table.stdout
    in_utc = tmp_path / "utc.toml"
    in_utc.write_text(config.read_text().replace("Asia/Shanghai", "UTC"), encoding="utf-8")
    assert {s["session"] for s in json_lines(bodycam_station(in_utc, "search", "--date", "2026-12-06", "--json"))} \
        == {early, evening}
    assert "2026-12-06 18:00:00+00:00" in bodycam_station(in_utc, "search", "--date", "2026-12-06").stdout


def test_the_command_line_speaks_chinese_under_zh_cn_and_english_otherwise(station):
    config, (early, _) = station
    chinese, english = bodycam_station(config, "--help"), bodycam_station(config, "--help", lang="C.UTF-8")
    assert chinese.stdout.startswith("用法：bodycam-station")
    assert "按警员、设备、单位、日期、案件、标记等检索录像" in chinese.stdout
    assert english.stdout.startswith("usage: bodycam-station") and "find sessions by officer" in english.stdout
    assert "显示本帮助信息并退出" in bodycam_station(config, "search", "--help").stdout
    wrong = bodycam_station(config, "search", "--date", "2026-13-01")
    assert (wrong.returncode, wrong.stderr) == (1, "bodycam-station: '2026-13-01' 不是日期 YYYY-MM-DD\n")
    assert bodycam_station(config, "search", "--date", "2026-13-01", lang="en_GB.UTF-8").stderr == \
        "bodycam-station: '2026-13-01' is not a date YYYY-MM-DD\n"
    missing = bodycam_station(config, "hold", "--session", early)
    assert missing.returncode == 2 and "缺少以下必需参数：--reason" in missing.stderr
    [found] = json_lines(bodycam_station(config, "search", "--date", "2026-12-07", "--json"))
    table = bodycam_station(config, "search", "--date", "2026-12-07").stdout.splitlines()
    assert table[0].split()[:3] == ["录像", "开始时间", "警号"]
    assert labels.label("stop", found["stop_reason"], "zh") in table[1] and found["stop_reason"] not in table[1]
    english_table = bodycam_station(config, "search", "--date", "2026-12-07", lang="C.UTF-8").stdout.splitlines()
    assert english_table[0].split()[:2] == ["Session", "Started"] and found["stop_reason"] in english_table[1]


def test_audit_show_and_the_other_listings_read_in_chinese_with_json_lines_on_request(station):
    config, (early, _) = station
    assert bodycam_station(config, "search", "--officer", "012345", "--json").returncode in (0, 1)
    shown = bodycam_station(config, "audit", "show")
    assert shown.returncode == 0, shown.stderr
    searches = [line for line in shown.stdout.splitlines() if "012345" in line]
    assert searches and "检索" in searches[-1] and "检索条件: 警员：012345" in searches[-1]
    assert "criteria=" not in shown.stdout and "{'" not in shown.stdout and "_ns=" not in shown.stdout
    assert "主管" in shown.stdout and "+08:00" in shown.stdout
    english = bodycam_station(config, "audit", "show", lang="C.UTF-8").stdout
    assert "criteria: officer: 012345" in english and "supervisor" in english
    entries = json_lines(bodycam_station(config, "audit", "show", "--json"))
    assert any(e["entry"]["detail"].get("criteria") == {"officer": "012345"} for e in entries)
    viewed = bodycam_station(config, "view", early, "--reason", "投诉核查：复看执法过程")
    assert viewed.returncode == 0 and viewed.stdout.startswith(f"录像 {early}：校验通过；停止原因：")
    assert all(line.split()[1] == "完好" for line in viewed.stdout.splitlines()[1:])
    users = bodycam_station(config, "user", "list", user="admin").stdout
    assert "系统管理员" in users and "主管" in users and "administrator" not in users
    bays = bodycam_station(config, "bays").stdout.splitlines()
    assert bays[0].split()[:2] == ["仓位", "状态"] and bays[-1] == "尚无仓位：采集服务是否在此存档上运行？"
    for listing in (("pending",), ("export", "ledger")):
        assert bodycam_station(config, *listing, "--json").returncode == 0, listing
    assert bodycam_station(config, "ledger", "--json", user="admin").returncode == 0


def test_long_work_shows_progress_on_stderr_only_when_asked_or_at_a_terminal(station):
    config, found = station
    quiet = bodycam_station(config, "rebuild")
    assert quiet.returncode == 0 and quiet.stderr == ""
    shown = bodycam_station(config, "rebuild", "--progress")
    assert shown.returncode == 0 and shown.stdout == quiet.stdout
    assert [line.split()[:2] for line in shown.stderr.splitlines()] == [["编目中", f"{n}/{len(found)}"]
                                                                       for n in range(1, len(found) + 1)]
    archive = Path(config.read_text().split('"')[1])
    verified = bodycam_station(config, "verify", str(archive), "--progress", lang="C.UTF-8")
    assert [line.split()[:2] for line in verified.stderr.splitlines()[:len(found)]] == \
        [["verifying", f"{n}/{len(found)}"] for n in range(1, len(found) + 1)]


def test_completion_scripts_and_versions_of_both_command_lines(station):
    config, _ = station
    script = bodycam_station(config, "completion", "bash")
    assert script.returncode == 0 and "complete" in script.stdout
    assert all(word in script.stdout for word in ("search", "rebuild", "--json", "--progress", "--date"))
    assert "#compdef bodycam-station" in bodycam_station(config, "completion", "zsh").stdout
    version = subprocess.run([sys.executable, "-c", "from firmware.version import __version__; print(__version__)"],
                             capture_output=True, text=True, cwd=ROOT).stdout.strip()
    assert bodycam_station(None, "--version").stdout == f"bodycam-station {version}\n"
    device = subprocess.run([sys.executable, "-m", "firmware", "--version"], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert device.stdout == f"bodycam {version}\n"
    device_script = subprocess.run([sys.executable, "-m", "firmware", "completion", "bash"], capture_output=True,
                                   text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert "record" in device_script.stdout and "selftest" in device_script.stdout


@pytest.mark.parametrize("po", sorted(CATALOGUES), ids=lambda po: po.stem)
def test_each_chinese_catalogue_is_complete_and_the_shipped_mo_is_compiled_from_it(po):
    with open(po, "rb") as fh:
        written = read_po(fh, locale="zh_CN")
    untranslated = [message.id for message in written if message.id and not message.string]
    assert untranslated == []
    with open(po.with_suffix(".mo"), "rb") as fh:
        compiled = gettext.GNUTranslations(fh)
    assert {message.id: message.string for message in written if message.id} == \
        {key: value for key, value in compiled._catalog.items() if key}
    assert set(extracted(CATALOGUES[po])) <= {message.id for message in written}     # every _("…") is in it


def test_the_device_s_command_line_helps_in_chinese_under_zh_cn():
    def bodycam_help(lang: str) -> str:
        env = {key: value for key, value in os.environ.items() if key not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES")}
        return subprocess.run([sys.executable, "-m", "firmware", "record", "--help"], capture_output=True, text=True,
                              env={**env, "PYTHONPATH": str(ROOT), "LANG": lang}).stdout

    chinese, english = bodycam_help("zh_CN.UTF-8"), bodycam_help("C.UTF-8")
    assert chinese.startswith("用法：bodycam record") and "录制这么多秒后停止" in chinese
    assert english.startswith("usage: bodycam record") and "stop after this much footage" in english


def flipped(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 1]) + data[middle + 1:]


@pytest.mark.parametrize("damage, words", [
    (flipped, "个分片与签名封存时不一致"),
    (lambda data: data[:len(data) - 100], "被截断"),
    (lambda data: data + b"\0" * 10, "签名封存的结尾之后"),
])
def test_the_verifier_s_details_read_in_chinese(station, tmp_path, damage, words):
    """What the verifier says of a changed, cut or lengthened segment, rendered in Chinese."""
    from evidence.verify import verify_session

    config, (early, _) = station
    archive = Path(config.read_text().split('"')[1])
    [folder] = [path for path in archive.rglob(early) if path.is_dir()]
    copy = tmp_path / early
    shutil.copytree(folder, copy)
    video = copy / "seg-000001.mp4"
    video.chmod(0o644)
    video.write_bytes(damage(video.read_bytes()))
    said = verify_session(copy).segments[0].detail
    assert words in labels.detail(said, "zh") and labels.detail(said, "en") == said, said
