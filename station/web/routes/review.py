"""The session page: metadata (where it was recorded too), each segment's verification state, markers, stop reason, case
links, holds and write-ups, and the player once the user has said why they view the footage
(an audit entry)."""

from datetime import datetime, tzinfo
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from station.catalogue import playback, writeup
from station.catalogue.catalogue import within_limit
from station.catalogue.footage import CatalogueFootage
from station.custody.access import AccessError, User
from station.custody.contentkeys import encryption_of
from station.services import Desk
from station.web.deps import MIN_REASON, Web, folder_of
from station.words import labels, zone


def router(web: Web) -> APIRouter:
    router = APIRouter()

    @router.get("/sessions/{session}")
    def page(request: Request, session: str, user: Annotated[User, Depends(web.allowed("search"))]) -> Response:
        desk = web.desk(request)
        shown, checked_ns = footage(folder_of(desk, session), desk)
        reason = web.session(request).grants.get(session)
        return web.render(request, "session.html", footage=shown, checked_ns=checked_ns, reason=reason,
                          may_view=user.may("view"),
                          player=player_data(shown, web, request, desk.footage) if reason else None,
                          reason_error=None,
                          export_request=own_request(desk, request.query_params.get("export", "")),
                          **casework(desk, session))

    @router.post("/sessions/{session}/view")
    def view(request: Request, session: str, user: Annotated[User, Depends(web.allowed("view"))],
             reason: Annotated[str, Form()] = "") -> Response:
        desk = web.desk(request)
        shown, checked_ns = footage(folder_of(desk, session), desk)
        reason = " ".join(reason.split())
        if len(reason) < MIN_REASON:
            return web.render(request, "session.html", status=400, footage=shown, checked_ns=checked_ns,
                              reason=None, may_view=True,
                              player=None, reason_error="reason_short", export_request=None,
                              **casework(desk, session))
        web.session(request).grants[session] = within_limit("reason", reason)
        desk.record("view", session=session, reason=reason, ok=all(s.good for s in shown.segments))
        return RedirectResponse(f"/sessions/{session}#player", status_code=303)

    @router.post("/sessions/{session}/verify", dependencies=[Depends(web.allowed("search"))])
    def verify(request: Request, session: str) -> Response:
        """Read every byte of the session again, store the verdicts (an audit entry)."""
        desk = web.desk(request)
        checked = web.verdicts.check(folder_of(desk, session, "verify"), desk.footage)
        desk.record("verify", session=session, ok=checked.ok,
                    states=sorted({s.state for s in checked.footage.segments}))
        return RedirectResponse(f"/sessions/{session}#segments", status_code=303)

    def footage(folder: Path, desk: Desk) -> tuple[playback.SessionFootage, int]:
        """The session as the page shows it, with its last stored verdicts and when they were reached."""
        checked = web.verdicts.latest(folder, desk.footage)
        return checked.footage, checked.checked_ns

    return router


def own_request(desk: Desk, number: str) -> Any:
    """The export request numbered ``number`` when this user made it (shown after asking)."""
    if not number.isdigit():
        return None
    try:
        found = desk.exports.get(int(number))
    except AccessError:
        return None
    return found if found.requester == desk.user.name else None


def casework(desk: Desk, session: str) -> dict[str, Any]:
    """The catalogue's side of a session: its cases, legal holds, write-ups, and whether it
    still needs a write-up (a stop not at the end of enforcement, an interruption)."""
    catalogue = desk.catalogue
    entry = catalogue.session(session) or {}
    waiting = writeup.pending(catalogue, entry.get("police_number")) if entry else []
    return {"cases": catalogue.cases(session), "holds": catalogue.holds(session),
            "writeups": writeup.of(catalogue, session), "needs_writeup": any(p["session"] == session for p in waiting),
            "writeup_reasons": writeup.REASONS, "confidential": desk.access.confidential_level(session),
            "place": desk.footage.place(session)}


def player_data(shown: playback.SessionFootage, web: Web, request: Request, footage: CatalogueFootage) -> dict:
    """What the player script needs: the MIME type, per segment (whose video is in the archive or
    the central store) its byte ranges, times and verification state (its code, and its label in
    the page's language), and for an encrypted session where to ask for its Clear Key licence
    (with the form's CSRF token)."""
    encrypted = encryption_of(shown.folder) is not None
    lang = web.session(request).lang
    return {
        "session": shown.session, "mime": shown.mime, "duration": shown.duration, "fps": shown.fps,
        "licence": f"/sessions/{shown.session}/licence" if encrypted else None,
        "csrf": web.session(request).csrf if encrypted else None,
        "offset_min": _offset_min(shown, web.settings.zone),
        "segments": [{
            "name": s.name, "state": s.state, "label": labels.label("segment", s.state, lang), "start": s.start,
            "duration": s.duration,
            "media": f"/sessions/{shown.session}/media/{s.name}",
            "frames": f"/sessions/{shown.session}/frames/{s.name}",
            "parts": [{"kind": p.kind, "offset": p.offset, "size": p.size, "start": p.start} for p in s.parts],
        } for s in shown.segments if s.parts and footage.readable(shown.folder / s.name)],
    }


def _offset_min(shown: playback.SessionFootage, station_zone: tzinfo) -> int:
    """The zone's offset from UTC when the session began (the player writes capture times with it)."""
    began = next((s.first_wall_ns for s in shown.segments if s.first_wall_ns is not None), None)
    at = zone.moment(began, station_zone) if began is not None else datetime.now(station_zone)
    return int(at.utcoffset().total_seconds() // 60)
