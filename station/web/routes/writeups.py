"""The officer's write-up of a stop that was not the end of enforcement (R3, R4): a record the
station signs beside the device's records (``station.catalogue.writeup``), never an edit of them; the
catalogue's hook makes it an audit entry."""

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from station.catalogue import writeup
from station.custody.access import User
from station.web.deps import Web, folder_of


def router(web: Web) -> APIRouter:
    router = APIRouter()

    @router.post("/sessions/{session}/writeups")
    def write(request: Request, session: str, user: Annotated[User, Depends(web.allowed("write-up"))],
              reason: Annotated[str, Form()] = "", text: Annotated[str, Form()] = "") -> Response:
        desk = web.desk(request)
        folder_of(desk, session, "write-up")
        writeup.write_up(desk.catalogue, web.archive, session, reason, text.strip(), actor=user.name,
                         signer=desk.signer)
        return RedirectResponse(f"/sessions/{session}#writeups", status_code=303)

    return router
