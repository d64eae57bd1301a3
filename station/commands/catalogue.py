"""``bodycam-station`` commands of the catalogue area: search, show, rebuild, cases, holds,
retention and purge, the device ledger, write-ups. Each takes ``--archive`` and
``--catalogue URL`` (env ``BODYCAM_CATALOGUE``; default the archive's SQLite file).

Once the station has users, each command is done by the authenticated ``--user`` (env
``BODYCAM_USER``), whose role must allow it (``station.custody.access``), and that user is the actor
the catalogue records; ``--by`` names the actor only on a station without users yet. Every
change, each search and each session shown is an entry of the audit trail."""
from __future__ import annotations

import argparse
import calendar
import functools
import json
import time
from typing import Any

from station.catalogue import ledger, retention, writeup
from station.catalogue.catalogue import LONG_TERM_YEARS, Catalogue, CatalogueError, day_range, station_id
from station.commands.access import gate
from station.commands.options import Shared
from station.commands.store import stored_release
from station.custody.access import User
from station.services import Desk


def register(commands: argparse._SubParsersAction, shared: Shared) -> None:
    command = functools.partial(_command, commands, shared)
    search = command("search", _search, "find sessions by officer, device, unit, date, case, marker …")
    search.add_argument("--officer", help="police number or name")
    search.add_argument("--device", help="device serial")
    search.add_argument("--unit", help="unit number or name")
    search.add_argument("--date", help="the UTC day it started: YYYY-MM-DD")
    search.add_argument("--since", help="started at or after: YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ")
    search.add_argument("--until", help="started before: YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ")
    search.add_argument("--case", help="case number")
    search.add_argument("--marked", action="store_true", default=None, help="only sessions with a marked segment")
    search.add_argument("--label", help="a marker's label")
    search.add_argument("--stop", help="the stop reason's code, e.g. unspecified")
    search.add_argument("--clock", choices=("trusted", "unchecked", "untrusted"), help="the clock verdict")
    search.add_argument("--previous", help="resumes this session (after an interruption)")
    search.add_argument("--purged", action="store_true", help="include purged sessions")

    show = command("show", _show, "one session: segments, markers, cases, holds, ledger, retention")
    show.add_argument("session")

    command("rebuild", _rebuild, "catalogue the archive again from its files alone")

    case = command("case", _case, "open, link, close or show a case, or set its file's retention period")
    case.add_argument("action", choices=("open", "link", "close", "show", "retention"))
    case.add_argument("number", help="case number")
    case.add_argument("session", nargs="?", help="link: the session")
    case.add_argument("--name", help="open: the case name")
    case.add_argument("--party", help="open: the case party")
    case.add_argument("--from", dest="from_", help="link: only from this time (YYYY-MM-DDTHH:MM:SSZ)")
    case.add_argument("--until", help="link: only until this time")
    kept = case.add_mutually_exclusive_group()
    kept.add_argument("--retention-years", type=int, metavar="N",
                      help=f"open, retention: the case file, and its footage, is kept N years after the case "
                           f"closes (default at opening: {LONG_TERM_YEARS}); retention: a supervisor's")
    kept.add_argument("--permanent", action="store_true", help="open, retention: the case file is kept permanently")
    _actor(case)

    hold = command("hold", _hold, "place a legal hold on a session or a case: no deletion until released")
    target = hold.add_mutually_exclusive_group(required=True)
    target.add_argument("--session")
    target.add_argument("--case")
    hold.add_argument("--reason", required=True)
    _actor(hold)

    release = command("release", _release, "release a legal hold")
    release.add_argument("hold", type=int, help="the hold's number")
    _actor(release)

    periods = command("retention", _retention, "show the retention periods, or set one")
    periods.add_argument("--set", nargs=2, metavar=("CLASS", "DAYS"),
                         help=f"{'|'.join(retention.CLASSES)} and a number of days, or 'none' for no end")
    _actor(periods)

    purge = command("purge", _purge, "remove what has expired and is not held (after the grace period)")
    purge.add_argument("--dry-run", action="store_true", help="only list what would be removed")
    purge.add_argument("--why", required=True, help="why the purge runs (logged with each removal)")
    _actor(purge)

    assign = command("assign", _assign, "hand a device out to an officer (the device ledger)")
    assign.add_argument("device", help="device serial")
    assign.add_argument("officer", help="police number of the officer who takes it")
    assign.add_argument("--at", help="when (default now): YYYY-MM-DDTHH:MM:SSZ")
    _actor(assign, "who hands it over")

    back = command("return", _return, "take a device back in (the device ledger)")
    back.add_argument("device", help="device serial")
    back.add_argument("--at", help="when (default now): YYYY-MM-DDTHH:MM:SSZ")
    _actor(back, "who takes it back")

    report = command("ledger", _ledger, "who wore which device when; --mismatches: flagged sessions")
    report.add_argument("--device")
    report.add_argument("--officer", help="police number")
    report.add_argument("--since", help="YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ")
    report.add_argument("--until", help="YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ")
    report.add_argument("--mismatches", action="store_true", help="sessions whose signed officer the ledger contradicts")

    pending = command("pending", _pending, "sessions waiting for their officer's write-up")
    pending.add_argument("--officer", help="police number or name")

    write = command("writeup", _writeup, "the officer's reason and account of a stop, signed by the dock")
    write.add_argument("session")
    write.add_argument("--reason", required=True, choices=writeup.REASONS)
    write.add_argument("--text", required=True, help="what happened and why")
    _actor(write, "the officer writing it up")


