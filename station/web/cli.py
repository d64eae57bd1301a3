"""``bodycam-station web``: serve the review page, on the loopback unless told otherwise."""
from __future__ import annotations

import argparse
import getpass
import ipaddress
import os
import sys
import time
from pathlib import Path

from bodycam_errors import BodycamError
from station.catalogue import open_catalogue, station_id
from station.web.ports import Services
from station.web.standins import ROLES, MemoryAccounts, MemoryAudit, MemoryExports


class WebError(BodycamError, ValueError):
    """The review page cannot start as asked."""


def register(commands: argparse._SubParsersAction) -> None:
    web = commands.add_parser("web", help="serve the review page (search, play, export requests, audit trail)")
    web.add_argument("--archive", type=Path, required=True, help="the dock's archive folder")
    web.add_argument("--catalogue", default=os.environ.get("BODYCAM_CATALOGUE"),
                     help="database URL of a shared catalogue (env BODYCAM_CATALOGUE; default: the archive's)")
    web.add_argument("--host", default="127.0.0.1", help="address to listen on (default: the loopback only)")
    web.add_argument("--port", type=int, default=8080, help="TCP port (default 8080)")
    web.add_argument("--user", action="append", default=[], metavar="NAME:ROLE",
                     help=f"an account for this run, its password asked for; roles: {', '.join(ROLES)}")
    web.set_defaults(run=_web)


def _web(args: argparse.Namespace) -> int:
    import uvicorn

    from station.web.app import Settings, create_app

    station_id(args.archive)                   # one sentence if this is no dock's archive
    catalogue = open_catalogue(args.archive, args.catalogue)
    accounts = MemoryAccounts()
    for spec in args.user:
        name, _, role = spec.partition(":")
        if role not in ROLES:
            raise WebError(f"--user {spec!r}: give NAME:ROLE with a role among {', '.join(ROLES)}")
        accounts.add(name, role, _password(name))
    services = Services(accounts, MemoryAudit(time.time_ns), catalogue, MemoryExports(time.time_ns))
    settings = Settings(secure_cookies=not _loopback(args.host))
    print(f"review page on http://{args.host}:{args.port}/ (Ctrl-C stops it)", flush=True)
    uvicorn.run(create_app(args.archive, services, time.time_ns, settings), host=args.host, port=args.port,
                log_level="warning", server_header=False)
    return 0


def _password(name: str) -> str:
    if sys.stdin.isatty():
        return getpass.getpass(f"password for {name}: ")
    return sys.stdin.readline().rstrip("\n")


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
