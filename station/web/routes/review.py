"""The session page: metadata, each segment's verification state, markers, stop reason, and the
player once the user has said why they view the footage (an audit entry)."""

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from station import writeup
from station.catalogue import station_id
from station.web import footage
from station.web.app import Web
from station.web.ports import SEARCH, VIEW, Account
from station.web.security import Refused

MIN_REASON = 4


def folder_in_archive(web: Web, session: str) -> Path | None:
    """The session's folder in this station's archive, if the catalogue files it there."""
    relative = web.services.catalogue.folder(station_id(web.archive), session)
    return footage.session_folder(web.archive, relative) if relative else None


def folder_of(web: Web, session: str) -> Path:
    """The session's archived folder, or Refused (404) when this archive does not hold it."""
    folder = folder_in_archive(web, session)
    if folder is None:
        raise Refused(404, f"no session {session!r} in the archive", session)
    return folder


def found(web: Web, session: str) -> footage.SessionFootage:
    return footage.load(folder_of(web, session))


def router(web: Web) -> APIRouter:
    router = APIRouter()

    @router.get("/sessions/{session}")
    def page(request: Request, session: str, account: Annotated[Account, Depends(web.allowed(SEARCH))]) -> Response:
        shown = found(web, session)
        reason = web.session(request).grants.get(session)
        return web.render(request, "session.html", footage=shown, reason=reason, may_view=account.may(VIEW),
                          player=player_data(shown, web) if reason else None, reason_error=None,
                          **casework(web, session))

    @router.post("/sessions/{session}/view")
    def view(request: Request, session: str, account: Annotated[Account, Depends(web.allowed(VIEW))],
             reason: Annotated[str, Form()] = "") -> Response:
        shown = found(web, session)
        reason = " ".join(reason.split())
        if len(reason) < MIN_REASON:
            return web.render(request, "session.html", status=400, footage=shown, reason=None, may_view=True,
                              player=None, reason_error="reason_short", **casework(web, session))
        web.session(request).grants[session] = reason
        web.note(request, account, "view", session=session, reason=reason)
        return RedirectResponse(f"/sessions/{session}#player", status_code=303)

    return router


def casework(web: Web, session: str) -> dict[str, Any]:
    """The catalogue's side of a session: its cases, legal holds, write-ups, and whether it
    still needs a write-up (a stop not at the end of enforcement, an interruption)."""
    catalogue = web.services.catalogue
    entry = catalogue.session(session) or {}
    waiting = writeup.pending(catalogue, entry.get("police_number")) if entry else []
    return {"catalogued": entry, "cases": catalogue.cases(session), "holds": catalogue.holds(session),
            "writeups": writeup.of(catalogue, session), "needs_writeup": any(p["session"] == session for p in waiting),
            "writeup_reasons": writeup.REASONS}


def player_data(shown: footage.SessionFootage, web: Web) -> dict:
    """What the player script needs: the MIME type, and per segment its byte ranges and times."""
    return {
        "session": shown.session, "mime": shown.mime, "duration": shown.duration, "fps": shown.fps,
        "offset_min": int(web.zone().utcoffset(None).total_seconds() // 60),
        "segments": [{
            "name": s.name, "state": s.state, "start": s.start, "duration": s.duration,
            "media": f"/sessions/{shown.session}/media/{s.name}",
            "frames": f"/sessions/{shown.session}/frames/{s.name}",
            "parts": [{"kind": p.kind, "offset": p.offset, "size": p.size, "start": p.start} for p in s.parts],
        } for s in shown.segments if s.parts and (shown.folder / s.name).is_file()],
    }

