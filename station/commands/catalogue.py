"""``bodycam-station`` commands of the catalogue area: search, show, rebuild, cases, holds,
retention and purge, the device ledger, write-ups. Each takes ``--archive`` and
``--catalogue URL`` (env ``BODYCAM_CATALOGUE``; default the archive's SQLite file).

Once the station has users, each command is done by the authenticated ``--user`` (env
``BODYCAM_USER``), whose role must allow it (``station.custody.access``), and that user is the actor
the catalogue records; ``--by`` names the actor only on a station without users yet. Every
change, each search and each session shown is an entry of the audit trail."""
from __future__ import annotations

import argparse
import functools
import json
from typing import Any

from station.catalogue import ledger, retention, writeup
from station.catalogue.catalogue import LONG_TERM_YEARS, Catalogue, CatalogueError, station_id
from station.commands import tables
from station.commands.access import gate
from station.commands.options import Shared
from station.commands.progress import add_progress, meter
from station.commands.store import stored_release
from station.commands.tables import Column
from station.custody.access import User
from station.services import Desk
from station.words import labels, zone
from station.words.messages import N_, _, language
from station.store.bucket import StoreError, StoreSettings


def register(commands: argparse._SubParsersAction, shared: Shared) -> None:
    command = functools.partial(_command, commands, shared)
    search = command("search", _search, _("find sessions by officer, device, unit, date, case, marker …"))
    search.add_argument("--officer", help=_("police number or name"))
    search.add_argument("--device", help=_("device serial"))
    search.add_argument("--unit", help=_("unit number or name"))
    search.add_argument("--date", help=_("the day it started, in the station's time zone: YYYY-MM-DD"))
    search.add_argument("--since", help=_("started at or after: YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS"))
    search.add_argument("--until", help=_("started before: YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS"))
    search.add_argument("--case", help=_("case number"))
    search.add_argument("--marked", action="store_true", default=None, help=_("only sessions with a marked segment"))
    search.add_argument("--label", help=_("a marker's label"))
    search.add_argument("--stop", help=_("the stop reason's code, e.g. unspecified"))
    search.add_argument("--clock", choices=("trusted", "unchecked", "untrusted"), help=_("the clock verdict"))
    search.add_argument("--previous", help=_("resumes this session (after an interruption)"))
    search.add_argument("--purged", action="store_true", help=_("include purged sessions"))
    tables.add_json(search)

    show = command("show", _show, _("one session: segments, markers, cases, holds, ledger, retention"))
    show.add_argument("session")

    rebuild = command("rebuild", _rebuild, _("catalogue the archive again from its files alone"))
    rebuild.add_argument("--from-store", action="store_true",
                         help=_("first fetch the archive and the audit journal back from the central store ([store])"))
    add_progress(rebuild)

    case = command("case", _case, _("open, link, close or show a case, or set its file's retention period"))
    case.add_argument("action", choices=("open", "link", "close", "show", "retention"))
    case.add_argument("number", help=_("case number"))
    case.add_argument("session", nargs="?", help=_("link: the session"))
    case.add_argument("--name", help=_("open: the case name"))
    case.add_argument("--party", help=_("open: the case party"))
    case.add_argument("--from", dest="from_", help=_("link: only from this time (YYYY-MM-DDTHH:MM:SS)"))
    case.add_argument("--until", help=_("link: only until this time"))
    kept = case.add_mutually_exclusive_group()
    kept.add_argument("--retention-years", type=int, metavar="N",
                      help=_("open, retention: the case file, and its footage, is kept N years after the case "
                             "closes (default at opening: {years}); retention: a supervisor's").format(
                                 years=LONG_TERM_YEARS))
    kept.add_argument("--permanent", action="store_true", help=_("open, retention: the case file is kept permanently"))
    _actor(case)

    hold = command("hold", _hold, _("place a legal hold on a session or a case: no deletion until released"))
    target = hold.add_mutually_exclusive_group(required=True)
    target.add_argument("--session")
    target.add_argument("--case")
    hold.add_argument("--reason", required=True)
    _actor(hold)

    release = command("release", _release, _("release a legal hold"))
    release.add_argument("hold", type=int, help=_("the hold's number"))
    _actor(release)

    periods = command("retention", _retention, _("show the retention periods, or set one"))
    periods.add_argument("--set", nargs=2, metavar=("CLASS", "DAYS"),
                         help=f"{'|'.join(retention.CLASSES)} and a number of days, or 'none' for no end")
    _actor(periods)

    purge = command("purge", _purge, _("remove what has expired and is not held (after the grace period)"))
    purge.add_argument("--dry-run", action="store_true", help=_("only list what would be removed"))
    add_progress(purge)
    purge.add_argument("--why", required=True, help=_("why the purge runs (logged with each removal)"))
    _actor(purge)

    assign = command("assign", _assign, _("hand a device out to an officer (the device ledger)"))
    assign.add_argument("device", help=_("device serial"))
    assign.add_argument("officer", help=_("police number of the officer who takes it"))
    assign.add_argument("--at", help=_("when (default now): YYYY-MM-DDTHH:MM:SS"))
    _actor(assign, _("who hands it over"))

    back = command("return", _return, _("take a device back in (the device ledger)"))
    back.add_argument("device", help=_("device serial"))
    back.add_argument("--at", help=_("when (default now): YYYY-MM-DDTHH:MM:SS"))
    _actor(back, _("who takes it back"))

    report = command("ledger", _ledger, _("who wore which device when; --mismatches: flagged sessions"))
    report.add_argument("--device")
    report.add_argument("--officer", help=_("police number"))
    report.add_argument("--since", help=_("YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS"))
    report.add_argument("--until", help=_("YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS"))
    report.add_argument("--mismatches", action="store_true",
                        help=_("sessions whose signed officer the ledger contradicts"))
    tables.add_json(report)

    pending = command("pending", _pending, _("sessions waiting for their officer's write-up"))
    pending.add_argument("--officer", help=_("police number or name"))
    tables.add_json(pending)

    write = command("writeup", _writeup, _("the officer's reason and account of a stop, signed by the dock"))
    write.add_argument("session")
    write.add_argument("--reason", required=True, choices=writeup.REASONS)
    write.add_argument("--text", required=True, help=_("what happened and why"))
    _actor(write, _("the officer writing it up"))


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
        raise CatalogueError(_("this station has users: {user} (--user) is the actor, not --by {by}").format(
            user=user.name, by=args.by))
    return desk, user, desk.catalogue


