"""``bodycam-station`` commands of the access area: users, confidential marks, view, export.

Every command names its acting user with ``--user`` (or ``BODYCAM_USER``); the password comes
from ``BODYCAM_PASSWORD`` or, at a terminal, a prompt that does not echo. It is never printed
or logged. A new user's password comes from ``BODYCAM_NEW_PASSWORD`` or a prompt (twice).
"""
from __future__ import annotations

import argparse
import functools
import getpass
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from evidence.verify import verify_session
from station import services
from station.commands import tables
from station.commands.options import Shared
from station.commands.progress import add_progress, meter
from station.commands.tables import Column
from station.custody.access import ROLES, AccessDenied, AccessError, User
from station.services import Desk
from station.words import labels, zone
from station.words.messages import N_, _, language


def open_desk(args: argparse.Namespace) -> Desk:
    """The station of ``--archive`` on ``--catalogue``, before anyone has signed in."""
    return services.open_station(args.archive, args.catalogue, throttle=args.throttle,
                                 store=services.store_settings(args.station_config)).desk(None)


def gate(args: argparse.Namespace, permission: str | None, action: str, *, footage: Sequence[str] = (),
         reason: str | None = None) -> tuple[Desk, User | None]:
    """The desk of the authenticated acting user, whose role must grant ``permission`` (None:
    any user; refusals audited). A station without users yet (before its first administrator)
    asks no one: the user is None."""
    station = services.open_station(args.archive, args.catalogue, store=services.store_settings(args.station_config))
    desk = station.desk(None)
    if not desk.access.has_users():
        return desk, None
    user = acting_user(desk, args, action)
    if permission is not None:
        desk.access.require(user, permission, action=action, footage=footage, reason=reason)
    return station.desk(user), user


def acting_user(desk: Desk, args: argparse.Namespace, action: str) -> User:
    if not args.user:
        raise AccessDenied(_("{action} needs the acting user: give --user NAME or set BODYCAM_USER.").format(
            action=action))
    return desk.access.authenticate(args.user, _password("BODYCAM_PASSWORD", _("password of {user}: ").format(
        user=args.user)), action)


def _password(variable: str, prompt: str, twice: bool = False) -> str:
    if os.environ.get(variable):
        return os.environ[variable]
    if not sys.stdin.isatty():
        raise AccessDenied(_("no password: set {variable} or run the command at a terminal to be asked.").format(
            variable=variable))
    password = getpass.getpass(prompt)
    if twice and getpass.getpass(_("again: ")) != password:
        raise AccessError(_("the two passwords differ."))
    return password


