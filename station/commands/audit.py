"""``bodycam-station audit``: verify, show and export the audit trail (supervisor, administrator)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from evidence.keys import key_text, load_public_key
from evidence.paths import ArchiveDir
from station import services
from station.commands.access import acting_user, gate, open_desk
from station.commands.options import Shared
from station.custody import audit
from station.store.bucket import StoreError


def register(commands: argparse._SubParsersAction, shared: Shared) -> None:
    parser = commands.add_parser("audit", help="the signed audit trail: verify, show, export")
    verbs = parser.add_subparsers(dest="verb", required=True)
    verify = verbs.add_parser("verify", help="check every entry's signature and the chain; name any gap or edit",
                              parents=[shared.actor])
    verify.add_argument("--key", action="append", default=[],
                        help="another station's public key that may sign entries (a shared catalogue)")
    verify.add_argument("--against-store", action="store_true",
                        help="also compare the trail with what this station anchored in the central store ([store])")
    verify.set_defaults(run=_verify)
    show = verbs.add_parser("show", help="list entries (of one session)", parents=[shared.actor])
    show.add_argument("--session")
    show.add_argument("--json", action="store_true", help="one exported JSON object a line")
    show.set_defaults(run=_show)
    export = verbs.add_parser("export", help="write the whole trail as an audit file (docs/audit-format.md)",
                              parents=[shared.actor])
    export.add_argument("--out", type=Path, required=True)
    export.set_defaults(run=_export)


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
    print(f"audit trail: {entry.seq - 1} entries before this check, "
          f"{'intact' if not problems else f'{len(problems)} problem(s)'}")
    return 0 if not problems else 1


def _against_store(args: argparse.Namespace, desk: services.Desk) -> list[str]:
    settings = services.store_settings(args.config_file)
    if settings is None:
        raise StoreError("--against-store needs a central store: set [store] endpoint and bucket in the station's "
                         "configuration file")
    return services.against_store(args.archive, desk.access.engine, desk.signer, settings)


def _show(args: argparse.Namespace) -> int:
    desk = open_desk(args)
    user = acting_user(desk, args, "audit-show")
    desk.access.require(user, "audit", action="audit-show", footage=[args.session] if args.session else [])
    for entry in audit.entries(desk.access.engine, session=args.session):
        body = entry.body
        if args.json:
            print(json.dumps(entry.as_json(), ensure_ascii=False, sort_keys=True))
        else:
            print(f"{body['seq']:>6} {body['time_ns'] // 10**9} {body['actor'] or '-'}({body['role'] or '-'}) "
                  f"{body['action']} {body['outcome']} {' '.join(body['footage'])} "
                  f"{body['reason'] or ''}  [{body['source']}]".rstrip())
    desk.access.audit.record(user.name, "audit-show", role=user.role,
                             footage=[args.session] if args.session else [])
    return 0


def _export(args: argparse.Namespace) -> int:
    desk = open_desk(args)
    user = acting_user(desk, args, "audit-export")
    desk.access.require(user, "audit", action="audit-export")
    count = audit.write_jsonl(args.out, audit.entries(desk.access.engine))
    desk.access.audit.record(user.name, "audit-export", role=user.role, detail={"entries": count})
    print(f"{count} entries written to {args.out}")
    return 0
