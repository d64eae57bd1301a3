"""Export requests and their approval: a user asks with a reason, a supervisor other than the
requester approves or refuses. (Making the package is the access area's.)"""

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from station.web.app import Web
from station.web.ports import APPROVE_EXPORT, REQUEST_EXPORT, Account
from station.web.routes.review import MIN_REASON, folder_of
from station.web.security import Refused


def router(web: Web) -> APIRouter:
    router = APIRouter()

    @router.post("/sessions/{session}/exports")
    def request_export(request: Request, session: str, account: Annotated[Account, Depends(web.allowed(REQUEST_EXPORT))],
                       reason: Annotated[str, Form()] = "") -> Response:
        folder_of(web, session)
        reason = " ".join(reason.split())
        if len(reason) < MIN_REASON:
            raise Refused(400, "an export request needs a reason of at least 4 characters", session, "export-request")
        made = web.services.exports.request(account.name, session, reason)
        web.note(request, account, "export-request", session=session, reason=reason, export=made.id)
        return RedirectResponse("/exports", status_code=303)

    @router.get("/exports", dependencies=[Depends(web.allowed(REQUEST_EXPORT))])
    def listing(request: Request) -> Response:
        return web.render(request, "exports.html", requests=web.services.exports.requests(), error=None)

    @router.post("/exports/{request_id}/decision")
    def decide(request: Request, request_id: int, account: Annotated[Account, Depends(web.allowed(APPROVE_EXPORT))],
               decision: Annotated[str, Form()] = "") -> Response:
        try:
            decided = web.services.exports.decide(account.name, request_id, decision == "approve")
        except (LookupError, PermissionError, ValueError) as exc:
            raise Refused(403 if isinstance(exc, PermissionError) else 400, str(exc), action="export-decide") from None
        web.note(request, account, "export-decide", session=decided.session, reason=decided.reason,
                 export=decided.id, decision=decided.state, requester=decided.requester)
        return RedirectResponse("/exports", status_code=303)

    return router
