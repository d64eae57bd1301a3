"""The review page's application: built by ``create_app`` from what it is given, nothing global.

FastAPI (on Starlette) serves it, Jinja2 renders the pages, uvicorn runs it. Every route
lives in one router per area (``station.web.routes``). Deny by default: every route but
signing in sits under a router whose dependency demands a signed-in user, and each route
names the permission it needs (``Web.allowed``, the access area's permissions); every POST
anywhere must carry the session's CSRF token. A refused request is answered, logged and
written to the audit trail. Each request works through a ``Desk`` (``station.services``): the
access area's gate and audit trail, the catalogue and the exports, all recording this request's
user and address. Only the configured host names are answered, and a client's address is
taken from ``X-Forwarded-For`` only when the peer is one of the configured proxies (uvicorn's own
proxy handling is off: ``server_config``). What the routers share lives in ``deps.py``; this
module only builds the app, says how uvicorn serves it, and answers errors; with a central
store, the audit trail is anchored in it while the page is served (``_anchoring``).
"""
from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import uvicorn
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.trustedhost import TrustedHostMiddleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from station.catalogue.catalogue import CatalogueError
from station.custody.access import AccessDenied, AccessError
from station.custody.audit import REFUSED
from station.services import Station, station_anchorer
from station.web.deps import HERE, Settings, Web, client_address
from station.web.security import SAFE_METHODS, Refused, SessionMiddleware

log = logging.getLogger(__name__)


def create_app(station: Station, settings: Settings = Settings()) -> FastAPI:
    """The review page of the opened ``station`` (its archive, database, dock key and clock)."""
    from station.web.routes import (admin, audit, auth, bays, cases, exports, inspections, media, reports, review,
                                    search, writeups)

    web = Web(station, settings)
    app = FastAPI(title="bodycam station", docs_url=None, redoc_url=None, openapi_url=None,
                  dependencies=[Depends(web.csrf)], lifespan=_anchoring(station, settings))
    app.add_middleware(SessionMiddleware, sessions=web.sessions, secure=settings.secure_cookies)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(settings.allowed_hosts))    # before any session
    if settings.trusted_proxies:
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies))
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(auth.public(web))
    protected = APIRouter(dependencies=[Depends(web.signed_in)])      # deny by default
    for area in (auth, search, review, media, exports, cases, writeups, audit, bays, inspections, reports, admin):
        protected.include_router(area.router(web))
    app.include_router(protected)

    @app.exception_handler(Refused)
    def refused(request: Request, exc: Refused) -> Response:
        log.warning("refused %s %s from %s: %s", request.method, request.url.path, client_address(request), exc.why)
        web.desk(request).record(exc.action, session=exc.session, outcome=REFUSED,
                                 path=f"{request.method} {request.url.path}", why=exc.why)
        if exc.status == 401 and request.method in SAFE_METHODS and "text/html" in request.headers.get("accept", ""):
            return RedirectResponse("/login", status_code=303)
        return web.render(request, "refused.html", status=exc.status, why=exc.why)

    @app.exception_handler(AccessDenied)
    def denied(request: Request, exc: AccessDenied) -> Response:
        log.warning("refused %s %s from %s: %s", request.method, request.url.path, client_address(request), exc)
        return web.render(request, "refused.html", status=403, why=str(exc))     # the access area audited it

    @app.exception_handler(AccessError)
    @app.exception_handler(CatalogueError)
    def unfit(request: Request, exc: Exception) -> Response:
        return web.render(request, "refused.html", status=400, why=str(exc))       # bad input: one sentence

    return app


def _anchoring(station: Station, settings: Settings):
    """While the page is served, with a central store: the audit trail (its views and exports
    among it) anchored in the store every ``settings.anchor_every_s`` seconds, even on a station
    that docks nothing and so never pushes."""
    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        anchorer = station_anchorer(station, settings.anchor_every_s)
        if anchorer is None:
            yield
            return
        with anchorer.running():
            yield
    return lifespan


def server_config(app: FastAPI, host: str, port: int) -> uvicorn.Config:
    """How uvicorn serves the page: its own proxy-header handling off (it would believe any
    ``X-Forwarded-For`` from the loopback), so only the app's, for the configured proxies, applies;
    the app's lifespan on (it runs the anchoring)."""
    return uvicorn.Config(app, host=host, port=port, proxy_headers=False, server_header=False,
                          log_level="warning", lifespan="on")
