"""The supervisors' reports on the page: the periodic usage report with its charts (SVG drawn
here, no script), its PDF and CSV, a session's or a case's chain-of-custody PDF, and the devices
not docked with the central store's overdue sessions. Each report made is an audit entry."""
import hashlib
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from markupsafe import Markup

from station.catalogue.catalogue import DAY_NS
from station.store.store import status
from station.supervision import charts, inspections, reports, usage
from station.supervision.custody_report import custody, pdf_bytes
from station.supervision.undocked import undocked
from station.web.deps import Web
from station.words import zone

LATE_DAYS = 31          # the page lists late dockings of sessions started this many days back


def router(web: Web) -> APIRouter:
    router = APIRouter()
    reporter = Depends(web.allowed("report"))

    def build(request: Request, unit: str, month: str) -> usage.Usage:
        """The usage report of ``unit`` ("": every unit) for ``month`` ("": this month)."""
        station_zone = web.settings.zone
        chosen = month or zone.moment(web.clock(), station_zone).strftime("%Y-%m")
        return usage.usage(web.desk(request).catalogue, unit or None, usage.month(chosen, station_zone), web.clock(),
                           station_zone, inspections.verdict_counts)

    @router.get("/reports/usage", dependencies=[reporter])
    def page(request: Request, unit: str = "", month: str = "") -> Response:
        found = build(request, unit, month)
        web.desk(request).record("report-usage", unit=found.unit, period=found.period.label, form="page",
                                 sessions=found.sessions)
        drawn = [(chart_id, Markup(charts.svg(chart, chart_id))) for chart_id, chart in reports.chart_set(found)]
        return web.render(request, "usage.html", report=found, figures=reports.figures(found), charts=drawn,
                          unit_text=reports.unit_text(found), stop_name=reports.stop_name,
                          zone_text=zone.offset_text(found.made_ns, found.zone),
                          query=f"unit={found.unit or ''}&month={found.period.label}")

    @router.get("/reports/usage.pdf", dependencies=[reporter])
    def usage_pdf(request: Request, unit: str = "", month: str = "") -> Response:
        found = build(request, unit, month)
        return _file(web, request, "report-usage", reports.pdf_bytes(found), "application/pdf",
                     f"usage-{found.unit or 'all'}-{found.period.label}.pdf", unit=found.unit,
                     period=found.period.label)

    @router.get("/reports/usage.csv", dependencies=[reporter])
    def usage_csv(request: Request, unit: str = "", month: str = "") -> Response:
        found = build(request, unit, month)
        return _file(web, request, "report-usage", reports.csv_text(found).encode(), "text/csv; charset=utf-8",
                     f"usage-{found.unit or 'all'}-{found.period.label}.csv", unit=found.unit,
                     period=found.period.label)

    @router.get("/reports/custody.pdf", dependencies=[Depends(web.allowed("audit"))])
    def custody_pdf(request: Request, session: str = "", case: str = "") -> Response:
        desk = web.desk(request)
        found = custody(desk.catalogue, {desk.signer.public_key}, web.settings.zone, session=session or None,
                        case=case or None)
        names = [row["session"] for row in found.sessions]
        desk.access.require_visible(desk.user, "report-custody", names)
        return _file(web, request, "report-custody", pdf_bytes(found, web.clock(), web.settings.zone), "application/pdf",
                     f"custody-{session or case}.pdf", footage=names, case=case or None, events=len(found.events))

    @router.get("/reports/undocked", dependencies=[reporter])
    def not_docked(request: Request, unit: str = "") -> Response:
        desk, now = web.desk(request), web.clock()
        found = undocked(desk.catalogue, now, now - LATE_DAYS * DAY_NS, unit or None)
        overdue = status(desk.catalogue, web.archive, now)["overdue"]
        desk.record("report-undocked", unit=unit or None, devices=len(found.devices), late=len(found.late),
                    overdue=len(overdue))
        return web.render(request, "undocked.html", devices=found.devices, late=found.late, overdue=overdue,
                          unit=unit, days=LATE_DAYS)

    return router


def _file(web: Web, request: Request, action: str, data: bytes, kind: str, name: str,
          footage: Sequence[str] = (), **detail: Any) -> Response:
    """A report's file, sent for download; its audit entry names it and its SHA-256."""
    web.desk(request).record(action, footage=footage, file=name, sha256=hashlib.sha256(data).hexdigest(), **detail)
    return Response(data, media_type=kind, headers={"Content-Disposition": f'attachment; filename="{name}"',
                                                    "Cache-Control": "no-store"})