def _by(args: argparse.Namespace, user: User | None) -> str:
    if user is not None:
        return user.name
    if not args.by:
        raise CatalogueError(_("say who does it: --by NAME (once the station has users: --user NAME)"))
    return args.by


def _visible(desk: Desk, user: User | None, sessions: list[str]) -> set[str]:
    return set(sessions if user is None else desk.access.visible(user, sessions))


def _record(desk: Desk, user: User | None, action: str, footage: list[str], detail: dict[str, Any]) -> None:
    desk.access.audit.record(user.name if user else None, action, role=user.role if user else None,
                             footage=footage, detail=detail)


def parse_time(args: argparse.Namespace, text: str | None) -> int | None:
    """``YYYY-MM-DD`` (its midnight) or an ISO 8601 time, in the station's zone unless it has
    ``Z`` or an offset, as ns since 1970."""
    return None if text is None else zone.parse(text, args.zone)


SESSION_COLUMNS = (Column("session", N_("Session")), tables.time_column("started_ns", N_("Started")),
                   Column("police_number", N_("Police number")), Column("officer", N_("Officer")),
                   Column("device", N_("Device")),
                   tables.label_column("stop_reason", N_("Stop reason"), "stop"))
SEARCH_COLUMNS = (*SESSION_COLUMNS, Column("verification", N_("Verification")), Column("ledger", N_("Ledger")))
LEDGER_COLUMNS = (Column("id", N_("Entry")), Column("device", N_("Device")),
                  Column("police_number", N_("Police number")),
                  tables.time_column("out_ns", N_("Handed out")), tables.time_column("in_ns", N_("Taken back")),
                  Column("sessions", N_("Sessions"), lambda value, args: str(len(value))),
                  Column("flagged", N_("Flagged"), lambda value, args: " ".join(value) or "-"))
MISMATCH_COLUMNS = (*SESSION_COLUMNS, Column("holder", N_("Ledger holder")))


SEARCH_CRITERIA = ("officer", "device", "unit", "date", "since", "until", "case", "marked", "label", "stop", "clock",
                   "previous", "purged")


