"""``bodycam-station web``: serve the review page, on the loopback unless told otherwise."""
from __future__ import annotations

import argparse
import ipaddress

from bodycam_errors import BodycamError
from station.catalogue.catalogue import station_id


class WebError(BodycamError, ValueError):
    """The review page cannot start as asked."""


def register(commands: argparse._SubParsersAction, options: argparse.ArgumentParser) -> None:
    """``web``, with the web parent parser's options (--archive, --catalogue, --host, --port, and
    the allowed host names and time zone of the station's configuration)."""
    web = commands.add_parser("web", help="serve the review page (search, play, export requests, audit trail)",
                              parents=[options])
    web.set_defaults(run=_web)


def _web(args: argparse.Namespace) -> int:
    import uvicorn
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    from station.services import open_station
    from station.web.app import create_app
    from station.web.deps import Settings

    station_id(args.archive)                   # one sentence if this is no dock's archive
    station = open_station(args.archive, args.catalogue)
    if not station.desk(None).access.has_users():
        raise WebError("the station has no users yet: add an administrator first "
                       "(bodycam-station user add NAME --role administrator --archive DIR)")
    settings = Settings(secure_cookies=not _loopback(args.host), utc_offset_min=args.utc_offset_min)
    app = TrustedHostMiddleware(create_app(station, settings), allowed_hosts=args.allowed_hosts)
    print(f"review page on http://{args.host}:{args.port}/ (Ctrl-C stops it)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port,
                log_level="warning", server_header=False)
    return 0


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
