"""The review page's application: built by ``create_app`` from what it is given, nothing global.

FastAPI (on Starlette) serves it, Jinja2 renders the pages, uvicorn runs it. Every route
lives in one router per area (``station.web.routes``). Deny by default: every route but
signing in sits under a router whose dependency demands a signed-in user, and each route
names the permission it needs (``Web.allowed``); every POST anywhere must carry the
session's CSRF token. A refused request is answered, logged and written to the audit trail.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import jinja2
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from station.web import i18n
from station.web.ports import DONE, REFUSED, Account, Services
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
    """What every router gets: the services, the archive, the clock, the session checks, the renderer."""

    def __init__(self, archive: Path, services: Services, clock: Callable[[], int], settings: Settings) -> None:
        self.archive, self.services, self.clock, self.settings = Path(archive), services, clock, settings
        self.sessions = WebSessions(clock, settings.idle_s, settings.max_s)
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

    def signed_in(self, request: Request) -> Account:
        account = self.session(request).account
        if account is None:
            raise Refused(401, "not signed in (or the session expired)")
        return account

    def allowed(self, permission: str) -> Callable[[Request], Account]:
        """A dependency that gives the signed-in account when its role has ``permission``."""

        def check(request: Request) -> Account:
            account = self.signed_in(request)
            if not account.may(permission):
                raise Refused(403, f"a {account.role} may not {permission.replace('-', ' ')}",
                              request.path_params.get("session"), action=permission)
            return account

        return check

    # -- helpers for routes ---------------------------------------------------------------
    def render(self, request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        session = self.session(request)
        text = i18n.translator(session.lang)
        page = self.templates.get_template(template).render(
            t=text, lang=session.lang, csrf=session.csrf, account=session.account, when=self.when,
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

    def note(self, request: Request, actor: Account | None, action: str, *, session: str | None = None,
             reason: str | None = None, outcome: str = DONE, **detail: Any) -> None:
        """One audit entry for what ``actor`` did (or was refused) through this request."""
        client = request.client.host if request.client else "?"
        self.services.audit.record(actor.name if actor else None, action, role=actor.role if actor else None,
                                   footage=[session] if session else [], reason=reason, outcome=outcome,
                                   detail=detail, source=f"web {client}")


def create_app(archive: Path, services: Services, clock: Callable[[], int] = time.time_ns,
               settings: Settings = Settings()) -> FastAPI:
    """The review page for ``archive``, with the station's services and clock."""
    from station.web.routes import audit, auth, cases, exports, media, review, search, writeups

    web = Web(archive, services, clock, settings)
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
    async def refused(request: Request, exc: Refused) -> Response:
        account = web.session(request).account
        log.warning("refused %s %s from %s: %s", request.method, request.url.path,
                    request.client.host if request.client else "?", exc.why)
        web.note(request, account, exc.action, session=exc.session, outcome=REFUSED,
                 path=f"{request.method} {request.url.path}", why=exc.why)
        if exc.status == 401 and request.method in SAFE_METHODS and "text/html" in request.headers.get("accept", ""):
            return RedirectResponse("/login", status_code=303)
        return web.render(request, "refused.html", status=exc.status, why=exc.why)

    return app
