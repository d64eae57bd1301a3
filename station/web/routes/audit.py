"""The audit trail of a session, for the roles that may read it."""

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from station.web.app import Web
from station.web.ports import READ_AUDIT
from station.web.routes.review import folder_of


def router(web: Web) -> APIRouter:
    router = APIRouter()

    @router.get("/sessions/{session}/audit", dependencies=[Depends(web.allowed(READ_AUDIT))])
    def trail(request: Request, session: str) -> Response:
        folder_of(web, session)
        return web.render(request, "audit.html", session=session, entries=web.services.audit.entries(session))

    return router
