"""The audit trail of a session, for the roles that may read it."""

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from station.custody.audit import entries, shown
from station.web.deps import Web, folder_of


def router(web: Web) -> APIRouter:
    router = APIRouter()

    @router.get("/sessions/{session}/audit", dependencies=[Depends(web.allowed("audit"))])
    def trail(request: Request, session: str) -> Response:
        folder_of(web.desk(request), session, "audit")
        return web.render(request, "audit.html", session=session,
                          entries=[shown(entry.body) for entry in entries(web.engine, session)])

    return router
