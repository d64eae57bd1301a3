"""The usage report (定期通报) as people read it: its charts, a PDF in Chinese for the unit's
file, and CSV (one figure a line). The page draws the same charts and figures (web/routes/reports.py)."""
from __future__ import annotations

import csv
import io

from station.custody.recordform import chinese_pdf, local_time
from station.supervision import charts
from station.supervision.charts import Chart
from station.supervision.inspections import VERDICTS
from station.supervision.grid import grid
from station.supervision.undocked import LATE, NOT_DOCKED, ON_TIME
from station.supervision.usage import Usage
from station.words import labels, zone

TITLE = "执法记录仪使用情况定期通报"
DOCKING = {ON_TIME: "24小时内接入", LATE: "超过24小时接入", NOT_DOCKED: "尚未接入"}


def stop_name(code: str) -> str:
    """A stop reason's Chinese label ("" : the session has no close record)."""
    return labels.label("stop", code, "zh")


def figures(report: Usage) -> list[tuple[str, str]]:
    """The report's summary, (label, value) in the order the PDF, the page and the CSV give it."""
    rows = [("录像数", str(report.sessions)), ("录像时长（小时）", f"{report.hours:.1f}"),
            ("使用设备数", str(len(report.devices))), ("佩戴民警数", str(len(report.officers)))]
    rows += [(f"结束后{DOCKING[key]}", str(report.docking[key])) for key in (ON_TIME, LATE, NOT_DOCKED)]
    rows += [("48小时内存入中心存储", str(report.stored_in_time)), ("超过48小时存入中心存储", str(report.stored_late)),
             ("尚未存入中心存储", str(report.not_stored)), ("中断录像数", str(report.interrupted)),
             ("需补录说明的录像", str(report.needing_writeup)), ("尚未补录说明", str(len(report.pending_writeups))),
             ("拒绝接入次数（链回退或分叉）", str(len(report.refused_dockings))),
             ("被篡改分段数", str(report.tampered_segments)),
             ("签名民警与设备台账不符", str(len(report.mismatches)))]
    if report.findings is not None:
        rows += [(f"抽检结论：{VERDICTS.get(verdict, verdict)}", str(count))
                 for verdict, count in sorted(report.findings.items())]
    return rows


def chart_set(report: Usage) -> list[tuple[str, Chart]]:
    """The report's charts, each with its id on the page."""
    found = [("chart-days", Chart("每日录像时长", [(day[5:], hours) for day, _, hours in report.days], "小时")),
             ("chart-docking", Chart("接入及时性（S1）", [(DOCKING[key], report.docking[key])
                                                     for key in (ON_TIME, LATE, NOT_DOCKED)], "条", charts.COLOURS[2])),
             ("chart-stops", Chart("停止录像原因", [(stop_name(code), count) for code, count
                                               in report.stops.most_common()], "条", charts.COLOURS[1])),
             ("chart-officers", Chart("各民警录像时长", [(person.name, person.hours) for person in
                                                   sorted(report.officers.values(), key=lambda p: -p.hours)],
                                     "小时", charts.COLOURS[4]))]
    return found


def unit_text(report: Usage) -> str:
    if report.unit is None:
        return "全部单位"
    return f"{report.unit_name}（{report.unit}）" if report.unit_name else report.unit


def pdf_bytes(report: Usage) -> bytes:
    """The report on A4 in Chinese: heading, figures, charts, then each officer, each device and
    each session needing attention."""
    pdf = chinese_pdf(TITLE, bold=False)
    pdf.set_font("noto", size=10)
    offset = zone.offset_text(report.made_ns, report.zone)
    heading = [("单位", unit_text(report)), ("统计期间", f"{report.period.label}（本站时区 {offset}）"),
               ("生成时间", local_time(report.made_ns, report.zone))]
    grid(pdf, (62, 128), heading + figures(report), header=False)
    for _, chart in chart_set(report):
        charts.draw(pdf, chart)
    _section(pdf, "各民警使用情况")
    grid(pdf, (52, 16, 20, 52, 16, 16, 18), [("民警", "录像数", "时长(小时)", "使用设备", "超时接入", "待补录", "台账不符")] + [
        (p.name, str(p.sessions), f"{p.hours:.1f}", "、".join(sorted(p.worn)), str(p.late), str(p.pending),
         str(p.mismatches)) for p in report.officers.values()])
    _section(pdf, "设备使用情况")
    grid(pdf, (30, 90, 18, 22, 30), [("设备编号", "佩戴民警", "录像数", "时长(小时)", "超时接入")] + [
        (d.name, "、".join(sorted(d.worn)), str(d.sessions), f"{d.hours:.1f}", str(d.late))
        for d in report.devices.values()])
    _attention(pdf, report)
    return bytes(pdf.output())


def _attention(pdf, report: Usage) -> None:
    lists = [("尚未补录说明的录像（R3/R4）", [(s["session"], s["officer"], stop_name(s["stop_code"] or ""))
                                     for s in report.pending_writeups]),
             ("签名民警与设备台账不符（D3）", [(s["session"], s["police_number"], f"台账：{s['holder']}")
                                    for s in report.mismatches]),
             ("拒绝接入（链回退或分叉）", [(str(r["id"]), r["device"], r["reason"][:60]) for r in report.refused_dockings]),
             ("含被篡改分段的录像", [(name, "", "") for name in report.tampered_sessions])]
    for title, rows in lists:
        _section(pdf, f"{title}：{len(rows)}")
        if rows:
            grid(pdf, (80, 40, 70), rows, header=False, size=7.5)


def _section(pdf, title: str) -> None:
    pdf.ln(3)
    pdf.set_font("noto", size=11)
    pdf.cell(0, 8, title, new_x="LMARGIN", new_y="NEXT")


def csv_text(report: Usage) -> str:
    """The report as CSV, UTF-8: 类别,对象,指标,数值 (section, subject, measure, value)."""
    out = io.StringIO()
    write = csv.writer(out, lineterminator="\n").writerow
    write(["类别", "对象", "指标", "数值"])
    write(["单位", unit_text(report), "统计期间", report.period.label])
    for label, value in figures(report):
        write(["汇总", unit_text(report), label, value])
    for police_number, person in report.officers.items():
        for label, value in (("录像数", person.sessions), ("时长（小时）", f"{person.hours:.2f}"),
                             ("超时接入", person.late), ("待补录", person.pending), ("台账不符", person.mismatches)):
            write(["民警", police_number, label, value])
    for serial, device in report.devices.items():
        write(["设备", serial, "佩戴民警", "、".join(sorted(device.worn))])
        write(["设备", serial, "录像数", device.sessions])
    for code, count in report.stops.most_common():
        write(["停止原因", code or "-", stop_name(code), count])
    for day, count, hours in report.days:
        write(["每日", day, "录像数", count])
        write(["每日", day, "时长（小时）", f"{hours:.2f}"])
    return out.getvalue()