def _command(commands: argparse._SubParsersAction, shared: Shared, name: str, run: Any,
             text: str) -> argparse.ArgumentParser:
    parser = commands.add_parser(name, help=text, parents=[shared.actor])
    parser.set_defaults(run=run, by=None)
    return parser


def _actor(parser: argparse.ArgumentParser, text: str = "who does it") -> None:
    parser.add_argument("--by", help=f"{text}, on a station without users (else the --user is the actor)")


def _open(args: argparse.Namespace, permission: str | None, action: str, *, footage: list[str] | None = None,
          reason: str | None = None) -> tuple[Desk, User | None, Catalogue]:
    """The acting user's desk, the user (None on a station without users) and the catalogue, whose
    changes go to the audit trail; refused unless the user's role grants ``permission``."""
    desk, user = gate(args, permission, action, footage=footage or [], reason=reason)
    if user is not None and args.by:
        raise CatalogueError(f"this station has users: {user.name} (--user) is the actor, not --by {args.by}")
    return desk, user, desk.catalogue


def _by(args: argparse.Namespace, user: User | None) -> str:
    if user is not None:
        return user.name
    if not args.by:
        raise CatalogueError("say who does it: --by NAME (once the station has users: --user NAME)")
    return args.by


def _visible(desk: Desk, user: User | None, sessions: list[str]) -> set[str]:
    return set(sessions if user is None else desk.access.visible(user, sessions))


def _record(desk: Desk, user: User | None, action: str, footage: list[str], detail: dict[str, Any]) -> None:
    desk.access.audit.record(user.name if user else None, action, role=user.role if user else None,
                             footage=footage, detail=detail)


def parse_time(text: str | None) -> int | None:
    """``YYYY-MM-DD`` (its start) or ``YYYY-MM-DDTHH:MM:SSZ``, UTC, as ns since 1970."""
    if text is None:
        return None
    if len(text) == 10:
        return day_range(text)[0]
    try:
        return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ")) * 10**9
    except ValueError:
        raise CatalogueError(f"{text!r} is not a time YYYY-MM-DDTHH:MM:SSZ (UTC) or a day YYYY-MM-DD") from None


def _print(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False))


SEARCH_CRITERIA = ("officer", "device", "unit", "date", "since", "until", "case", "marked", "label", "stop", "clock",
                   "previous", "purged")


