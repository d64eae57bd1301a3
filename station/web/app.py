"""The review page's application: built by ``create_app`` from what it is given, nothing global.

FastAPI (on Starlette) serves it, Jinja2 renders the pages, uvicorn runs it. Every route
lives in one router per area (``station.web.routes``). Deny by default: every route but
signing in sits under a router whose dependency demands a signed-in user, and each route
names the permission it needs (``Web.allowed``, the access area's permissions); every POST
anywhere must carry the session's CSRF token. A refused request is answered, logged and
written to the audit trail. Each request works through a ``Desk``: the access area's gate and
audit trail, the catalogue and the exports, all recording this request's user and address.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import jinja2
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from station.catalogue.catalogue import CatalogueError
from station.custody.access import AccessDenied, AccessError, User
from station.custody.audit import REFUSED
from station.services import Desk, Station
from station.web import i18n
from station.web.security import (
    SAFE_METHODS,
    SCOPE_KEY,
    Refused,
    SessionMiddleware,
    WebSession,
    WebSessions,
    csrf_matches,
)

log = logging.getLogger(__name__)
HERE = Path(__file__).parent


@dataclass(frozen=True)
class Settings:
    secure_cookies: bool = False          # True unless served on the loopback only (cookies then need HTTPS)
    idle_s: int = 15 * 60                 # a session ends after this long without a request
    max_s: int = 8 * 3600                 # and this long after signing in, whatever happens
    utc_offset_min: int | None = None     # times shown at this offset; None: the station's own


class Web:
    """What every router gets: the archive, the station's database, the clock, the session checks,
    each request's ``Desk``, the renderer."""

    def __init__(self, station: Station, settings: Settings) -> None:
        self.station, self.settings = station, settings
        self.archive, self.engine, self.clock = station.archive, station.engine, station.clock
        self.sessions = WebSessions(station.clock, settings.idle_s, settings.max_s)
        self.templates = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"),
                                            autoescape=True, undefined=jinja2.StrictUndefined)

    # -- dependencies ---------------------------------------------------------------------
    @staticmethod
    def session(request: Request) -> WebSession:
        return request.scope[SCOPE_KEY]

    async def csrf(self, request: Request) -> None:
        """Every request that changes anything carries the session's token in its form."""
        if request.method in SAFE_METHODS:
            return
        form = await request.form()
        if not csrf_matches(self.session(request), form.get("csrf")):
            raise Refused(403, "the form's CSRF token is missing or forged", action="csrf")

    def signed_in(self, request: Request) -> User:
        user = self.session(request).user
        if user is None:
            raise Refused(401, "not signed in (or the session expired)")
        return user

    def allowed(self, permission: str) -> Callable[[Request], User]:
        """A dependency that gives the signed-in user when the role grants ``permission``;
        otherwise the access area refuses it (an audit entry) and the page answers 403."""

        def check(request: Request) -> User:
            user = self.signed_in(request)
            session = request.path_params.get("session")
            self.desk(request).access.require(user, permission, footage=[session] if session else [])
            return user

        return check

    def desk(self, request: Request) -> Desk:
        """This request's services: its user, and its client's address on every audit entry."""
        return self.station.desk(self.session(request).user,
                                 source=f"web {request.client.host if request.client else '?'}")

    # -- helpers for routes ---------------------------------------------------------------
    def render(self, request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        session = self.session(request)
        text = i18n.translator(session.lang)
        page = self.templates.get_template(template).render(
            t=text, lang=session.lang, csrf=session.csrf, account=session.user, when=self.when,
            path=request.url.path, **context)
        return HTMLResponse(page, status_code=status, headers={"Cache-Control": "no-store"})

    def when(self, ns: int | None) -> str:
        """A wall time as the overlay writes it: ISO 8601 to the millisecond with the UTC offset."""
        if ns is None:
            return "-"
        return datetime.fromtimestamp(ns / 1e9, self.zone()).isoformat(timespec="milliseconds")

    def zone(self) -> timezone:
        """The UTC offset times are shown at: the setting's, else the station's own now."""
        offset = self.settings.utc_offset_min
        return timezone(timedelta(minutes=offset)) if offset is not None else datetime.now().astimezone().tzinfo


def create_app(station: Station, settings: Settings = Settings()) -> FastAPI:
    """The review page of the opened ``station`` (its archive, database, dock key and clock)."""
    from station.web.routes import audit, auth, cases, exports, media, review, search, writeups

    web = Web(station, settings)
    app = FastAPI(title="bodycam station", docs_url=None, redoc_url=None, openapi_url=None,
                  dependencies=[Depends(web.csrf)])
    app.add_middleware(SessionMiddleware, sessions=web.sessions, secure=settings.secure_cookies)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(auth.public(web))
    protected = APIRouter(dependencies=[Depends(web.signed_in)])      # deny by default
    for area in (auth, search, review, media, exports, cases, writeups, audit):
        protected.include_router(area.router(web))
    app.include_router(protected)

    @app.exception_handler(Refused)
    def refused(request: Request, exc: Refused) -> Response:
        log.warning("refused %s %s from %s: %s", request.method, request.url.path,
                    request.client.host if request.client else "?", exc.why)
        web.desk(request).record(exc.action, session=exc.session, outcome=REFUSED,
                                 path=f"{request.method} {request.url.path}", why=exc.why)
        if exc.status == 401 and request.method in SAFE_METHODS and "text/html" in request.headers.get("accept", ""):
            return RedirectResponse("/login", status_code=303)
        return web.render(request, "refused.html", status=exc.status, why=exc.why)

    @app.exception_handler(AccessDenied)
    def denied(request: Request, exc: AccessDenied) -> Response:
        log.warning("refused %s %s from %s: %s", request.method, request.url.path,
                    request.client.host if request.client else "?", exc)
        return web.render(request, "refused.html", status=403, why=str(exc))     # the access area audited it

    @app.exception_handler(AccessError)
    @app.exception_handler(CatalogueError)
    def unfit(request: Request, exc: Exception) -> Response:
        return web.render(request, "refused.html", status=400, why=str(exc))       # bad input: one sentence

    return app
