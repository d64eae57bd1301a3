"""Finding sessions in the catalogue: by officer, device, unit, date, case, marker and
verification state."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from evidence.verify import verify_session
from station.catalogue.catalogue import CatalogueError
from station.custody.access import User
from station.services import Desk
from station.web.deps import Web

FIELDS = ("officer", "device", "unit", "date", "case", "marker", "state")
CATALOGUED = ("verified", "incomplete")           # the catalogue's word: every file of it archived, or not
VERIFIED = ("OK", "RECOVERED", "TAMPERED", "MISSING", "OUT-OF-ORDER", "UNSIGNED", "UNKNOWN-KEY", "FOREIGN")
MOST_VERIFIED = 100                                # the verifier reads every byte: so many sessions at most


def router(web: Web) -> APIRouter:
    router = APIRouter()

    @router.get("/")
    def search(request: Request, user: Annotated[User, Depends(web.allowed("search"))]) -> Response:
        given = {name: request.query_params.get(name, "").strip() for name in FIELDS}
        desk, found, error = web.desk(request), [], None
        try:
            found = desk.catalogue.search(
                officer=given["officer"] or None, device=given["device"] or None, unit=given["unit"] or None,
                date=given["date"] or None, zone=web.settings.zone, case=given["case"] or None, label=given["marker"] or None,
                station=desk.footage.station)
            visible = set(desk.access.visible(user, [s["session"] for s in found]))    # confidential ones hide
            found, error = by_state(desk, [s for s in found[::-1] if s["session"] in visible], given["state"])
        except CatalogueError as exc:
            error = str(exc)
        desk.record("search", footage=[s["session"] for s in found],
                    criteria={name: value for name, value in given.items() if value})
        return web.render(request, "search.html", given=given, catalogued=CATALOGUED, verified=VERIFIED,
                          found=found, error=error)

    return router


def by_state(desk: Desk, found: list[dict[str, Any]], state: str) -> tuple[list[dict[str, Any]], str | None]:
    """The sessions in ``state``: the catalogue's, or (running the verifier) a segment's."""
    if state in CATALOGUED:
        return [s for s in found if s["verification"] == state], None
    if state not in VERIFIED:
        return found, None
    if len(found) > MOST_VERIFIED:
        return [], (f"{len(found)} sessions match: narrow the search to {MOST_VERIFIED} or fewer to check "
                    f"their verification state")
    folders = [(s, desk.footage.folder(s["session"])) for s in found]
    return [s for s, folder in folders if folder and any(
        v.state == state for v in verify_session(folder, elsewhere=desk.footage.elsewhere).segments)], None
