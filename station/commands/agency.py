"""``bodycam-station agency-key``: the agency's X25519 key pair that encrypted sessions are wrapped for."""
from __future__ import annotations

import argparse
from pathlib import Path

from station.words.messages import _


def register(commands: argparse._SubParsersAction) -> None:
    new = commands.add_parser("agency-key", help=_("make the agency's key pair: FILE, the private key for "
                                                   "[encryption] agency_key (mode 600), and FILE's .pub for "
                                                   "bodycam enroll --agency-key"))
    new.add_argument("file", type=Path, help=_("the private key to write, e.g. /etc/bodycam/agency.key"))
    new.set_defaults(run=_new)


def _new(args: argparse.Namespace) -> int:
    from station.custody.contentkeys import new_agency_key

    key_id, public = new_agency_key(args.file)
    print(_("agency key {key}: private key in {path} (keep it, and a copy offline: without it no encrypted session "
            "plays), public key in {public}").format(key=key_id, path=args.file, public=public))
    return 0
