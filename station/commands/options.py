"""The options the station's commands share, as argparse parent parsers (``parents=[…]``).

Built when the command line is (``shared(config)``), so their defaults come from the station's
configuration file (station/config.py) and the environment then; a flag given overrides both."""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

from station.config import FILE_VARIABLE, StationConfig
from station.custody.access import Throttle
from station.words.messages import _
from sync.rates import BAUDRATES


@dataclass(frozen=True)
class Shared:
    archive: argparse.ArgumentParser        # --config, --archive
    station: argparse.ArgumentParser        # --config, --archive, --catalogue
    actor: argparse.ArgumentParser          # --config, --archive, --catalogue, --user
    line: argparse.ArgumentParser           # --baud
    dock: argparse.ArgumentParser           # --config, --archive, --catalogue, --port, --baud
    web: argparse.ArgumentParser            # --config, --archive, --catalogue, --host, --port


def not_utf8(args: argparse.Namespace) -> str | None:
    """The sentence refusing the first text argument that is not UTF-8 (the shell passed bytes
    Python could only keep as surrogates: they can be neither stored nor signed), else None."""
    for name, value in vars(args).items():
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str) and not text.isascii():
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError:
                    shown = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
                    return _("the {name} given, '{text}', is not UTF-8 text: give names, reasons and write-ups "
                             "in UTF-8.").format(name=name.rstrip("_"), text=shown)
    return None


def config_option(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``--config FILE``, read before the rest of the command line (its values are their defaults)."""
    parser.add_argument("--config", type=Path, help=f"the station's configuration file (env {FILE_VARIABLE}; "
                                                   "default /etc/bodycam/station.toml if present)")
    return parser


def shared(config: StationConfig) -> Shared:
    archive = config_option(argparse.ArgumentParser(add_help=False))
    archive.set_defaults(zone=config.zone)
    archive.add_argument("--archive", type=Path, default=config.archive, required=config.archive is None,
                         help=_("the dock's archive folder (default: 'archive' in the configuration file)"))
    station = argparse.ArgumentParser(add_help=False, parents=[archive])
    station.add_argument("--catalogue", default=config.catalogue,
                         help=_("database URL of a shared catalogue, e.g. postgresql+psycopg://host/db "
                              "(env BODYCAM_CATALOGUE, else 'catalogue' in the configuration file; "
                              "default: catalogue.sqlite in the archive)"))
    station.set_defaults(throttle=Throttle(max_failures=config["access.max_failures"],
                                           lockout_s=config["access.lockout_minutes"] * 60),
                         agency_keys=config.agency_keys, station_config=config)
    actor = argparse.ArgumentParser(add_help=False, parents=[station])
    actor.add_argument("--user", default=os.environ.get("BODYCAM_USER"),
                       help=_("the acting station user (env BODYCAM_USER; password: BODYCAM_PASSWORD or a prompt)"))
    line = argparse.ArgumentParser(add_help=False)
    line.add_argument("--baud", type=int, default=config["dock.baud"], choices=BAUDRATES, metavar="RATE",
                      help=f"line rate of a UART link, as set on the device (default: [dock] baud, "
                           f"{config['dock.baud']}; a USB CDC-ACM port ignores it)")
    dock = argparse.ArgumentParser(add_help=False, parents=[station, line])
    dock.add_argument("--port", dest="ports", action="append", metavar="GLOB",
                      help=f"a serial port or glob of them where devices dock, repeatable (default: [dock] ports, "
                           f"{' '.join(config['dock.ports'])})")
    dock.set_defaults(configured_ports=config["dock.ports"])
    web = argparse.ArgumentParser(add_help=False, parents=[station])
    web.add_argument("--host", default=config["web.host"],
                     help=f"address to listen on (default: [web] host, {config['web.host']})")
    web.add_argument("--port", type=int, default=config["web.port"],
                     help=f"TCP port (default: [web] port, {config['web.port']})")
    web.add_argument("--allowed-host", dest="allowed_hosts", action="append", default=list(config["web.allowed_hosts"]),
                     metavar="NAME", help=_("a host name the page answers to besides the one it listens on, localhost "
                     "and 127.0.0.1, added to [web] allowed_hosts (repeat for more; any other Host header gets 400)"))
    web.add_argument("--trusted-proxy", dest="trusted_proxies", action="append",
                     default=list(config["web.trusted_proxies"]), metavar="ADDRESS",
                     help=_("a reverse proxy whose X-Forwarded-For is believed for the audit trail's client address, "
                          "added to [web] trusted_proxies (repeat for more; default: none)"))
    return Shared(archive, station, actor, line, dock, web)
