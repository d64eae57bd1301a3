"""The footage itself: byte ranges of the untouched originals, each frame's capture time, and
for an encrypted session its content key as an EME Clear Key licence. Served only to a role
that may view, in a session that stated a reason for this footage."""

import base64
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse

from evidence import EvidenceError
from evidence.records import INDEX_SUFFIX
from station.catalogue import playback
from station.custody.contentkeys import content_keys, load_agency_keys
from station.catalogue.footage import CatalogueFootage
from station.web.deps import Web, folder_of
from station.web.security import Refused

SEGMENT = re.compile(r"seg-\d{6}\.mp4")
RANGE = re.compile(r"bytes=(\d*)-(\d*)")
CHUNK = 1024 * 1024
PRIVATE = {"Cache-Control": "private, no-store"}


def router(web: Web) -> APIRouter:
    router = APIRouter()

    def granted(request: Request, session: str, name: str) -> Path:
        """The segment's file, when this sign-in gave a reason to view the session."""
        if session not in web.session(request).grants:
            raise Refused(403, "no reason was given to view this footage", session, "view")
        desk = web.desk(request)
        path = folder_of(desk, session) / name
        if not SEGMENT.fullmatch(name) or not (playback.archived_file(web.archive, path) or stored(desk.footage, path)):
            raise Refused(404, f"session {session} has no segment {name!r}", session)
        return path

    @router.get("/sessions/{session}/media/{name}", dependencies=[Depends(web.allowed("view"))])
    def media(request: Request, session: str, name: str) -> Response:
        path = granted(request, session, name)
        if playback.archived_file(web.archive, path):
            return FileResponse(path, media_type="video/mp4", headers=PRIVATE)
        return from_store(web.desk(request).footage, path, request.headers.get("range"))

    @router.get("/sessions/{session}/frames/{name}", dependencies=[Depends(web.allowed("view"))])
    def frames(request: Request, session: str, name: str) -> Response:
        index_file = granted(request, session, name).with_name(name + INDEX_SUFFIX)
        index = playback.read_index(index_file) if playback.archived_file(web.archive, index_file) else []
        # microseconds: a JavaScript number holds them exactly, nanoseconds it would round
        return JSONResponse({"frames": [[pts, wall // 1000] for pts, wall in playback.frame_times(index)]},
                            headers={"Cache-Control": "private, no-store"})

    @router.post("/sessions/{session}/licence", dependencies=[Depends(web.allowed("view"))])
    def licence(request: Request, session: str, message: Annotated[str, Form()] = "") -> Response:
        """The Clear Key licence (W3C EME) for the key ids the browser asks for: this session's only."""
        if session not in web.session(request).grants:
            raise Refused(403, "no reason was given to view this footage", session, "view")
        try:
            wanted = {_unbase64(kid) for kid in json.loads(message)["kids"]}
        except (ValueError, KeyError, TypeError) as exc:
            raise Refused(400, f"not a Clear Key licence request: {exc}", session) from exc
        folder = folder_of(web.desk(request), session)
        try:      # the key files are read at each licence: one made unsafe since the page started is refused
            keys = content_keys(folder, load_agency_keys(web.settings.agency_keys))
        except EvidenceError as exc:
            raise Refused(409, str(exc), session) from exc
        return JSONResponse({"keys": [{"kty": "oct", "kid": _base64(kid), "k": _base64(key)}
                                      for kid, key in keys.items() if kid in wanted], "type": "temporary"},
                            headers={"Cache-Control": "private, no-store"})

    return router


def _base64(data: bytes) -> str:
    """Base64url without padding, as Clear Key writes key ids and keys."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unbase64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def stored(footage: CatalogueFootage, path: Path) -> bool:
    """A video the archive no longer holds (no file, not even a link) that the central store does."""
    return not os.path.lexists(path) and footage.stored is not None and footage.stored.has(footage.key(path))


def from_store(footage: CatalogueFootage, path: Path, asked: str | None) -> Response:
    """The stored video, or the one byte range asked for (RFC 9110), read from the store in
    ranged GETs as the browser's player asks for it."""
    size = footage.size(path)
    start, end = 0, size - 1
    headers = {**PRIVATE, "Accept-Ranges": "bytes"}
    found = RANGE.fullmatch((asked or "").strip())
    if found and (found[1] or found[2]):
        if found[1]:
            start, end = int(found[1]), min(int(found[2]), size - 1) if found[2] else size - 1
        else:
            start = max(0, size - int(found[2]))
        if start > end:
            return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{size}"})
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    headers["Content-Length"] = str(end - start + 1)
    return StreamingResponse(_bytes(footage, path, start, end), status_code=206 if "Content-Range" in headers else 200,
                             media_type="video/mp4", headers=headers)


def _bytes(footage: CatalogueFootage, path: Path, start: int, end: int) -> Iterator[bytes]:
    with footage.open(path) as stream:
        stream.seek(start)
        left = end - start + 1
        while left > 0 and (chunk := stream.read(min(left, CHUNK))):
            left -= len(chunk)
            yield chunk
