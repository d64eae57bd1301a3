"""``bodycam-station audit``: verify, show and export the audit trail (supervisor, administrator)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from evidence.keys import key_text, load_public_key
from evidence.paths import ArchiveDir
from station import services
from station.commands import tables
from station.commands.access import acting_user, gate, open_desk
from station.commands.options import Shared
from station.commands.tables import Column
from station.custody import audit
from station.words import labels, zone
from station.words.messages import N_, _, language
from station.store.bucket import StoreError


def register(commands: argparse._SubParsersAction, shared: Shared) -> None:
    parser = commands.add_parser("audit", help=_("the signed audit trail: verify, show, export"))
    verbs = parser.add_subparsers(dest="verb", required=True)
    verify = verbs.add_parser("verify", help=_("check every entry's signature and the chain; name any gap or edit"),
                              parents=[shared.actor])
    verify.add_argument("--key", action="append", default=[],
                        help=_("another station's public key that may sign entries (a shared catalogue)"))
    verify.add_argument("--against-store", action="store_true",
                        help=_("also compare the trail with what this station anchored in the central store ([store])"))
    verify.set_defaults(run=_verify)
    show = verbs.add_parser("show", help=_("list entries (of one session)"), parents=[shared.actor])
    show.add_argument("--session")
    tables.add_json(show)
    show.set_defaults(run=_show)
    export = verbs.add_parser("export", help=_("write the whole trail as an audit file (docs/audit-format.md)"),
                              parents=[shared.actor])
    export.add_argument("--out", type=Path, required=True)
    export.set_defaults(run=_export)


def _fields(detail: dict, args: argparse.Namespace) -> str:
    return "; ".join(f"{name}: {value}" for name, value in
                     labels.fields(detail, language(), lambda ns: zone.shown(ns, args.zone))) or "-"


ENTRY_COLUMNS = (Column("seq", N_("#")), tables.time_column("time_ns", N_("When")), Column("actor", N_("Who")),
                 tables.label_column("role", N_("Role"), "role"), tables.label_column("action", N_("Action"), "action"),
                 tables.label_column("outcome", N_("Outcome"), "outcome"),
                 Column("footage", N_("Footage"), lambda value, args: " ".join(value) or "-"),
                 Column("reason", N_("Reason")), Column("detail", N_("Detail"), _fields), Column("source", N_("From")))


def _verify(args: argparse.Namespace) -> int:
    """Needs a supervisor or administrator; on a station without users yet, no one (the trail
    is checked with the dock's public key alone, and the check is an entry with actor null)."""
    desk, user = gate(args, "audit", "audit-verify")
    trusted = {load_public_key(ArchiveDir(args.archive).public_key.read_text())}
    trusted |= {load_public_key(key_text(key)) for key in args.key}
    problems = audit.verify(desk.access.engine, trusted)
    if args.against_store:
        problems += _against_store(args, desk)
    entry = desk.access.audit.record(user.name if user else None, "audit-verify", role=user.role if user else None,
                                     detail={"problems": len(problems)})
    for problem in problems:
        print(f"! {problem}")
    said = _("audit trail: {count} entries before this check, intact") if not problems else \
        _("audit trail: {count} entries before this check, {problems} problem(s)")
    print(said.format(count=entry.seq - 1, problems=len(problems)))
    return 0 if not problems else 1


def _against_store(args: argparse.Namespace, desk: services.Desk) -> list[str]:
    settings = services.store_settings(args.station_config)
    if settings is None:
        raise StoreError("--against-store needs a central store: set [store] endpoint and bucket in the station's "
                         "configuration file")
    return services.against_store(args.archive, desk.access.engine, desk.signer, settings)


def _show(args: argparse.Namespace) -> int:
    desk = open_desk(args)
    user = acting_user(desk, args, "audit-show")
    desk.access.require(user, "audit", action="audit-show", footage=[args.session] if args.session else [])
    found = audit.entries(desk.access.engine, session=args.session)
    if args.json:           # each entry as exported, signature and key included (docs/audit-format.md)
        for entry in found:
            print(json.dumps(entry.as_json(), ensure_ascii=False, sort_keys=True))
    else:
        tables.emit((entry.body for entry in found), ENTRY_COLUMNS, args)
    desk.access.audit.record(user.name, "audit-show", role=user.role,
                             footage=[args.session] if args.session else [])
    return 0


def _export(args: argparse.Namespace) -> int:
    desk = open_desk(args)
    user = acting_user(desk, args, "audit-export")
    desk.access.require(user, "audit", action="audit-export")
    count = audit.write_jsonl(args.out, audit.entries(desk.access.engine))
    desk.access.audit.record(user.name, "audit-export", role=user.role, detail={"entries": count})
    print(_("{count} entries written to {path}").format(count=count, path=args.out))
    return 0
