"""The record form (同步录音录像摄录情况记录表, S6) of an export, as a PDF in Chinese.

Every value comes from the device's signed records (officers, device, times, segments and
their hashes), the MP4 header of the originals (format), the export request and its ledger
row (reason, destination, who asked, approved and made the copy); a blank space is left
for the officers' and the leader's signatures and the unit's seal. Noto Sans CJK (Debian's
fonts-noto-cjk) is embedded, subset, so any PDF reader shows and extracts the Chinese text.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from bodycam_errors import BodycamError
from evidence.boxes import sample_entries
from station.catalogue.footage import Segment, Session
from station.words import zone

if TYPE_CHECKING:
    from fpdf import FPDF

TITLE = "同步录音录像摄录情况记录表"
FONT_DIR = Path("/usr/share/fonts/opentype/noto")
FONT_FACE = "Noto Sans CJK SC"
CODECS = {b"avc1": "H.264", b"avc3": "H.264", b"hvc1": "H.265", b"hev1": "H.265", b"mp4a": "AAC",
          b"encv": "H.264（CENC 加密）", b"enca": "AAC（CENC 加密）"}


class FormError(BodycamError, OSError):
    """A form cannot be written (its font is missing)."""


@dataclass(frozen=True)
class Form:
    """The filled-in form: (label, value) rows, then one row per segment."""

    rows: list[tuple[str, str]]
    segments: list[tuple[str, str, str, str]]      # session, file, length, SHA-256


def local_time(wall_ns: int, station_zone: tzinfo) -> str:
    """The time in the station's zone with its UTC offset, to the second: ``2026-12-07 02:00:00+08:00``."""
    return zone.shown(wall_ns, station_zone)


def times_note(chosen: list[tuple[Session, list[Segment]]], walls: list[int], station_zone: tzinfo) -> str:
    """Which signed times the start and end are, and in which zone (docs/export-package.md)."""
    if not walls:
        return "无画面"
    pre_event = [session.opened.body.get("pre_event_ms", 0) for session, picked in chosen
                 if picked and picked[0].manifest.body["segment"] == 1]
    before = f"，含按下录制前的预录 {max(pre_event) / 1000:g} 秒" if pre_event else ""
    return (f"本站时区 {zone.offset_text(min(walls), station_zone)}；起：所导出第一段的第一帧{before}；止：最后一段的最后一帧；"
            f"均为设备签名的分段记录所载时间")


def seconds_of(segments: Iterable[Segment]) -> float:
    """Footage length: each segment from its first to its last frame, plus one frame interval."""
    total = 0.0
    for segment in segments:
        frames = segment.manifest.body["frames"]
        if frames["first"] is None:
            continue
        span = frames["last"]["mono"] - frames["first"]["mono"]
        total += span * frames["count"] / max(frames["count"] - 1, 1) / 1e9
    return total


def duration_text(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}（{seconds:.1f} 秒）"


def video_format(video: Path, init_size: int, open_file: Callable[[Path], BinaryIO]) -> str:
    """The recording format from the MP4 header (the sealed init part): container and codecs;
    the video read with ``open_file`` (the export's copy, checked against its seal)."""
    with open_file(video) as fh:
        header = fh.read(init_size)
    found = [("视频 " if entry.kind.startswith((b"avc", b"hvc", b"hev", b"encv")) else "音频 ") + CODECS[entry.kind]
             for entry in sample_entries(header) if entry.kind in CODECS]
    return "MP4（分片 fMP4）" + ("，" + "，".join(found) if found else "")


