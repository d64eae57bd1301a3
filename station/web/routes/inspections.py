"""Sample inspections (抽检) and the inspection ledger (检查台账), for supervisors: draw a sample
from a recorded seed, review each sampled session on its page (viewing needs a reason, as
always), record the finding (signed by the station, an audit entry), and read the ledger as a
page, CSV or PDF (``station.supervision``)."""

import functools
import tempfile
import time
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from station.catalogue.catalogue import CatalogueError, day_range
from station.custody.access import User
from station.services import open_inspections
from station.supervision import ledger
from station.supervision.inspections import ANSWERS, CHECKS, VERDICTS, Criteria, Inspections
from station.web.deps import Web


def router(web: Web) -> APIRouter:
    router = APIRouter(dependencies=[Depends(web.allowed("inspect"))])

    def inspections(request: Request) -> Inspections:
        return open_inspections(web.desk(request), web.archive)

    @router.get("/inspections")
    def page(request: Request, user: Annotated[User, Depends(web.signed_in)]) -> Response:
        found = inspections(request)
        return web.render(request, "inspections.html", draws=found.all_draws(), entries=found.ledger(user),
                          values=functools.partial(ledger.values, station_zone=web.settings.zone),
                          checks=CHECKS)

    @router.post("/inspections/draws")
    def draw(request: Request, user: Annotated[User, Depends(web.signed_in)], unit: Annotated[str, Form()] = "",
             officer: Annotated[str, Form()] = "", since: Annotated[str, Form()] = "",
             until: Annotated[str, Form()] = "", count: Annotated[str, Form()] = "",
             share: Annotated[str, Form()] = "", seed: Annotated[str, Form()] = "") -> Response:
        try:
            size = {"count": int(count) if count.strip() else None,
                    "per_mille": round(float(share) * 10) if share.strip() else None}
        except ValueError:
            raise CatalogueError("a count is a whole number and a share a percentage") from None
        criteria = Criteria(unit=unit.strip() or None, officer=officer.strip() or None,
                            since_ns=day_range(since, web.settings.zone)[0] if since else None,
                            until_ns=day_range(until, web.settings.zone)[1] if until else None, **size)
        drawn = inspections(request).draw(user, criteria, seed)
        return RedirectResponse(f"/inspections/draws/{drawn['id']}", status_code=303)

    @router.get("/inspections/draws/{number}")
    def drawn(request: Request, number: int) -> Response:
        found = inspections(request)
        drawn = found.get_draw(number)
        sampled = [(found.catalogue.session(s) or {"session": s}, found.finding(number, s)) for s in drawn["sessions"]]
        return web.render(request, "inspection_draw.html", draw=drawn, sampled=sampled, checks=CHECKS,
                          answers=ANSWERS, verdicts=VERDICTS)

    @router.post("/inspections/draws/{number}/findings")
    async def finding(request: Request, number: int, user: Annotated[User, Depends(web.signed_in)]) -> Response:
        form = await request.form()
        checks = {rule: str(form.get(f"check_{rule}", "")) for rule in CHECKS}
        session = str(form.get("session", ""))
        inspections(request).record_finding(user, number, session, checks, str(form.get("verdict", "")),
                                            str(form.get("note", "")).strip())
        return RedirectResponse(f"/inspections/draws/{number}#finding-{session}", status_code=303)

    @router.get("/inspections/ledger.csv")
    def as_csv(request: Request, user: Annotated[User, Depends(web.signed_in)]) -> Response:
        return Response(ledger.to_csv(inspections(request).ledger(user), web.settings.zone), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="inspection-ledger.csv"',
                                 "Cache-Control": "no-store"})

    @router.get("/inspections/ledger.pdf")
    def as_pdf(request: Request, user: Annotated[User, Depends(web.signed_in)]) -> Response:
        entries = inspections(request).ledger(user)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "ledger.pdf"
            ledger.write_pdf(entries, path, printed_by=user.full_name or user.name, printed_ns=time.time_ns(),
                             station_zone=web.settings.zone)
            data = path.read_bytes()
        return Response(data, media_type="application/pdf",
                        headers={"Content-Disposition": 'attachment; filename="inspection-ledger.pdf"',
                                 "Cache-Control": "no-store"})

    return router
