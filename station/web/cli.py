"""``bodycam-station web``: serve the review page, on the loopback unless told otherwise."""
from __future__ import annotations

import argparse
import ipaddress

from bodycam_errors import BodycamError
from station.catalogue.catalogue import station_id
from station.words.messages import _


class WebError(BodycamError, ValueError):
    """The review page cannot start as asked."""


def register(commands: argparse._SubParsersAction, options: argparse.ArgumentParser) -> None:
    """``web``, with the web parent parser's options (--archive, --catalogue, --host, --port, the
    allowed host names and trusted proxies, and the station configuration's time zone)."""
    web = commands.add_parser("web", help=_("serve the review page (search, play, export requests, audit trail)"),
                              parents=[options])
    web.set_defaults(run=_web)


def _web(args: argparse.Namespace) -> int:
    import uvicorn

    from station.services import open_station, store_settings
    from station.web.app import create_app, server_config
    from station.web.deps import LOCAL_HOSTS, Settings

    station_id(args.archive)                   # one sentence if this is no dock's archive
    station = open_station(args.archive, args.catalogue, throttle=args.throttle,
                           store=store_settings(args.station_config))
    if not station.desk(None).access.has_users():
        raise WebError("the station has no users yet: add an administrator first "
                       "(bodycam-station user add NAME --role administrator --archive DIR)")
    settings = Settings(secure_cookies=not _loopback(args.host), zone=args.zone,
                        allowed_hosts=tuple(dict.fromkeys([args.host, *LOCAL_HOSTS, *args.allowed_hosts])),
                        trusted_proxies=tuple(args.trusted_proxies),
                        agency_keys=args.agency_keys)
    print(f"review page on http://{args.host}:{args.port}/ (Ctrl-C stops it)", flush=True)
    uvicorn.Server(server_config(create_app(station, settings), args.host, args.port)).run()
    return 0


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