def _search(args: argparse.Namespace) -> int:
    desk, user, catalogue = _open(args, "search", "search")
    found = catalogue.search(officer=args.officer, device=args.device, unit=args.unit, date=args.date, zone=args.zone,
                             since_ns=parse_time(args, args.since), until_ns=parse_time(args, args.until),
                             case=args.case,
                             marked=args.marked, label=args.label, stop=args.stop, clock=args.clock,
                             previous=args.previous, purged=args.purged)
    visible = _visible(desk, user, [session["session"] for session in found])
    found = [session for session in found if session["session"] in visible]
    criteria = {name: getattr(args, name) for name in SEARCH_CRITERIA if getattr(args, name) not in (None, False)}
    _record(desk, user, "search", [session["session"] for session in found], {"criteria": criteria})
    tables.emit(ledger.check(catalogue, found), SEARCH_COLUMNS, args)
    return 0 if found else 1


def _show(args: argparse.Namespace) -> int:
    desk, user, catalogue = _open(args, "search", "show", footage=[args.session])
    if user is not None:
        desk.access.require_visible(user, "show", [args.session])
    session = catalogue.session(args.session)
    if session is None:
        raise CatalogueError(_("no session '{session}' in the catalogue").format(session=args.session))
    _record(desk, user, "show", [args.session], {})
    ledger.check(catalogue, [session])
    session.update(segments=catalogue.segments(args.session), cases=catalogue.cases(args.session),
                   holds=catalogue.holds(args.session), writeups=writeup.of(catalogue, args.session),
                   retention=retention.report(retention.assess(catalogue, session)))
    print(json.dumps(session, ensure_ascii=False, indent=1))
    return 0


def _rebuild(args: argparse.Namespace) -> int:
    from station.catalogue.rebuild import rebuild
    from station.services import rebuild_from_store, restore, set_damaged_aside

    if (aside := set_damaged_aside(args.archive, args.catalogue)) is not None:
        print(_("the damaged catalogue file was moved aside to {path}").format(path=aside))
    if args.from_store:
        fetched, done = rebuild_from_store(args.archive, _store(args), args.catalogue)
        print(_("fetched {count} file(s) back from the central store (and the audit journal, if it was lost)")
              .format(count=fetched))
    else:
        done = restore(args.archive, args.catalogue)
    if done is not None:
        print(_("the database was restored from the audit journal (as the station: no user could sign in)"))
    else:
        desk, user, catalogue = _open(args, "catalogue", "rebuild")
        done = rebuild(catalogue, args.archive, meter(args, _("cataloguing")))
        _record(desk, user, "rebuild", [], {"sessions": done.sessions, "files": done.files,
                                              "problems": len(done.problems)})
    print(_("catalogued {sessions} session(s), {files} file(s) from {archive}").format(
        sessions=done.sessions, files=done.files, archive=args.archive))
    for problem in done.problems:
        print(_("  PROBLEM {problem}").format(problem=problem))
    return 1 if done.problems else 0


def _store(args: argparse.Namespace) -> StoreSettings:
    from station.services import store_settings

    settings = store_settings(args.station_config)
    if settings is None:
        raise StoreError("--from-store needs a central store: set [store] endpoint and bucket in the station's "
                         "configuration file")
    return settings


CASE_ACTIONS = {"open": "case-opened", "link": "case-linked", "close": "case-closed", "show": "case-show",
                "retention": "case-retention"}
CASE_PERMISSIONS = {"show": "search", "retention": "case-retention"}


def _case(args: argparse.Namespace) -> int:
    desk, user, catalogue = _open(args, CASE_PERMISSIONS.get(args.action, "case"), CASE_ACTIONS[args.action],
                                     footage=[args.session] if args.session else [])
    if args.action == "open":
        if not (args.name and args.party):
            raise CatalogueError(_("a case needs --name and --party"))
        years = None if args.permanent else args.retention_years or LONG_TERM_YEARS
        catalogue.open_case(args.number, args.name, args.party, actor=_by(args, user), retention_years=years)
    elif args.action == "retention":
        if not (args.permanent or args.retention_years):
            raise CatalogueError(_("say how long the case file is kept: --retention-years N or --permanent"))
        catalogue.set_case_retention(args.number, None if args.permanent else args.retention_years,
                                     actor=_by(args, user))
    elif args.action == "link":
        if not args.session:
            raise CatalogueError(_("say which session to link: case link NUMBER SESSION"))
        catalogue.link(args.number, args.session, actor=_by(args, user), from_ns=parse_time(args, args.from_),
                       until_ns=parse_time(args, args.until))
    elif args.action == "close":
        catalogue.close_case(args.number, actor=_by(args, user))
    case = catalogue.case(args.number)
    visible = _visible(desk, user, [link["session"] for link in case["links"]])
    case["links"] = [link for link in case["links"] if link["session"] in visible]
    print(json.dumps(case, ensure_ascii=False, indent=1))
    return 0


