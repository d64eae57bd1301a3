"""Finding sessions: by officer, device, unit, date, case, marker and verification state."""

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from station.web.app import Web
from station.web.ports import SEARCH, Account, Criteria

DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
STATES = ("OK", "RECOVERED", "TAMPERED", "MISSING", "OUT-OF-ORDER", "UNSIGNED", "UNKNOWN-KEY", "FOREIGN")
FIELDS = ("officer", "device", "unit", "date", "case", "marker", "state")


def router(web: Web) -> APIRouter:
    router = APIRouter()

    @router.get("/")
    def search(request: Request, account: Annotated[Account, Depends(web.allowed(SEARCH))]) -> Response:
        given = {name: request.query_params.get(name, "").strip() for name in FIELDS}
        error = "bad_date" if given["date"] and not DATE.fullmatch(given["date"]) else None
        if given["state"] not in ("", *STATES):
            given["state"] = ""
        found = []
        if error is None:
            criteria = Criteria(**{name: value or None for name, value in given.items()})
            found = web.services.catalogue.search(criteria)
            web.note(request, account, "search", criteria={name: value for name, value in given.items() if value},
                     found=len(found))
        return web.render(request, "search.html", given=given, states=STATES, found=found, error=error)

    return router
