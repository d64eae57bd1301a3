"""The inspection ledger (检查台账): every sampled session of every draw and its finding, by unit
and officer, as CSV (UTF-8 with a byte-order mark, so a spreadsheet reads the Chinese) and as a
PDF in Chinese in the record form's style (landscape A4, Noto Sans CJK embedded)."""
from __future__ import annotations

import csv
import io
from datetime import tzinfo
from pathlib import Path
from typing import Any

from station.custody.recordform import chinese_pdf, local_time
from station.supervision.inspections import ANSWERS, CHECKS, VERDICTS
from station.words import zone

TITLE = "执法记录仪使用情况检查台账"
COLUMNS = ("单位", "警员", "警号", "设备", "录像", "录像开始", "抽检编号", "抽取人", "抽取时间", "随机种子",
           *CHECKS, "结论", "检查人", "检查时间", "说明", "核验")


def state(entry: dict[str, Any]) -> str:
    """A ledger line's state: waiting for its finding, its verdict, or the finding rejected."""
    if entry["finding"] is None:
        return "待检查"
    return "被篡改，不予采信" if entry["problem"] else "签名有效"


def _when(ns: int | None, station_zone: tzinfo) -> str:
    return local_time(ns, station_zone) if ns is not None else ""


def values(entry: dict[str, Any], station_zone: tzinfo) -> list[str]:
    """One ledger line's values, in the order of ``COLUMNS``, times in ``station_zone``."""
    finding = entry["finding"] or {}
    checks = finding.get("checks", {})
    return [f"{entry['unit']}（{entry['unit_number']}）", entry["officer"], entry["police_number"], entry["device"],
            entry["session"], _when(entry["started_ns"], station_zone), str(entry["draw"]), entry["drawn_by"],
            _when(entry["drawn_ns"], station_zone), entry["seed"], *(ANSWERS.get(checks.get(rule), "") for rule in CHECKS),
            VERDICTS.get(finding.get("verdict"), "待检查"), finding.get("inspected_by", ""),
            _when(finding.get("inspected_ns"), station_zone), finding.get("note", ""), state(entry)]


def to_csv(entries: list[dict[str, Any]], station_zone: tzinfo) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows(values(entry, station_zone) for entry in entries)
    return "\ufeff" + out.getvalue()


def write_pdf(entries: list[dict[str, Any]], path: Path, *, printed_by: str, printed_ns: int,
              station_zone: tzinfo) -> None:
    """The ledger on landscape A4: one table a unit, its lines by officer and draw, times in ``station_zone``."""
    pdf = chinese_pdf(TITLE, orientation="landscape")
    pdf.set_font("noto", size=9)
    legend = "；".join(f"{rule} {text}" for rule, text in CHECKS.items())
    pdf.multi_cell(0, 5, f"制表人：{printed_by}    制表时间：{local_time(printed_ns, station_zone)}    表中时间为本站时区 "
                         f"{zone.offset_text(printed_ns, station_zone)}\n检查项目：{legend}", new_x="LMARGIN", new_y="NEXT")
    units: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        units.setdefault(f"{entry['unit']}（{entry['unit_number']}）", []).append(entry)
    for unit, lines in units.items():
        pdf.ln(3)
        pdf.set_font("noto", "B", 11)
        pdf.cell(0, 8, f"单位：{unit}    抽检 {len(lines)} 个录像，"
                       f"规范 {_count(lines, 'compliant')}，不规范 {_count(lines, 'noncompliant')}，"
                       f"待检查 {sum(1 for e in lines if e['finding'] is None)}", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("noto", size=7)
        with pdf.table(col_widths=(18, 14, 16, 50, 9, 24, *(10,) * len(CHECKS), 12, 13, 24, 28, 19),
                       line_height=4.5) as table:
            table.row(["警员", "警号", "设备", "录像", "抽检", "抽取时间", *CHECKS, "结论", "检查人", "检查时间",
                       "说明", "核验"])
            for entry in lines:
                finding = entry["finding"] or {}
                line = values(entry, station_zone)
                table.row([entry["officer"], entry["police_number"], entry["device"], entry["session"],
                           str(entry["draw"]), _minute(entry["drawn_ns"], station_zone), *line[10:10 + len(CHECKS)],
                           line[10 + len(CHECKS)], finding.get("inspected_by", ""),
                           _minute(finding.get("inspected_ns"), station_zone), finding.get("note", ""), state(entry)])
    pdf.ln(6)
    pdf.set_font("noto", size=11)
    pdf.cell(0, 10, "检查人签名：________________    审核领导签字：________________    日期：____________",
             new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))


def _minute(ns: int | None, station_zone: tzinfo) -> str:
    """A time in the PDF's table: the station's time to the minute (the zone is in the heading)."""
    return zone.moment(ns, station_zone).strftime("%Y-%m-%d %H:%M") if ns is not None else ""


def _count(lines: list[dict[str, Any]], verdict: str) -> int:
    return sum(1 for entry in lines if entry["finding"] and entry["finding"]["verdict"] == verdict)
