"""The retrieval slip (《行政执法全过程记录调用单》) of an approved export, as a PDF in Chinese.

Retrieving archived footage needs the leader's consent on this slip: who asks, for what case
and reason, for whom, which footage (sessions, segments and their SHA-256), who approved it
and when, who made the copy; with spaces for the signatures and the unit's seal. Every value
comes from the export request (the copy ledger's row) and the device's signed records; it is
laid out like the record form (``station.custody.recordform``), with the same embedded font.
"""
from __future__ import annotations

from datetime import tzinfo
from pathlib import Path

from station.catalogue.footage import Segment, Session
from station.custody.exports import Request
from station.custody.recordform import chinese_pdf, labelled_rows, local_time, seal_box
from station.words import labels

TITLE = "行政执法全过程记录调用单"


def rows(wanted: Request, chosen: list[tuple[Session, list[Segment]]], *, requester: str, approver: str,
         maker: str, made_ns: int, station_zone: tzinfo) -> list[tuple[str, str]]:
    """The slip's (label, value) rows, in the order printed, times in ``station_zone``."""
    def local(ns: int) -> str:
        return local_time(ns, station_zone)
    target = f"{labels.label('scope', wanted.scope, 'zh')} {wanted.target}"
    if wanted.scope == "range":
        target += f"（{local(wanted.start_ns)} 至 {local(wanted.end_ns)}）"
    officers = []
    for session, _ in chosen:
        officer = session.opened.body["officer"]
        named = f"{officer['name']}（警号 {officer['police_number']}）"
        officers += [named] if named not in officers else []
    return [
        ("调用单编号", f"{wanted.id:06d}"),
        ("调用人", requester),
        ("申请时间", local(wanted.requested_ns)),
        ("调用对象", target),
        ("调用事由", wanted.reason),
        ("提供对象", wanted.destination),
        ("录像所涉民警", "；".join(officers)),
        ("调用内容", f"{len(chosen)} 个录像，{sum(len(picked) for _, picked in chosen)} 个分段原始文件（未剪辑、未转码）"),
        ("审批人", approver),
        ("审批时间", local(wanted.decided_ns)),
        ("审批意见", wanted.decision_note or "同意"),
        ("制作人", maker),
        ("制作时间", local(made_ns)),
        ("导出包", f"export-{wanted.id:06d}"),
    ]


def write(path: Path, wanted: Request, chosen: list[tuple[Session, list[Segment]]], *, requester: str,
          approver: str, maker: str, made_ns: int, station_zone: tzinfo) -> None:
    """The slip of ``wanted`` (approved) for the footage ``chosen``, on A4."""
    pdf = chinese_pdf(TITLE)
    labelled_rows(pdf, rows(wanted, chosen, requester=requester, approver=approver, maker=maker, made_ns=made_ns,
                            station_zone=station_zone))
    pdf.ln(4)
    pdf.set_font("noto", "B", 11)
    pdf.cell(0, 8, "调用的录像及哈希值（SHA-256）", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("noto", size=7.5)
    with pdf.table(col_widths=(28, 162), line_height=5) as table:
        table.row(["文件", "SHA-256"])
        for session, picked in chosen:
            table.row().cell(f"录像 {session.id}（设备 {session.opened.body['device']}）", colspan=2)
            for segment in picked:
                manifest = segment.manifest.body
                table.row([manifest["file"]["name"], manifest["file"]["sha256"]])
    pdf.ln(6)
    pdf.set_font("noto", size=11)
    for line in ("调用人签名：________________        日期：____________",
                 "审批领导签字：______________        日期：____________",
                 "经办人（制作人）签名：________        日期：____________"):
        pdf.cell(0, 10, line, new_x="LMARGIN", new_y="NEXT")
    seal_box(pdf)
    pdf.output(str(path))
