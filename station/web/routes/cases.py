"""Case links and legal holds on a session, for the roles allowed (the catalogue keeps them)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from station.catalogue import Catalogue, CatalogueError
from station.web.app import Web
from station.web.ports import CASE, HOLD, Account
from station.web.routes.review import MIN_REASON, folder_of
from station.web.security import Refused


def router(web: Web) -> APIRouter:
    router = APIRouter()
    catalogue = web.services.catalogue

    @router.post("/sessions/{session}/cases")
    def link(request: Request, session: str, account: Annotated[Account, Depends(web.allowed(CASE))],
             number: Annotated[str, Form()] = "", name: Annotated[str, Form()] = "",
             party: Annotated[str, Form()] = "") -> Response:
        """Link the session to case ``number``, opening the case first when it is new (it then needs a name)."""
        folder_of(web, session)
        number, name, party = number.strip(), name.strip(), party.strip()
        try:
            if not number:
                raise CatalogueError("give the case number")
            if not _exists(catalogue, number):
                if not name:
                    raise CatalogueError(f"there is no case {number}: give its name to open it")
                catalogue.open_case(number, name, party, actor=account.name)
                web.note(request, account, "case-open", session=session, case=number, name=name, party=party)
            catalogue.link(number, session, actor=account.name)
        except CatalogueError as exc:
            raise Refused(400, str(exc), session, "case-link") from None
        web.note(request, account, "case-link", session=session, case=number)
        return RedirectResponse(f"/sessions/{session}#cases", status_code=303)

    @router.post("/sessions/{session}/holds")
    def hold(request: Request, session: str, account: Annotated[Account, Depends(web.allowed(HOLD))],
             reason: Annotated[str, Form()] = "") -> Response:
        folder_of(web, session)
        reason = " ".join(reason.split())
        if len(reason) < MIN_REASON:
            raise Refused(400, "a legal hold needs a reason of at least 4 characters", session, "hold")
        placed = catalogue.hold(reason, actor=account.name, session=session)
        web.note(request, account, "hold", session=session, reason=reason, hold=placed)
        return RedirectResponse(f"/sessions/{session}#holds", status_code=303)

    @router.post("/sessions/{session}/holds/{hold_id}/release")
    def release(request: Request, session: str, hold_id: int,
                account: Annotated[Account, Depends(web.allowed(HOLD))]) -> Response:
        if not any(h["id"] == hold_id and h["session"] == session for h in catalogue.holds(session)):
            raise Refused(400, f"no legal hold {hold_id} in force on this session", session, "hold-release")
        catalogue.release_hold(hold_id, actor=account.name)
        web.note(request, account, "hold-release", session=session, hold=hold_id)
        return RedirectResponse(f"/sessions/{session}#holds", status_code=303)

    return router


def _exists(catalogue: Catalogue, number: str) -> bool:
    try:
        catalogue.case(number)
    except CatalogueError:
        return False
    return True
