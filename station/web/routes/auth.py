"""Signing in and out, and the page's language."""

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from station.custody.access import AccessDenied, User
from station.web.deps import Web
from station.web.i18n import LANGUAGES
from station.web.security import SCOPE_KEY


def public(web: Web) -> APIRouter:
    """The only routes served without a signed-in user."""
    router = APIRouter()

    @router.get("/login")
    def login_form(request: Request) -> Response:
        return web.render(request, "login.html", failed=False)

    @router.post("/login")
    def login(request: Request, user: Annotated[str, Form()] = "", password: Annotated[str, Form()] = "") -> Response:
        try:
            signed = web.desk(request).access.login(user, password)       # an audit entry, done or refused
        except AccessDenied:
            return web.render(request, "login.html", status=401, failed=True)
        request.scope[SCOPE_KEY] = web.sessions.sign_in(web.session(request), signed)
        return RedirectResponse("/", status_code=303)

    @router.get("/lang/{lang}")
    def language(request: Request, lang: str) -> Response:
        if lang in LANGUAGES:
            web.session(request).lang = lang
        back = request.headers.get("referer", "/")
        return RedirectResponse(back if back.startswith(str(request.base_url)) else "/", status_code=303)

    return router


def router(web: Web) -> APIRouter:
    router = APIRouter()

    @router.post("/logout")
    def logout(request: Request, user: Annotated[User, Depends(web.signed_in)]) -> Response:
        web.desk(request).record("logout")
        request.scope[SCOPE_KEY] = web.sessions.end(web.session(request))
        return RedirectResponse("/login", status_code=303)

    return router
