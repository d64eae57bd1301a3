"""Signing in and out, and the page's language."""

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from station.custody.access import AccessDenied, LoginThrottled, User
from station.web.deps import Web, client_address
from station.web.security import SCOPE_KEY
from station.words.labels import LANGUAGES


def public(web: Web) -> APIRouter:
    """The only routes served without a signed-in user."""
    router = APIRouter()

    @router.get("/login")
    def login_form(request: Request) -> Response:
        return web.render(request, "login.html", failed=False, held=None)

    @router.post("/login")
    def login(request: Request, user: Annotated[str, Form()] = "", password: Annotated[str, Form()] = "") -> Response:
        try:
            signed = web.desk(request).access.login(user, password, client_address(request))   # an audit entry
        except LoginThrottled as held:
            return web.render(request, "login.html", status=401, failed=False, held=str(held))
        except AccessDenied:
            return web.render(request, "login.html", status=401, failed=True, held=None)
        request.scope[SCOPE_KEY] = web.sessions.sign_in(web.session(request), signed)
        return RedirectResponse("/admin" if signed.may("users") else "/", status_code=303)   # each role's own page

    @router.get("/lang/{lang}")
    def language(request: Request, lang: str) -> Response:
        if lang in LANGUAGES:
            web.session(request).lang = lang
        return RedirectResponse(same_origin_path(request, request.headers.get("referer", "")), status_code=303)

    return router


def same_origin_path(request: Request, referer: str) -> str:
    """The path (and query) of ``referer`` when it is a page of this site, else ``/``: never
    another site, nor a path a browser would read as one (``//host``, ``/\\host``)."""
    page, here = urlsplit(referer), urlsplit(str(request.base_url))
    if (page.scheme, page.netloc) != (here.scheme, here.netloc) or not page.path.startswith("/") \
            or page.path.startswith("//") or "\\" in page.path:
        return "/"
    return page.path + (f"?{page.query}" if page.query else "")


def router(web: Web) -> APIRouter:
    router = APIRouter()

    @router.post("/logout")
    def logout(request: Request, user: Annotated[User, Depends(web.signed_in)]) -> Response:
        web.desk(request).record("logout")
        request.scope[SCOPE_KEY] = web.sessions.end(web.session(request))
        return RedirectResponse("/login", status_code=303)

    return router
