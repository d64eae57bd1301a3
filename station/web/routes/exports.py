"""Export requests and their approval (the access area's ``Exports``, which checks and audits
each step): a user asks with a reason, naming who makes the copy and for whom; a supervisor
other than the requester approves or refuses. The package itself is made with
``bodycam-station export make`` by the named recipient."""

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from station.custody.access import User
from station.web.deps import Web, folder_of


def router(web: Web) -> APIRouter:
    router = APIRouter()

    @router.post("/sessions/{session}/exports")
    def request_export(request: Request, session: str, user: Annotated[User, Depends(web.allowed("export-request"))],
                       reason: Annotated[str, Form()] = "", recipient: Annotated[str, Form()] = "",
                       destination: Annotated[str, Form()] = "") -> Response:
        desk = web.desk(request)
        folder_of(desk, session, "export-request")
        made = desk.exports.request(user, "session", session, reason=reason.strip() or None,
                                    recipient=recipient.strip() or user.name, destination=destination.strip())
        return RedirectResponse(f"/sessions/{session}?export={made.id}#exports", status_code=303)

    @router.get("/exports", dependencies=[Depends(web.allowed("export-decide"))])
    def listing(request: Request) -> Response:
        desk = web.desk(request)
        return web.render(request, "exports.html", requests=desk.exports.ledger(desk.user))

    @router.post("/exports/{number}/decision")
    def decide(request: Request, number: int, user: Annotated[User, Depends(web.allowed("export-decide"))],
               decision: Annotated[str, Form()] = "", note: Annotated[str, Form()] = "") -> Response:
        web.desk(request).exports.decide(user, number, decision == "approve", note.strip() or None)
        return RedirectResponse("/exports", status_code=303)

    return router