def register(commands: argparse._SubParsersAction, shared: Shared) -> None:
    user = commands.add_parser("user", help=_("station users and their roles (administrator)"))
    verbs = user.add_subparsers(dest="verb", required=True)
    add = verbs.add_parser("add", help=_("add a user; the first user is an administrator and needs no --user"),
                           parents=[shared.actor])
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--full-name", default="", help=_("the person's name, as on the record form"))
    add.set_defaults(run=_user_add)
    listing = verbs.add_parser("list", help=_("list users and roles"), parents=[shared.actor])
    listing.set_defaults(run=_user_list)
    passwd = verbs.add_parser("passwd", help=_("set a user's password (your own, or anyone's as administrator)"),
                              parents=[shared.actor])
    passwd.add_argument("name")
    passwd.set_defaults(run=_user_passwd)
    unlock = verbs.add_parser("unlock", help=_("lift the lockout that failed sign-ins put on a user or an address "
                              "(administrator)"), parents=[shared.actor])
    unlock.add_argument("name", nargs="?", help=_("the user locked out"))
    unlock.add_argument("--address", help=_("a client address locked out on the review page"))
    unlock.set_defaults(run=_user_unlock)

    mark = commands.add_parser("confidential", help=_("mark or clear a session as confidential (S7; supervisor)"),
                               parents=[shared.actor])
    mark.add_argument("verb", choices=("mark", "clear"))
    mark.add_argument("session")
    mark.add_argument("--level", choices=("secret", "commercial-secret", "private"), default="secret")
    mark.add_argument("--reason", help=_("why (required)"))
    mark.set_defaults(run=_confidential)

    view = commands.add_parser("view", help=_("open a session's footage for viewing, with a reason (reviewer)"),
                               parents=[shared.actor])
    view.add_argument("session")
    view.add_argument("--reason", help=_("who asked for it and why (required)"))
    view.set_defaults(run=_view)

    export = commands.add_parser("export", help=_("request, approve, make and hand over an export package"))
    verbs = export.add_subparsers(dest="verb", required=True)
    request = verbs.add_parser("request", help=_("ask for an export of a session, a time range of one, or a case"),
                               parents=[shared.actor])
    scope = request.add_mutually_exclusive_group(required=True)
    scope.add_argument("--session")
    scope.add_argument("--case")
    request.add_argument("--from", dest="start", help=_("with --session: start of the range, ISO 8601 (the station's "
                                                      "time zone unless it has an offset)"))
    request.add_argument("--to", dest="end", help=_("with --session: end of the range"))
    request.add_argument("--reason", help=_("why the export is needed (required)"))
    request.add_argument("--recipient", required=True, help=_("the station user who will make and carry the copy"))
    request.add_argument("--for", dest="destination", required=True, help=_("for whom: the court, procuratorate …"))
    request.add_argument("--place", help=_("where the footage was recorded, for the record form"))
    request.set_defaults(run=_export_request)
    approve = verbs.add_parser("approve", help=_("approve a request (a supervisor other than the requester)"),
                               parents=[shared.actor])
    approve.add_argument("number", type=int)
    approve.add_argument("--note")
    approve.set_defaults(run=functools.partial(_export_decide, approve=True))
    refuse = verbs.add_parser("refuse", help=_("refuse a request, saying why"), parents=[shared.actor])
    refuse.add_argument("number", type=int)
    refuse.add_argument("--note", help=_("why (required)"))
    refuse.set_defaults(run=functools.partial(_export_decide, approve=False))
    make = verbs.add_parser("make", help=_("make the package of an approved export, once (its recipient)"),
                            parents=[shared.actor])
    make.add_argument("number", type=int)
    make.add_argument("--out", type=Path, required=True, help=_("folder to write export-NNNNNN/ into"))
    add_progress(make)
    make.set_defaults(run=_export_make)
    handover = verbs.add_parser("handover", help=_("record who took the copy"), parents=[shared.actor])
    handover.add_argument("number", type=int)
    handover.add_argument("--taken-by", required=True, help=_("name and unit of the person who took it"))
    handover.set_defaults(run=_export_handover)
    ledger = verbs.add_parser("ledger", help=_("the copy ledger: every export, who asked, approved, made and took it"),
                              parents=[shared.actor])
    tables.add_json(ledger)
    ledger.set_defaults(run=_export_ledger)


def _user_add(args: argparse.Namespace) -> int:
    desk = open_desk(args)
    actor = acting_user(desk, args, "user-add") if desk.access.has_users() else None
    password = _password("BODYCAM_NEW_PASSWORD", _("new password of {name}: ").format(name=args.name), twice=True)
    added = desk.access.add_user(actor, args.name, args.full_name, args.role, password)
    print(_("user {name} ({role}) added").format(name=added.name, role=labels.label("role", added.role, language())))
    return 0


def _user_list(args: argparse.Namespace) -> int:
    desk = open_desk(args)
    for user in desk.access.list_users(acting_user(desk, args, "user-list")):
        print(f"{user.name:<20} {labels.label('role', user.role, language()):<14} {user.full_name}")
    return 0


def _user_passwd(args: argparse.Namespace) -> int:
    desk = open_desk(args)
    actor = acting_user(desk, args, "user-password")
    desk.access.set_password(actor, args.name,
                                _password("BODYCAM_NEW_PASSWORD", f"new password of {args.name}: ", twice=True))
    print(_("password of {name} changed").format(name=args.name))
    return 0


def _user_unlock(args: argparse.Namespace) -> int:
    desk = open_desk(args)
    lifted = desk.access.unlock(acting_user(desk, args, "login-unlock"), args.name, args.address)
    said = _("lockout of {who} lifted") if lifted else _("{who} was not locked out")
    print(said.format(who=args.name or args.address))
    return 0


def _confidential(args: argparse.Namespace) -> int:
    desk = open_desk(args)
    actor = acting_user(desk, args, f"{args.verb}-confidential")
    if desk.footage.folder(args.session) is None:
        raise AccessError(_("no session {session} is archived.").format(session=args.session))
    if args.verb == "mark":
        desk.access.mark_confidential(actor, args.session, args.level, args.reason)
        print(_("session {session} marked {level}").format(session=args.session,
                                                            level=labels.label("level", args.level, language())))
    else:
        desk.access.clear_confidential(actor, args.session, args.reason)
        print(_("session {session} no longer confidential").format(session=args.session))
    return 0


