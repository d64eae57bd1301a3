"""The dock's bays, for the custodians and supervisors watching the station: a page, and the JSON
its script polls every second (the dock service writes the states; this only reads them)."""
from dataclasses import asdict

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from station.dock.bays import STATES, read_bays
from station.web.deps import Web
from station.words.labels import translator


def router(web: Web) -> APIRouter:
    router = APIRouter(dependencies=[Depends(web.allowed("bays"))])

    @router.get("/bays")
    def page(request: Request) -> Response:
        text = translator(web.session(request).lang)
        return web.render(request, "bays.html", bays=read_bays(web.archive),
                          words={state: text(f"bay_{state}") for state in STATES})

    @router.get("/bays.json")
    def states() -> Response:
        return JSONResponse([asdict(state) for state in read_bays(web.archive)],
                            headers={"Cache-Control": "no-store"})

    return router
