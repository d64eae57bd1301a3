"""The officer's write-up of a stop that was not the end of enforcement (R3, R4): a record the
station signs beside the device's records (``station.writeup``), never an edit of them."""

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from station import writeup
from station.catalogue import CatalogueError
from station.web.app import Web
from station.web.ports import WRITE_UP, Account
from station.web.routes.review import folder_of
from station.web.security import Refused


def router(web: Web) -> APIRouter:
    router = APIRouter()

    @router.post("/sessions/{session}/writeups")
    def write(request: Request, session: str, account: Annotated[Account, Depends(web.allowed(WRITE_UP))],
              reason: Annotated[str, Form()] = "", text: Annotated[str, Form()] = "") -> Response:
        folder_of(web, session)
        try:
            writeup.write_up(web.services.catalogue, web.archive, session, reason, text.strip(), actor=account.name)
        except CatalogueError as exc:
            raise Refused(400, str(exc), session, "write-up") from None
        web.note(request, account, "write-up", session=session, reason=text.strip(), code=reason)
        return RedirectResponse(f"/sessions/{session}#writeups", status_code=303)

    return router