def _view(args: argparse.Namespace) -> int:
    desk = open_desk(args)
    user, access = acting_user(desk, args, "view"), desk.access
    access.require(user, "view", action="view", footage=[args.session], reason=args.reason)
    reason = access.require_reason(user, "view", args.reason, [args.session])
    access.require_visible(user, "view", [args.session], reason)
    folder = desk.footage.folder(args.session)
    if folder is None:
        access.refuse(user, "view", f"no session {args.session} is archived.", footage=[args.session], reason=reason)
    verdict = verify_session(folder, elsewhere=desk.footage.elsewhere)
    access.audit.record(user.name, "view", role=user.role, footage=[args.session], reason=reason,
                        detail={"ok": verdict.ok})
    lang = language()
    said = _("session {session}: OK; closed: {closed}") if verdict.ok else \
        _("session {session}: NOT OK; closed: {closed}")
    closed = labels.label("stop", verdict.closed, lang) if verdict.closed else "-"
    print(said.format(session=args.session, closed=closed))
    for segment in verdict.segments:
        print(f"  {folder / segment.name}  {labels.label('segment', segment.state, lang)} "
              f"{labels.detail(segment.detail, lang)}".rstrip())
    return 0


def _when(args: argparse.Namespace, text: str | None) -> int | None:
    return None if text is None else zone.parse(text, args.zone)


def _export_request(args: argparse.Namespace) -> int:
    desk = open_desk(args)
    user = acting_user(desk, args, "export-request")
    if args.case and (args.start or args.end):
        raise AccessError(_("--from and --to go with --session, not --case."))
    scope = "case" if args.case else "range" if (args.start or args.end) else "session"
    wanted = desk.exports.request(user, scope, args.case or args.session, reason=args.reason,
                                  recipient=args.recipient, destination=args.destination,
                                  start_ns=_when(args, args.start), end_ns=_when(args, args.end), place=args.place)
    print(_("export {number} requested ({scope} {target}, {count} session(s)); it needs a supervisor's approval")
          .format(number=wanted.id, scope=labels.label("scope", scope, language()), target=wanted.target,
                  count=len(wanted.session_ids)))
    return 0


def _export_decide(args: argparse.Namespace, approve: bool) -> int:
    desk = open_desk(args)
    user = acting_user(desk, args, "export-approve" if approve else "export-refuse")
    decided = desk.exports.decide(user, args.number, approve, args.note)
    said = _("export {number} approved by {user}") if decided.state == "approved" else \
        _("export {number} refused by {user}")
    print(said.format(number=decided.id, user=user.name))
    return 0


def _export_make(args: argparse.Namespace) -> int:
    from station.custody import package
    from station.custody.contentkeys import load_agency_keys

    desk = open_desk(args)
    user = acting_user(desk, args, "export-make")
    agency = load_agency_keys(args.agency_keys)
    made = desk.exports.make(user, args.number, args.out,
                             functools.partial(package.build, archive=args.archive, footage=desk.footage,
                                               agency=agency, station_zone=args.zone,
                                               progress=meter(args, _("copying"))))
    print(_("export {number} made: {package}").format(number=args.number, package=made))
    return 0


def _export_handover(args: argparse.Namespace) -> int:
    desk = open_desk(args)
    handed = desk.exports.handover(acting_user(desk, args, "export-handover"), args.number, args.taken_by)
    print(_("export {number} taken by {who}").format(number=handed.id, who=handed.taken_by))
    return 0


def _export_ledger(args: argparse.Namespace) -> int:
    desk = open_desk(args)
    tables.emit((dict(row.row._mapping) for row in desk.exports.ledger(acting_user(desk, args, "ledger"))),
                EXPORT_COLUMNS, args)
    return 0


EXPORT_COLUMNS = (Column("id", N_("Export")), tables.label_column("state", N_("State"), "export"),
                  tables.label_column("scope", N_("Scope"), "scope"),
                  Column("target", N_("Target")), tables.time_column("requested_ns", N_("Requested")),
                  Column("requester", N_("Requested by")), Column("decided_by", N_("Decided by")),
                  Column("destination", N_("For")), Column("recipient", N_("Made by")),
                  tables.time_column("made_ns", N_("Made")),
                  Column("taken_by", N_("Taken by")), Column("slip_sha256", N_("Retrieval slip SHA-256")))
