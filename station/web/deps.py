"""What every router of the review page shares: ``Web`` (the opened station, the session
checks, each request's ``Desk``, the renderer), its ``Settings``, the reason rule and
``folder_of``. Routers import these from here, never from ``app.py`` or from one another."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from station.catalogue import playback
from station.catalogue.verdicts import Verdicts
from station.custody.access import SignIn, SignIns, User
from station.services import Desk, Station
from station.store.pusher import ANCHOR_EVERY
from station.web.security import SAFE_METHODS, SCOPE_KEY, Refused, WebSessions, csrf_matches
from station.words import labels as i18n, zone
from station.words.zone import system_zone

HERE = Path(__file__).parent
MIN_REASON = 4          # the fewest characters a stated reason may have
LOCAL_HOSTS = ("localhost", "127.0.0.1")      # always answered, besides the host the page listens on


@dataclass(frozen=True)
class Settings:
    secure_cookies: bool = False          # True unless served on the loopback only (cookies then need HTTPS)
    idle_s: int = 15 * 60                 # a session ends after this long without a request
    max_s: int = 8 * 3600                 # and this long after signing in, whatever happens
    zone: tzinfo = field(default_factory=system_zone)    # the station's time zone: times shown in it
    allowed_hosts: tuple[str, ...] = LOCAL_HOSTS   # the Host names answered (with the one bound to); others: 400
    trusted_proxies: tuple[str, ...] = ()  # addresses whose X-Forwarded-For/-Proto are believed; none by default
    agency_keys: tuple[Path, ...] = ()     # the agency's X25519 private keys' files: encrypted sessions play
    anchor_every_s: float = ANCHOR_EVERY  # with a central store: the audit trail anchored in it this often


class Web:
    """What every router gets: the archive, the station's database, the clock, the session checks,
    the stored verdicts, each request's ``Desk``, the renderer."""

    def __init__(self, station: Station, settings: Settings) -> None:
        self.station, self.settings = station, settings
        self.archive, self.engine, self.clock = station.archive, station.engine, station.clock
        self.sessions = WebSessions(SignIns(station.engine), station.clock, settings.idle_s, settings.max_s)
        self.verdicts = Verdicts(station.engine, station.clock)       # the sessions' stored verification
        self.templates = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"),
                                            autoescape=True, undefined=jinja2.StrictUndefined)

    # -- dependencies ---------------------------------------------------------------------
    @staticmethod
    def session(request: Request) -> SignIn:
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
        return self.station.desk(self.session(request).user, source=f"web {client_address(request)}")

    # -- helpers for routes ---------------------------------------------------------------
    def render(self, request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        session = self.session(request)
        text, lang = i18n.translator(session.lang), session.lang
        page = self.templates.get_template(template).render(
            t=text, lang=lang, csrf=session.csrf, account=session.user, when=self.when, path=request.url.path,
            label=lambda kind, code: i18n.label(kind, code, lang), detail=lambda said: i18n.detail(said, lang),
            fields=lambda values: i18n.fields(values, lang, self.when), **context)
        return HTMLResponse(page, status_code=status, headers={"Cache-Control": "no-store"})

    def when(self, ns: int | None) -> str:
        """A wall time as the overlay writes it: ISO 8601 to the millisecond with the UTC offset."""
        return "-" if ns is None else zone.moment(ns, self.settings.zone).isoformat(timespec="milliseconds")


def client_address(request: Request) -> str:
    """The client's address: the peer's, or the one a proxy named in ``trusted_proxies`` forwarded."""
    return request.client.host if request.client else "?"


def folder_of(desk: Desk, session: str, action: str = "view") -> Path:
    """The session's folder in this station's archive, if the user may know it exists; else
    refused (an audit entry): confidential to this role, or not here."""
    desk.access.require_visible(desk.user, action, [session])
    catalogued = desk.footage.folder(session)
    folder = playback.session_folder(desk.footage.archive, catalogued) if catalogued else None
    if folder is None:
        raise Refused(404, f"no session {session!r} in this station's archive", session, action)
    return folder