def _search(args: argparse.Namespace) -> int:
    desk, user, catalogue = _open(args, "search", "search")
    found = catalogue.search(officer=args.officer, device=args.device, unit=args.unit, date=args.date,
                             since_ns=parse_time(args.since), until_ns=parse_time(args.until), case=args.case,
                             marked=args.marked, label=args.label, stop=args.stop, clock=args.clock,
                             previous=args.previous, purged=args.purged)
    visible = _visible(desk, user, [session["session"] for session in found])
    found = [session for session in found if session["session"] in visible]
    criteria = {name: getattr(args, name) for name in SEARCH_CRITERIA if getattr(args, name) not in (None, False)}
    _record(desk, user, "search", [session["session"] for session in found], {"criteria": criteria})
    for session in ledger.check(catalogue, found):
        _print(session)
    return 0 if found else 1


def _show(args: argparse.Namespace) -> int:
    desk, user, catalogue = _open(args, "search", "show", footage=[args.session])
    if user is not None:
        desk.access.require_visible(user, "show", [args.session])
    session = catalogue.session(args.session)
    if session is None:
        raise CatalogueError(f"no session {args.session!r} in the catalogue")
    _record(desk, user, "show", [args.session], {})
    ledger.check(catalogue, [session])
    session.update(segments=catalogue.segments(args.session), cases=catalogue.cases(args.session),
                   holds=catalogue.holds(args.session), writeups=writeup.of(catalogue, args.session),
                   retention=retention.report(retention.assess(catalogue, session)))
    print(json.dumps(session, ensure_ascii=False, indent=1))
    return 0


def _rebuild(args: argparse.Namespace) -> int:
    from station.catalogue.rebuild import rebuild
    from station.services import restore, set_damaged_aside

    if (aside := set_damaged_aside(args.archive, args.catalogue)) is not None:
        print(f"the damaged catalogue file was moved aside to {aside}")
    done = restore(args.archive, args.catalogue)
    if done is not None:
        print("the database was restored from the audit journal (as the station: no user could sign in)")
    else:
        desk, user, catalogue = _open(args, "catalogue", "rebuild")
        done = rebuild(catalogue, args.archive)
        _record(desk, user, "rebuild", [], {"sessions": done.sessions, "files": done.files,
                                              "problems": len(done.problems)})
    print(f"catalogued {done.sessions} session(s), {done.files} file(s) from {args.archive}")
    for problem in done.problems:
        print(f"  PROBLEM {problem}")
    return 1 if done.problems else 0


CASE_ACTIONS = {"open": "case-opened", "link": "case-linked", "close": "case-closed", "show": "case-show",
                "retention": "case-retention"}
CASE_PERMISSIONS = {"show": "search", "retention": "case-retention"}


def _case(args: argparse.Namespace) -> int:
    desk, user, catalogue = _open(args, CASE_PERMISSIONS.get(args.action, "case"), CASE_ACTIONS[args.action],
                                     footage=[args.session] if args.session else [])
    if args.action == "open":
        if not (args.name and args.party):
            raise CatalogueError("a case needs --name and --party")
        years = None if args.permanent else args.retention_years or LONG_TERM_YEARS
        catalogue.open_case(args.number, args.name, args.party, actor=_by(args, user), retention_years=years)
    elif args.action == "retention":
        if not (args.permanent or args.retention_years):
            raise CatalogueError("say how long the case file is kept: --retention-years N or --permanent")
        catalogue.set_case_retention(args.number, None if args.permanent else args.retention_years,
                                     actor=_by(args, user))
    elif args.action == "link":
        if not args.session:
            raise CatalogueError("say which session to link: case link NUMBER SESSION")
        catalogue.link(args.number, args.session, actor=_by(args, user), from_ns=parse_time(args.from_),
                       until_ns=parse_time(args.until))
    elif args.action == "close":
        catalogue.close_case(args.number, actor=_by(args, user))
    case = catalogue.case(args.number)
    visible = _visible(desk, user, [link["session"] for link in case["links"]])
    case["links"] = [link for link in case["links"] if link["session"] in visible]
    print(json.dumps(case, ensure_ascii=False, indent=1))
    return 0


