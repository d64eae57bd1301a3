"""``bodycam-station web``: serve the review page, on the loopback unless told otherwise."""
from __future__ import annotations

import argparse
import ipaddress

from bodycam_errors import BodycamError
from station.catalogue.catalogue import station_id
from station.custody.access import Throttle


class WebError(BodycamError, ValueError):
    """The review page cannot start as asked."""


def register(commands: argparse._SubParsersAction, station: argparse.ArgumentParser) -> None:
    """``web``, with the ``station`` parent parser's options (--archive, --catalogue)."""
    web = commands.add_parser("web", help="serve the review page (search, play, export requests, audit trail)",
                              parents=[station])
    web.add_argument("--host", default="127.0.0.1", help="address to listen on (default: the loopback only)")
    web.add_argument("--port", type=int, default=8080, help="TCP port (default 8080)")
    web.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                     help="a host name the page answers to besides the one it listens on, localhost and 127.0.0.1 "
                          "(repeat for more; any other Host header gets 400)")
    web.add_argument("--trusted-proxy", action="append", default=[], metavar="ADDRESS",
                     help="a reverse proxy whose X-Forwarded-For is believed for the audit trail's client address "
                          "(repeat for more; default: none, the peer's own address is recorded)")
    web.add_argument("--max-failures", type=int, default=Throttle.max_failures,
                     help=f"failed sign-ins in a row that lock a user or an address out (default {Throttle.max_failures})")
    web.add_argument("--lockout-minutes", type=int, default=Throttle.lockout_s // 60,
                     help=f"how long a lockout lasts (default {Throttle.lockout_s // 60})")
    web.set_defaults(run=_web)


def _web(args: argparse.Namespace) -> int:
    import uvicorn

    from station.services import open_station
    from station.web.app import create_app, server_config
    from station.web.deps import LOCAL_HOSTS, Settings

    station_id(args.archive)                   # one sentence if this is no dock's archive
    throttle = Throttle(max_failures=args.max_failures, lockout_s=args.lockout_minutes * 60)
    station = open_station(args.archive, args.catalogue, throttle=throttle)
    if not station.desk(None).access.has_users():
        raise WebError("the station has no users yet: add an administrator first "
                       "(bodycam-station user add NAME --role administrator --archive DIR)")
    settings = Settings(secure_cookies=not _loopback(args.host),
                        allowed_hosts=tuple(dict.fromkeys([args.host, *LOCAL_HOSTS, *args.allowed_host])),
                        trusted_proxies=tuple(args.trusted_proxy))
    print(f"review page on http://{args.host}:{args.port}/ (Ctrl-C stops it)", flush=True)
    uvicorn.Server(server_config(create_app(station, settings), args.host, args.port)).run()
    return 0


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
