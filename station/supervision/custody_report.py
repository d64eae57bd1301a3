"""The chain of custody of a session or a case (证据保管链), as a court or the defence asks for
it: one PDF in Chinese listing, in time order, everything that happened to the footage —
recorded (the device's signed records), docked, catalogued, verified, stored centrally, and
every audit entry naming it (viewed, by whom and why; held; linked to a case; exported, to whom;
purged) — with its verification state and the audit trail's own check."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from station.catalogue.catalogue import Catalogue, CatalogueError, records, sessions
from station.catalogue.verdicts import segment_verdicts, session_checks
from station.custody import audit
from station.custody.recordform import chinese_pdf, local_time
from station.store.store import stored_sessions
from station.supervision.grid import grid
from station.supervision.undocked import docked_at
from station.words import labels

TITLE = "执法记录仪音视频资料保管链报告"
# The detail fields an entry about footage shows (their labels: station.words.labels).
DETAIL_FIELDS = ("destination", "recipient", "case", "request", "hold", "file")


@dataclass
class Event:
    time_ns: int | None
    what: str
    who: str
    detail: str


@dataclass
class Custody:
    subject: str                                    # 会话 … or 案件 …
    sessions: list[dict[str, Any]]
    events: list[Event] = field(default_factory=list)
    states: list[tuple[str, str]] = field(default_factory=list)     # (session, verification state)
    trail_problems: list[str] = field(default_factory=list)
    trail_entries: int = 0


def custody(catalogue: Catalogue, trusted: set[bytes], station_zone: tzinfo, *, session: str | None = None,
            case: str | None = None) -> Custody:
    """The chain of custody of ``session`` or of every session linked to ``case`` (times written
    into it in ``station_zone``)."""
    if (session is None) == (case is None):
        raise CatalogueError("a custody report is of one session or of one case")
    if case is not None:
        names = list(dict.fromkeys(link["session"] for link in catalogue.case(case)["links"]))
        subject = f"案件 {case}"
    else:
        names, subject = [session], f"会话 {session}"
    found = [_session_row(catalogue.engine, name) for name in names]
    report = Custody(subject, found)
    for row in found:
        report.events += _recorded(catalogue.engine, row)
        report.states.append((row["session"], _state(catalogue.engine, row, station_zone)))
    seen: set[int] = set()
    for name in names:
        for entry in audit.entries(catalogue.engine, session=name):
            if entry.seq not in seen:
                seen.add(entry.seq)
                report.events.append(_audited(entry.body))
    if case is not None:
        report.events += [_audited(entry.body) for entry in audit.entries(catalogue.engine)
                          if entry.seq not in seen and entry.body["detail"].get("case") == case]
    report.events.sort(key=lambda event: (event.time_ns is None, event.time_ns or 0))
    report.trail_problems = audit.verify(catalogue.engine, trusted)
    report.trail_entries = audit.last_seq(catalogue.engine)
    return report


def _session_row(engine: Engine, name: str) -> dict[str, Any]:
    query = (sa.select(sessions, docked_at().label("docked_ns"), stored_sessions.c.stored_ns,
                       session_checks.c.checked_ns)
             .select_from(sessions.outerjoin(stored_sessions, stored_sessions.c.session == sessions.c.session)
                          .outerjoin(session_checks, session_checks.c.session == sessions.c.session))
             .where(sessions.c.session == name))
    with engine.connect() as connection:
        row = connection.execute(query).first()
    if row is None:
        raise CatalogueError(f"no session {name!r} in the catalogue")
    return dict(row._mapping)


def _recorded(engine: Engine, row: dict[str, Any]) -> list[Event]:
    name, device = row["session"], row["device"]
    wearer = f"{row['officer']}（{row['police_number']}）"
    with engine.connect() as connection:
        signed = connection.execute(sa.select(records).where(records.c.session == name)
                                    .order_by(records.c.seq)).all()
    chain = "；".join(f"#{r.seq} {r.name} {r.hash[:16]}" for r in signed)
    events = [Event(row["started_ns"], "开始录制（设备签名记录）", wearer,
                    f"会话 {name}，设备 {device}，单位 {row['unit']}（{row['unit_number']}），时钟 {row['clock']}")]
    if row["ended_ns"] is not None:
        events.append(Event(row["ended_ns"], "结束录制（设备签名记录）", wearer,
                            f"停止原因：{row['stop_reason'] or '未正常结束'}；分段 {row['segments_sealed']}；"
                            f"签名记录链：{chain}"))
    if row["docked_ns"] is not None:
        events.append(Event(row["docked_ns"], "接入工作站", f"设备 {device}", f"设备密钥 {row['key_id']}"))
    events.append(Event(row["archived_ns"], "入库（校验签名与哈希后归档）", f"工作站 {row['station']}",
                        f"目录 {row['folder']}"))
    if row["checked_ns"] is not None:
        events.append(Event(row["checked_ns"], "逐字节校验", "工作站", _verdicts(engine, name)))
    if row["stored_ns"] is not None:
        events.append(Event(row["stored_ns"], "存入中心存储（锁定并回读核验）", "工作站", ""))
    if row["purged_ns"] is not None:
        events.append(Event(row["purged_ns"], "已清除", "工作站", ""))
    return events


def _verdicts(engine: Engine, name: str) -> str:
    with engine.connect() as connection:
        rows = connection.execute(sa.select(segment_verdicts.c.name, segment_verdicts.c.state)
                                  .where(segment_verdicts.c.session == name).order_by(segment_verdicts.c.name)).all()
    return "；".join(f"{row.name} {row.state}" for row in rows) or "无分段"


def _state(engine: Engine, row: dict[str, Any], station_zone: tzinfo) -> str:
    whole = "完整（结束记录及每段清单、索引、视频均已归档）" if _complete(row) else "不完整"
    if row["checked_ns"] is None:
        return f"{whole}；尚未逐字节校验"
    with engine.connect() as connection:
        states = set(connection.scalars(sa.select(segment_verdicts.c.state)
                                        .where(segment_verdicts.c.session == row["session"])))
    checked = "各分段均与签名一致" if states <= {"OK"} else f"分段状态：{'、'.join(sorted(states))}"
    return f"{whole}；{local_time(row['checked_ns'], station_zone)} 逐字节校验：{checked}"


def _complete(row: dict[str, Any]) -> bool:
    sealed = row["segments_sealed"]
    return sealed is not None and row["manifests"] == row["indexes"] == row["videos"] == sealed


def _audited(body: dict[str, Any]) -> Event:
    action = labels.label("action", body["action"], "zh")
    who = (f"{body['actor'] or '—'}（{labels.label('role', body['role'], 'zh')}）" if body.get("role")
           else (body["actor"] or "—"))
    details = [f"审计第 {body['seq']} 条", labels.label("outcome", body["outcome"], "zh")]
    if body.get("reason"):
        details.append(f"理由：{body['reason']}")
    details += [f"{labels.label('field', key, 'zh')}：{body['detail'][key]}" for key in DETAIL_FIELDS
                if body["detail"].get(key) not in (None, "")]
    details.append(f"来源：{body['source']}")
    return Event(body["time_ns"], action, who, "；".join(details))


def pdf_bytes(report: Custody, made_ns: int, station_zone: tzinfo) -> bytes:
    """The report on A4 in Chinese: the footage, its verification state, every event, the trail's
    check; times in ``station_zone``."""
    def local(ns: int) -> str:
        return local_time(ns, station_zone)

    pdf = chinese_pdf(TITLE, bold=False)
    pdf.set_font("noto", size=9)
    check = ("通过：全部审计记录签名有效、链接完整" if not report.trail_problems
             else "不通过：" + "；".join(report.trail_problems[:5]))
    rows = [("对象", report.subject), ("录像", "、".join(s["session"] for s in report.sessions) or "无"),
            ("生成时间", local(made_ns))]
    rows += [(f"校验状态 {name}", state) for name, state in report.states]
    rows += [("审计日志校验", f"{check}（共 {report.trail_entries} 条）")]
    grid(pdf, (40, 150), rows, header=False, size=9)
    pdf.ln(3)
    pdf.set_font("noto", size=11)
    pdf.cell(0, 8, f"保管记录（共 {len(report.events)} 项，按时间排列）", new_x="LMARGIN", new_y="NEXT")
    grid(pdf, (38, 32, 30, 90), [("时间", "事项", "人员", "详情")] + [
        (local(event.time_ns) if event.time_ns else "—", event.what, event.who, event.detail)
        for event in report.events], size=7.5, line=3.8)
    pdf.ln(6)
    pdf.set_font("noto", size=11)
    pdf.cell(0, 10, "制作人签名：________________        日期：____________", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
