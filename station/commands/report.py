"""``bodycam-station report``: the periodic usage report (PDF and CSV), the chain-of-custody
report of a session or a case (PDF), and the devices not docked. Each report made is an audit entry."""
from __future__ import annotations

import argparse
import hashlib
import time
from datetime import tzinfo
from pathlib import Path

from station.catalogue.catalogue import DAY_NS, CatalogueError
from station.commands.access import gate
from station.commands.options import Shared
from station.store.store import status
from station.supervision import inspections, reports, usage
from station.supervision.custody_report import custody, pdf_bytes
from station.supervision.undocked import undocked
from station.words import zone
from station.words.messages import _


def register(commands: argparse._SubParsersAction, shared: Shared) -> None:
    report = commands.add_parser("report", help="supervision reports: usage (定期通报), custody, undocked")
    kinds = report.add_subparsers(dest="report", required=True)
    use = kinds.add_parser("usage", parents=[shared.actor], help="a unit's use of the recorders over a month or "
                                                                 "a period: PDF in Chinese and/or CSV")
    use.add_argument("--unit", help="the unit's number (default: every unit)")
    use.add_argument("--month", help="YYYY-MM (in the station's time zone)")
    use.add_argument("--since", help="first day YYYY-MM-DD (with --until, instead of --month)")
    use.add_argument("--until", help="last day YYYY-MM-DD, included")
    use.add_argument("--out", type=Path, help="the PDF to write")
    use.add_argument("--csv", type=Path, help="the CSV to write")
    use.set_defaults(run=_usage)
    chain = kinds.add_parser("custody", parents=[shared.actor], help="the chain of custody of a session or a "
                                                                     "case: every audit entry, as a PDF in Chinese")
    chain.add_argument("session", nargs="?")
    chain.add_argument("--case")
    chain.add_argument("--out", type=Path, required=True, help="the PDF to write")
    chain.set_defaults(run=_custody)
    late = kinds.add_parser("undocked", parents=[shared.actor], help="devices not docked within 24 h of their "
                                                                     "last session, sessions docked late (S1), and "
                                                                     "the central store's overdue sessions")
    late.add_argument("--unit", help="the unit's number (default: every unit)")
    late.add_argument("--days", type=int, default=31, help="late dockings of sessions started in the last DAYS")
    late.set_defaults(run=_undocked)


def _write(path: Path, data: bytes) -> dict[str, str]:
    """Write a report's file; what its audit entry says of it (name and SHA-256)."""
    path.write_bytes(data)
    return {"file": path.name, "sha256": hashlib.sha256(data).hexdigest()}


def _usage(args: argparse.Namespace) -> int:
    if bool(args.month) == bool(args.since and args.until):
        raise CatalogueError("give --month YYYY-MM, or --since and --until YYYY-MM-DD")
    if not (args.out or args.csv):
        raise CatalogueError("give --out FILE.pdf and/or --csv FILE.csv")
    period = usage.month(args.month, args.zone) if args.month else usage.between(args.since, args.until, args.zone)
    desk, _ = gate(args, "report", "report-usage")
    found = usage.usage(desk.catalogue, args.unit, period, time.time_ns(), args.zone, inspections.verdict_counts)
    written = {}
    if args.out:
        written["pdf"] = _write(args.out, reports.pdf_bytes(found))
    if args.csv:
        written["csv"] = _write(args.csv, reports.csv_text(found).encode())
    desk.record("report-usage", unit=args.unit, period=period.label, sessions=found.sessions, **written)
    print(f"usage report of {reports.unit_text(found)}, {period.label}: {found.sessions} session(s), "
          f"{found.hours:.1f} h; written: {', '.join(str(p) for p in (args.out, args.csv) if p)}")
    return 0


def _custody(args: argparse.Namespace) -> int:
    if bool(args.session) == bool(args.case):
        raise CatalogueError("give a SESSION or --case C")
    desk, user = gate(args, "audit", "report-custody", footage=[args.session] if args.session else [])
    found = custody(desk.catalogue, {desk.signer.public_key}, args.zone, session=args.session, case=args.case)
    names = [session["session"] for session in found.sessions]
    if user is not None:
        desk.access.require_visible(user, "report-custody", names)
    written = _write(args.out, pdf_bytes(found, time.time_ns(), args.zone))
    desk.record("report-custody", footage=names, case=args.case, events=len(found.events), **written)
    trail = "the audit trail verifies" if not found.trail_problems else \
        f"the audit trail does NOT verify: {found.trail_problems[0]}"
    print(f"custody report of {found.subject}: {len(found.events)} event(s) in {args.out}; {trail}")
    return 0 if not found.trail_problems else 1


def _undocked(args: argparse.Namespace) -> int:
    desk, _user = gate(args, "report", "report-undocked")
    now = time.time_ns()

    def at(ns: int | None) -> str:
        return _moment(ns, args.zone)

    found = undocked(desk.catalogue, now, now - args.days * DAY_NS, args.unit)
    overdue = status(desk.catalogue, args.archive, now)["overdue"]
    desk.record("report-undocked", unit=args.unit, devices=len(found.devices), late=len(found.late),
                overdue=len(overdue))
    print(_("{count} device(s) not docked since their last session ended more than 24 h ago:")
          .format(count=len(found.devices)))
    for device in found.devices:
        print(_("  {device}  officer {officer}  unit {unit}  last session ended {ended}  last docked {docked}").format(
            device=device["device"], officer=device["police_number"], unit=device["unit_number"],
            ended=at(device["last_ended_ns"]), docked=at(device["last_docked_ns"])))
    print(_("{count} session(s) docked more than 24 h after their end (S1):").format(count=len(found.late)))
    for session in found.late:
        print(_("  {session}  officer {officer}  ended {ended}  docked {docked}").format(
            session=session["session"], officer=session["police_number"], ended=at(session["ended_ns"]),
            docked=at(session["docked_ns"])))
    print(_("{count} session(s) docked more than 24 h ago and not in the central store:").format(count=len(overdue)))
    for session in overdue:
        print(_("  {session}  officer {officer}  docked {docked}").format(
            session=session["session"], officer=session["police_number"], docked=at(session["archived_ns"])))
    return 1 if found.devices or found.late or overdue else 0


def _moment(ns: int | None, station_zone: tzinfo) -> str:
    return _("never") if ns is None else zone.shown(ns, station_zone, "minutes")