def _hold(args: argparse.Namespace) -> int:
    _, user, catalogue = _open(args, "hold", "hold-placed", footage=[args.session] if args.session else [],
                               reason=args.reason)
    number = catalogue.hold(args.reason, actor=_by(args, user), session=args.session, case=args.case)
    print(f"legal hold {number} placed on {'session ' + args.session if args.session else 'case ' + args.case}")
    return 0


def _release(args: argparse.Namespace) -> int:
    _, user, catalogue = _open(args, "hold", "hold-released")
    catalogue.release_hold(args.hold, actor=_by(args, user))
    print(f"legal hold {args.hold} released")
    return 0


def _retention(args: argparse.Namespace) -> int:
    _, user, catalogue = _open(args, "retention" if args.set else None, "retention-set" if args.set else "retention")
    if args.set:
        name, days = args.set
        try:
            value = None if days == "none" else int(days)
        except ValueError:
            raise CatalogueError(f"{days!r} is not a number of days or 'none'") from None
        retention.set_period(catalogue, name, value, actor=_by(args, user))
    for name, days in retention.periods(catalogue).items():
        print(f"{name:<9} {'without end' if days is None else f'{days} days'}")
    return 0


def _purge(args: argparse.Namespace) -> int:
    desk, user, catalogue = _open(args, "purge", "purge", reason=args.why)
    found = retention.purge(catalogue, args.archive, station_id(args.archive), actor=_by(args, user), why=args.why,
                            dry_run=args.dry_run, release=stored_release(desk, args))
    verb = "would remove" if args.dry_run else "removed"
    removed = [assessment for assessment in found if assessment.refused is None]
    for assessment in removed:
        print(f"{verb} {assessment.session} ({assessment.folder}): {'; '.join(assessment.because)}")
    for assessment in found:
        if assessment.refused is not None:
            print(f"kept {assessment.session}: {assessment.refused}")
    print(f"{verb} {len(removed)} session(s)")
    return 0


def _assign(args: argparse.Namespace) -> int:
    _, user, catalogue = _open(args, "devices", "device-assigned")
    entry = ledger.assign(catalogue, args.device, args.officer, actor=_by(args, user), at_ns=parse_time(args.at))
    print(f"device {args.device} out to officer {args.officer} (ledger entry {entry})")
    return 0


def _return(args: argparse.Namespace) -> int:
    _, user, catalogue = _open(args, "devices", "device-returned")
    entry = ledger.give_back(catalogue, args.device, actor=_by(args, user), at_ns=parse_time(args.at))
    print(f"device {args.device} back from officer {entry['police_number']}")
    return 0


def _ledger(args: argparse.Namespace) -> int:
    _, _, catalogue = _open(args, "devices", "ledger")
    if args.mismatches:
        found = ledger.mismatches(catalogue)
        for session in found:
            _print(session)
        return 1 if found else 0
    for entry in ledger.report(catalogue, device=args.device, officer=args.officer,
                               since_ns=parse_time(args.since), until_ns=parse_time(args.until)):
        _print(entry)
    return 0


def _pending(args: argparse.Namespace) -> int:
    desk, user, catalogue = _open(args, "write-up", "pending")
    found = writeup.pending(catalogue, args.officer)
    visible = _visible(desk, user, [session["session"] for session in found])
    for session in (session for session in found if session["session"] in visible):
        _print({key: session[key] for key in ("session", "police_number", "officer", "device", "started_ns",
                                              "stop_reason", "interrupted", "previous_session")})
    return 0


def _writeup(args: argparse.Namespace) -> int:
    desk, user, catalogue = _open(args, "write-up", "write-up", footage=[args.session])
    if user is not None:
        desk.access.require_visible(user, "write-up", [args.session])
    body = writeup.write_up(catalogue, args.archive, args.session, args.reason, args.text, actor=_by(args, user),
                            signer=desk.signer)
    print(f"write-up of {args.session} signed by dock {body['key_id']}: {args.reason}")
    return 0
