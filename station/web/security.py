"""Sign-in sessions, CSRF tokens and the checks every request goes through.

Every browser gets a server-side session on its first request, named by a random id in a
cookie that is ``HttpOnly`` and ``SameSite=Strict`` (and ``Secure`` unless the page is served
on the loopback only); signing in replaces the id (no fixation). Sessions are kept in the
station's database (the access area's ``SignIns``, which stores only a hash of each id), so a
restart of the page or a second worker keeps them. A session ends after
``idle_s`` without a request or ``max_s`` after it began, whichever comes first. Each session
has a CSRF token that every form carries and every POST must return (compared in constant
time). Playing a session's footage needs a grant, given when the user states a reason.
Everything refused raises ``Refused``, which the app logs to the audit trail and answers.
"""
from __future__ import annotations

import hmac
import logging
import secrets
from http.cookies import SimpleCookie
from typing import Callable

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from station.custody.access import SignIn, SignIns, User

log = logging.getLogger(__name__)
COOKIE = "bodycam_session"
SCOPE_KEY = "bodycam.web_session"
SAFE_METHODS = ("GET", "HEAD")
SEEN_STEP_NS = 10 * 10**9      # a session's last use is written at most this often (not on every byte range)
# Scripts and styles only from the page itself (the timeline's positions are style attributes),
# video only from the Media Source the player makes, and never inside another site's frame.
HEADERS = [(b"content-security-policy", (b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                                          b"media-src 'self' blob:; object-src 'none'; base-uri 'none'; "
                                          b"form-action 'self'; frame-ancestors 'none'")),
           (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin")]


class Refused(Exception):
    """A request the page will not serve: ``status`` 401 (not signed in), 403 (not allowed), 400
    or 404; ``action`` names what was attempted in the audit entry."""

    def __init__(self, status: int, why: str, session: str | None = None, action: str = "request") -> None:
        super().__init__(why)
        self.status, self.why, self.session, self.action = status, why, session, action


class WebSessions:
    """The sign-in sessions of the page, kept by ``store``, expiring as the settings say."""

    def __init__(self, store: SignIns, clock: Callable[[], int], idle_s: int = 15 * 60, max_s: int = 8 * 3600) -> None:
        self.store, self.clock, self.idle_ns, self.max_ns = store, clock, idle_s * 10**9, max_s * 10**9

    def get(self, session_id: str | None) -> SignIn:
        """The live session named by ``session_id``, or a new anonymous one."""
        now = self.clock()
        found = self.store.load(session_id) if session_id else None
        if found is not None and now - found.seen_ns <= self.idle_ns and now - found.began_ns <= self.max_ns:
            if now - found.seen_ns >= SEEN_STEP_NS:
                found.seen_ns = now
                self.store.save(found)
            return found
        if found is not None:
            self.store.end(found.id)
        return self._new(now)

    def save(self, session: SignIn) -> None:
        """Keep a new session, or what a request changed (the language, the grants)."""
        self.store.save(session)

    @staticmethod
    def state(session: SignIn) -> tuple:
        """What a request may change in a session, to tell whether it must be saved."""
        return session.id, session.user, session.lang, dict(session.grants)

    def sign_in(self, old: SignIn, user: User) -> SignIn:
        """A fresh session (new id and token) for ``user``; the anonymous one ends."""
        self.store.end(old.id)
        fresh = self._new(self.clock())
        fresh.user, fresh.lang = user, old.lang
        return fresh

    def end(self, session: SignIn) -> SignIn:
        self.store.end(session.id)
        fresh = self._new(self.clock())
        fresh.lang = session.lang
        return fresh

    def _new(self, now: int) -> SignIn:
        self.store.forget_expired(now - self.idle_ns, now - self.max_ns)
        return SignIn(secrets.token_urlsafe(32), secrets.token_urlsafe(32), now, now)


def csrf_matches(session: SignIn, token: str | None) -> bool:
    return bool(token) and hmac.compare_digest(session.csrf.encode(), token.encode())


class SessionMiddleware:
    """Puts the request's session in its scope, keeps it and sets the cookie when it is new or
    replaced, and adds the security headers to every answer."""

    def __init__(self, app: ASGIApp, sessions: WebSessions, secure: bool) -> None:
        self.app, self.sessions, self.secure = app, sessions, secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cookie = SimpleCookie()
        for name, value in scope["headers"]:
            if name == b"cookie":
                cookie.load(value.decode("latin-1"))
        given = cookie[COOKIE].value if COOKIE in cookie else None
        found = scope[SCOPE_KEY] = await run_in_threadpool(self.sessions.get, given)
        before = self.sessions.state(found) if found.id == given else None      # None: a new one, to be kept

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", [])) + HEADERS
                current = scope[SCOPE_KEY]          # sign-in and sign-out replace it
                if self.sessions.state(current) != before:
                    await run_in_threadpool(self.sessions.save, current)
                if current.id != given:
                    headers.append((b"set-cookie", self.cookie(current.id).encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def cookie(self, value: str) -> str:
        return f"{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict" + ("; Secure" if self.secure else "")
