"""``bodycam-station witness ack``: a supervisor acknowledges a docking the witness refused.

The refusal stays: what the device offered stays under ``refused/`` and nothing of it is
receipted. Acknowledging only says, in the signed audit trail, that a supervisor looked into
it and why it may rest; ``bodycam-station verify`` then names it as acknowledged, not open.
"""
from __future__ import annotations

import argparse
from datetime import tzinfo
from pathlib import Path
from typing import Any

from evidence.paths import ArchiveDir
from station.commands.access import acting_user, open_desk
from station.commands.options import Shared
from station.intake.witness import ACKNOWLEDGED
from station.words import zone
from station.words.messages import _


def register(commands: argparse._SubParsersAction, shared: Shared) -> None:
    parser = commands.add_parser("witness", help=_("dockings refused for a rewound or forked chain "
                                                   "(supervisor, administrator)"))
    verbs = parser.add_subparsers(dest="verb", required=True)
    ack = verbs.add_parser("ack", help=_("acknowledge a refused docking, saying why it may rest (supervisor)"),
                           parents=[shared.actor])
    ack.add_argument("refusal", type=int, metavar="REFUSAL-ID",
                     help=_("its number, as bodycam-station verify names it"))
    ack.add_argument("--reason", help=_("what was found and why it may rest (required)"))
    ack.set_defaults(run=_ack)


def _ack(args: argparse.Namespace) -> int:
    desk = open_desk(args)
    user = acting_user(desk, args, ACKNOWLEDGED)
    refusal, seq = desk.witness.acknowledge_as(desk.access, user, args.refusal, args.reason)
    print(f"refused docking {args.refusal} of device {refusal['device']} acknowledged by {user.name} "
          f"(audit entry {seq})")
    return 0


def describe(refusal: dict[str, Any], archive: Path, station_zone: tzinfo) -> str:
    """One line for ``verify``: the refused docking, and whether it is open or acknowledged."""
    what = (f"docking {refusal['id']} of device {refusal['device']} (key {refusal['key_id']}) on "
            f"{_when(refusal['refused_ns'], station_zone)}: {refusal['reason']}; what it offered is under "
            f"{ArchiveDir(archive).refused(refusal['key_id'])}")
    if refusal["acknowledged_by"] is None:
        return f"REFUSED {what}; open (bodycam-station witness ack {refusal['id']} --reason TEXT, a supervisor or an administrator)"
    return (f"acknowledged refused {what}; acknowledged by {refusal['acknowledged_by']} on "
            f"{_when(refusal['acknowledged_ns'], station_zone)}: {refusal['acknowledgement']}")


def _when(time_ns: int, station_zone: tzinfo) -> str:
    return zone.shown(time_ns, station_zone)
