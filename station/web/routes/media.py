"""The footage itself: byte ranges of the untouched originals, and each frame's capture time.
Served only to a role that may view, in a session that stated a reason for this footage."""

import re
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, JSONResponse, Response

from evidence.records import INDEX_SUFFIX
from station.catalogue import playback
from station.web.deps import Web, folder_of
from station.web.security import Refused

SEGMENT = re.compile(r"seg-\d{6}\.mp4")


def router(web: Web) -> APIRouter:
    router = APIRouter()

    def granted(request: Request, session: str, name: str) -> Path:
        """The segment's file, when this sign-in gave a reason to view the session."""
        if session not in web.session(request).grants:
            raise Refused(403, "no reason was given to view this footage", session, "view")
        path = folder_of(web.desk(request), session) / name
        if not SEGMENT.fullmatch(name) or not playback.archived_file(web.archive, path):
            raise Refused(404, f"session {session} has no segment {name!r}", session)
        return path

    @router.get("/sessions/{session}/media/{name}", dependencies=[Depends(web.allowed("view"))])
    def media(request: Request, session: str, name: str) -> Response:
        return FileResponse(granted(request, session, name), media_type="video/mp4",
                            headers={"Cache-Control": "private, no-store"})

    @router.get("/sessions/{session}/frames/{name}", dependencies=[Depends(web.allowed("view"))])
    def frames(request: Request, session: str, name: str) -> Response:
        index_file = granted(request, session, name).with_name(name + INDEX_SUFFIX)
        index = playback.read_index(index_file) if playback.archived_file(web.archive, index_file) else []
        # microseconds: a JavaScript number holds them exactly, nanoseconds it would round
        return JSONResponse({"frames": [[pts, wall // 1000] for pts, wall in playback.frame_times(index)]},
                            headers={"Cache-Control": "private, no-store"})

    return router