def fill(chosen: list[tuple[Session, list[Segment]]], *, request: dict[str, str], place: str,
         station_zone: tzinfo, open_file: Callable[[Path], BinaryIO],
         clear_hashes: dict[tuple[str, str], str] | None = None) -> Form:
    """The form's values for the sessions and segments of one export; videos are read with
    ``open_file``; ``clear_hashes`` gives an encrypted segment's clear copy's SHA-256 by (session,
    file), shown on the row after its original."""
    officers, wearers, devices, formats, walls = [], [], [], [], []
    segments: list[tuple[str, str, str, str]] = []
    for session, picked in chosen:
        body = session.opened.body
        officer = f"{body['officer']['name']}（警号 {body['officer']['police_number']}）"
        officers += [officer] if officer not in officers else []
        wearers += [officer] if officer not in wearers else []
        device = f"bodycam 执法记录仪，序列号 {body['device']}，固件 {body['firmware']}"
        devices += [device] if device not in devices else []
        for segment in picked:
            manifest = segment.manifest.body
            if manifest["frames"]["first"] is not None:
                walls += [segment.first_wall, segment.last_wall]
            shape = video_format(segment.video, manifest["parts"][0]["size"], open_file)
            formats += [shape] if shape not in formats else []
            segments.append((session.id, manifest["file"]["name"], duration_text(seconds_of([segment])),
                             manifest["file"]["sha256"]))
            clear = (clear_hashes or {}).get((session.id, manifest["file"]["name"]))
            if clear:
                segments.append((session.id, f"{manifest['file']['name']} 解密副本", "同上", clear))
    unit = chosen[0][0].opened.body["unit"] if chosen else {"name": "", "number": ""}
    picked = [segment for _, group in chosen for segment in group]
    rows = [
        ("单位", f"{unit['name']}（{unit['number']}）"),
        ("执法人员姓名", "；".join(officers)),
        ("摄录人员姓名", "；".join(wearers)),
        ("摄录起止时间", f"{local_time(min(walls), station_zone)} 至 {local_time(max(walls), station_zone)}"
         if walls else "无画面"),
        ("时间说明", times_note(chosen, walls, station_zone)),
        ("摄录地点", place),
        ("设备品牌型号", "；".join(devices)),
        ("录音录像格式", "；".join(formats)),
        ("录音录像长度", duration_text(seconds_of(picked))),
        ("分段数量", f"{len(segments)} 段（原始文件，未剪辑、未转码）"),
        ("案件 / 会话", request["target"]),
        ("调取事由", request["reason"]),
        ("提供对象", request["destination"]),
        ("申请人", request["requester"]),
        ("审批人", request["approver"]),
        ("制作人", request["maker"]),
        ("制作时间", request["made"]),
        ("导出编号", request["number"]),
    ]
    return Form(rows, segments)


def _font_number(path: Path) -> int:
    """Which face of the Noto CJK collection is the Simplified Chinese one."""
    from fontTools.ttLib import TTCollection

    collection = TTCollection(str(path), lazy=True)
    for number, font in enumerate(collection.fonts):
        if font["name"].getDebugName(1) == FONT_FACE:
            return number
    raise FormError(f"{path} has no {FONT_FACE} face")


def chinese_pdf(title: str, *, orientation: str = "portrait", bold: bool = True) -> FPDF:
    """An A4 document titled ``title`` with Noto Sans CJK (regular and, unless not ``bold``, bold,
    as "noto") embedded, its first page begun with the title centred at its top: the station's
    documents in Chinese start here. Each face costs about 0.6 s to load and as much to subset
    when the document is written."""
    from fpdf import FPDF

    regular, bold_face = FONT_DIR / "NotoSansCJK-Regular.ttc", FONT_DIR / "NotoSansCJK-Bold.ttc"
    if not regular.exists() or not bold_face.exists():
        raise FormError(f"{title} needs Noto Sans CJK ({regular}): install Debian's fonts-noto-cjk")
    pdf = FPDF(orientation=orientation, format="A4")
    pdf.set_title(title)
    pdf.add_font("noto", fname=str(regular), collection_font_number=_font_number(regular))
    if bold:
        pdf.add_font("noto", style="B", fname=str(bold_face), collection_font_number=_font_number(bold_face))
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    pdf.set_font("noto", "B" if bold else "", 16)
    pdf.cell(0, 12, title, align="C", new_x="LMARGIN", new_y="NEXT")
    return pdf


def labelled_rows(pdf: Any, rows: Iterable[tuple[str, str]]) -> None:
    """A form's two columns, each label beside its value, as the record form and the retrieval slip print them."""
    pdf.set_font("noto", size=10)
    with pdf.table(col_widths=(32, 158), first_row_as_headings=False, line_height=7) as table:
        for label, value in rows:
            row = table.row()
            row.cell(label)
            row.cell(value)


def seal_box(pdf: Any) -> None:
    """A box for the unit's seal, at the right below what is written."""
    pdf.ln(2)
    top = pdf.get_y()
    pdf.rect(135, top, 55, 40)
    pdf.set_xy(135, top + 17)
    pdf.cell(55, 6, "（本单位印章）", align="C")


def write_pdf(form: Form, path: Path) -> None:
    """The form on A4, the font embedded; a space for signatures and the seal at its foot."""
    pdf = chinese_pdf(TITLE)
    labelled_rows(pdf, form.rows)
    pdf.ln(4)
    pdf.set_font("noto", "B", 11)
    pdf.cell(0, 8, "分段及哈希值（SHA-256）", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("noto", size=7.5)
    with pdf.table(col_widths=(24, 28, 138), line_height=5) as table:
        table.row(["文件", "长度", "SHA-256"])
        session = None
        for segment in form.segments:
            if segment[0] != session:
                session = segment[0]
                table.row().cell(f"会话 {session}", colspan=3)
            table.row(list(segment[1:]))
    pdf.ln(6)
    pdf.set_font("noto", size=11)
    for line in ("执法人员签名：________________        日期：____________",
                 "本单位领导签字：______________        日期：____________"):
        pdf.cell(0, 10, line, new_x="LMARGIN", new_y="NEXT")
    seal_box(pdf)
    pdf.output(str(path))
