"""The options the station's commands share, as argparse parent parsers (``parents=[…]``).

Built when the command line is (``shared()``), so their defaults read the environment then."""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Shared:
    archive: argparse.ArgumentParser        # --archive
    station: argparse.ArgumentParser        # --archive, --catalogue
    actor: argparse.ArgumentParser          # --archive, --catalogue, --user


def shared() -> Shared:
    archive = argparse.ArgumentParser(add_help=False)
    archive.add_argument("--archive", type=Path, required=True, help="the dock's archive folder")
    station = argparse.ArgumentParser(add_help=False, parents=[archive])
    station.add_argument("--catalogue", default=os.environ.get("BODYCAM_CATALOGUE"),
                         help="database URL of a shared catalogue, e.g. postgresql+psycopg://host/db "
                              "(env BODYCAM_CATALOGUE; default: catalogue.sqlite in the archive)")
    actor = argparse.ArgumentParser(add_help=False, parents=[station])
    actor.add_argument("--user", default=os.environ.get("BODYCAM_USER"),
                       help="the acting station user (env BODYCAM_USER; password: BODYCAM_PASSWORD or a prompt)")
    return Shared(archive, station, actor)
