"""``bodycam-station inspect``: sample inspections (抽检) and their ledger (检查台账), by a supervisor.

``inspect draw`` draws sessions from a recorded seed, ``inspect finding`` records the signed
finding on one of them, ``inspect ledger`` prints the ledger (``--csv FILE``, ``--pdf FILE``)
and ``inspect verify`` checks every finding's signed file and that every draw gives the same
sessions again from its seed. Each is done by the authenticated ``--user`` and is an audit entry.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from station import services
from station.catalogue.catalogue import CatalogueError
from station.commands.access import acting_user
from station.commands.catalogue import parse_time
from station.commands.options import Shared
from station.custody.access import User
from station.supervision import ledger
from station.supervision.inspections import ANSWERS, CHECKS, VERDICTS, Criteria, Inspections


def register(commands: argparse._SubParsersAction, shared: Shared) -> None:
    parser = commands.add_parser("inspect", help="sample inspections of the footage and their ledger (supervisor)")
    verbs = parser.add_subparsers(dest="verb", required=True)
    draw = verbs.add_parser("draw", help="draw a random sample of sessions from a recorded seed",
                            parents=[shared.actor])
    draw.add_argument("--unit", help="unit number or name")
    draw.add_argument("--officer", help="police number or name")
    draw.add_argument("--since", help="started at or after: YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS")
    draw.add_argument("--until", help="started before: YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS")
    size = draw.add_mutually_exclusive_group(required=True)
    size.add_argument("--count", type=int, help="how many sessions")
    size.add_argument("--share", type=float, metavar="PERCENT",
                      help="which share of the sessions, in percent to a tenth, e.g. 5 or 2.5 (rounded up)")
    draw.add_argument("--seed", help="the seed (default: 128 random bits); stored with the draw")
    draw.set_defaults(run=_draw)

    finding = verbs.add_parser("finding", help="record the finding on one sampled session, signed by the dock",
                               parents=[shared.actor])
    finding.add_argument("draw", type=int, help="the draw's number")
    finding.add_argument("session")
    finding.add_argument("--check", action="append", default=[], metavar="RULE=ANSWER",
                         help=f"each of {', '.join(CHECKS)} with {'|'.join(ANSWERS)} (all five are needed)")
    finding.add_argument("--verdict", required=True, choices=tuple(VERDICTS), help="compliant: 规范; noncompliant: 不规范")
    finding.add_argument("--note", default="", help="what was found")
    finding.set_defaults(run=_finding)

    book = verbs.add_parser("ledger", help="the inspection ledger (检查台账): every draw and finding",
                            parents=[shared.actor])
    book.add_argument("--csv", type=Path, help="write it as CSV to this file")
    book.add_argument("--pdf", type=Path, help="write it as a PDF in Chinese to this file")
    book.set_defaults(run=_ledger)

    verify = verbs.add_parser("verify", help="check every finding's signed file and every draw against its seed",
                              parents=[shared.actor])
    verify.set_defaults(run=_verify)


def _inspections(args: argparse.Namespace, action: str) -> tuple[Inspections, User]:
    """The inspections, done by the authenticated acting user (every station doing them has users)."""
    station = services.open_station(args.archive, args.catalogue, throttle=args.throttle)
    user = acting_user(station.desk(None), args, action)
    return services.open_inspections(station.desk(user), args.archive), user


def _draw(args: argparse.Namespace) -> int:
    inspections, user = _inspections(args, "inspection-draw")
    criteria = Criteria(unit=args.unit, officer=args.officer, since_ns=parse_time(args, args.since),
                        until_ns=parse_time(args, args.until), count=args.count,
                        per_mille=None if args.share is None else round(args.share * 10))
    drawn = inspections.draw(user, criteria, args.seed)
    print(f"draw {drawn['id']}: seed {drawn['seed']}, {len(drawn['sessions'])} of {drawn['candidates']} sessions")
    for session in drawn["sessions"]:
        print(f"  {session}")
    return 0


def _finding(args: argparse.Namespace) -> int:
    checks = {}
    for given in args.check:
        rule, _, answer = given.partition("=")
        if rule not in CHECKS or answer not in ANSWERS:
            raise CatalogueError(f"--check {given!r}: give RULE=ANSWER, RULE one of {', '.join(CHECKS)}, "
                                 f"ANSWER one of {', '.join(ANSWERS)}")
        checks[rule] = answer
    inspections, user = _inspections(args, "inspection-finding")
    body = inspections.record_finding(user, args.draw, args.session, checks, args.verdict, args.note)
    print(f"finding on {args.session} (draw {args.draw}): {VERDICTS[args.verdict]}, signed by dock {body['key_id']}")
    return 0


def _ledger(args: argparse.Namespace) -> int:
    inspections, user = _inspections(args, "inspection-ledger")
    entries = inspections.ledger(user)
    if args.csv:
        args.csv.write_text(ledger.to_csv(entries, args.zone), encoding="utf-8")
    if args.pdf:
        ledger.write_pdf(entries, args.pdf, printed_by=user.name, printed_ns=time.time_ns(), station_zone=args.zone)
    if not (args.csv or args.pdf):
        for entry in entries:
            print(json.dumps(dict(zip(ledger.COLUMNS, ledger.values(entry, args.zone))), ensure_ascii=False))
    return 0


def _verify(args: argparse.Namespace) -> int:
    inspections, user = _inspections(args, "inspection-verify")
    findings, draws = inspections.check(user)
    for row, problem in findings:
        print(f"finding {row['id']} on {row['session']} (draw {row['draw']}): {problem or 'OK'}")
    for drawn, same in draws:
        print(f"draw {drawn['id']} (seed {drawn['seed']}): "
              f"{'the same sessions again' if same else 'the catalogue now gives other candidates or sessions'}")
    return 1 if any(problem for _, problem in findings) or not all(same for _, same in draws) else 0