def _hold(args: argparse.Namespace) -> int:
    _desk, user, catalogue = _open(args, "hold", "hold-placed", footage=[args.session] if args.session else [],
                               reason=args.reason)
    number = catalogue.hold(args.reason, actor=_by(args, user), session=args.session, case=args.case)
    said = _("legal hold {number} placed on session {target}") if args.session else \
        _("legal hold {number} placed on case {target}")
    print(said.format(number=number, target=args.session or args.case))
    return 0


def _release(args: argparse.Namespace) -> int:
    _desk, user, catalogue = _open(args, "hold", "hold-released")
    catalogue.release_hold(args.hold, actor=_by(args, user))
    print(_("legal hold {number} released").format(number=args.hold))
    return 0


def _retention(args: argparse.Namespace) -> int:
    _desk, user, catalogue = _open(args, "retention" if args.set else None,
                                   "retention-set" if args.set else "retention")
    if args.set:
        name, days = args.set
        try:
            value = None if days == "none" else int(days)
        except ValueError:
            raise CatalogueError(_("'{days}' is not a number of days or 'none'").format(days=days)) from None
        retention.set_period(catalogue, name, value, actor=_by(args, user))
    for name, days in retention.periods(catalogue).items():
        print(f"{name:<9} " + (_("without end") if days is None else _("{days} days").format(days=days)))
    return 0


def _purge(args: argparse.Namespace) -> int:
    desk, user, catalogue = _open(args, "purge", "purge", reason=args.why)
    found = retention.purge(catalogue, args.archive, station_id(args.archive), actor=_by(args, user), why=args.why,
                            dry_run=args.dry_run, release=stored_release(desk, args), progress=meter(args, _("removing")))
    removed = [assessment for assessment in found if assessment.refused is None]
    each = _("would remove {session} ({folder}): {why}") if args.dry_run else _("removed {session} ({folder}): {why}")
    for assessment in removed:
        print(each.format(session=assessment.session, folder=assessment.folder, why="; ".join(assessment.because)))
    for assessment in found:
        if assessment.refused is not None:
            print(_("kept {session}: {refused}").format(session=assessment.session, refused=assessment.refused))
    said = _("would remove {count} session(s)") if args.dry_run else _("removed {count} session(s)")
    print(said.format(count=len(removed)))
    return 0


def _assign(args: argparse.Namespace) -> int:
    _desk, user, catalogue = _open(args, "devices", "device-assigned")
    entry = ledger.assign(catalogue, args.device, args.officer, actor=_by(args, user), at_ns=parse_time(args, args.at))
    print(_("device {device} out to officer {officer} (ledger entry {entry})").format(
        device=args.device, officer=args.officer, entry=entry))
    return 0


def _return(args: argparse.Namespace) -> int:
    _desk, user, catalogue = _open(args, "devices", "device-returned")
    entry = ledger.give_back(catalogue, args.device, actor=_by(args, user), at_ns=parse_time(args, args.at))
    print(_("device {device} back from officer {officer}").format(device=args.device, officer=entry["police_number"]))
    return 0


def _ledger(args: argparse.Namespace) -> int:
    catalogue = _open(args, "devices", "ledger")[2]
    if args.mismatches:
        return 1 if tables.emit(ledger.mismatches(catalogue), MISMATCH_COLUMNS, args) else 0
    tables.emit(ledger.report(catalogue, device=args.device, officer=args.officer,
                              since_ns=parse_time(args, args.since), until_ns=parse_time(args, args.until)),
                LEDGER_COLUMNS, args)
    return 0


def _pending(args: argparse.Namespace) -> int:
    desk, user, catalogue = _open(args, "write-up", "pending")
    found = writeup.pending(catalogue, args.officer)
    visible = _visible(desk, user, [session["session"] for session in found])
    tables.emit(({key: session[key] for key in ("session", "police_number", "officer", "device", "started_ns",
                                                "stop_reason", "interrupted", "previous_session")}
                 for session in found if session["session"] in visible), SESSION_COLUMNS, args)
    return 0


def _writeup(args: argparse.Namespace) -> int:
    desk, user, catalogue = _open(args, "write-up", "write-up", footage=[args.session])
    if user is not None:
        desk.access.require_visible(user, "write-up", [args.session])
    body = writeup.write_up(catalogue, args.archive, args.session, args.reason, args.text, actor=_by(args, user),
                            signer=desk.signer)
    print(_("write-up of {session} signed by dock {key}: {reason}").format(
        session=args.session, key=body["key_id"], reason=labels.label("stop", args.reason, language())))
    return 0
