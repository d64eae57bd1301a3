"""Case links and legal holds on a session, for the roles allowed; the catalogue keeps them
and its hook makes each change an audit entry."""

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from station.catalogue.catalogue import Catalogue, CatalogueError
from station.custody.access import User
from station.web.deps import MIN_REASON, Web, folder_of
from station.web.security import Refused


def router(web: Web) -> APIRouter:
    router = APIRouter()

    @router.post("/sessions/{session}/cases")
    def link(request: Request, session: str, user: Annotated[User, Depends(web.allowed("case"))],
             number: Annotated[str, Form()] = "", name: Annotated[str, Form()] = "",
             party: Annotated[str, Form()] = "") -> Response:
        """Link the session to case ``number``, opening the case first when it is new (it then needs a name)."""
        desk = web.desk(request)
        folder_of(desk, session, "case")
        number, name, party = number.strip(), name.strip(), party.strip()
        if not number:
            raise CatalogueError("give the case number")
        if not _exists(desk.catalogue, number):
            if not name:
                raise CatalogueError(f"there is no case {number}: give its name to open it")
            desk.catalogue.open_case(number, name, party, actor=user.name)
        desk.catalogue.link(number, session, actor=user.name)
        return RedirectResponse(f"/sessions/{session}#cases", status_code=303)

    @router.post("/sessions/{session}/holds")
    def hold(request: Request, session: str, user: Annotated[User, Depends(web.allowed("hold"))],
             reason: Annotated[str, Form()] = "") -> Response:
        desk = web.desk(request)
        folder_of(desk, session, "hold")
        reason = " ".join(reason.split())
        if len(reason) < MIN_REASON:
            raise Refused(400, "a legal hold needs a reason of at least 4 characters", session, "hold")
        desk.catalogue.hold(reason, actor=user.name, session=session)
        return RedirectResponse(f"/sessions/{session}#holds", status_code=303)

    @router.post("/sessions/{session}/holds/{hold_id}/release")
    def release(request: Request, session: str, hold_id: int,
                user: Annotated[User, Depends(web.allowed("hold"))]) -> Response:
        desk = web.desk(request)
        if not any(h["id"] == hold_id and h["session"] == session for h in desk.catalogue.holds(session)):
            raise Refused(400, f"no legal hold {hold_id} in force on this session", session, "hold-release")
        desk.catalogue.release_hold(hold_id, actor=user.name)
        return RedirectResponse(f"/sessions/{session}#holds", status_code=303)

    return router


def _exists(catalogue: Catalogue, number: str) -> bool:
    try:
        catalogue.case(number)
    except CatalogueError:
        return False
    return True
