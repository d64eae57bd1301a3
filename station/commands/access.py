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
from datetime import datetime
from pathlib import Path

from evidence.verify import verify_session
from station import services
from station.commands.options import Shared
from station.custody.access import ROLES, AccessDenied, AccessError, User
from station.services import Desk


def open_desk(args: argparse.Namespace) -> Desk:
    """The station of ``--archive`` on ``--catalogue``, before anyone has signed in."""
    return services.open_station(args.archive, args.catalogue, throttle=args.throttle,
                                 store=services.store_settings(args.config_file)).desk(None)


def gate(args: argparse.Namespace, permission: str | None, action: str, *, footage: Sequence[str] = (),
         reason: str | None = None) -> tuple[Desk, User | None]:
    """The desk of the authenticated acting user, whose role must grant ``permission`` (None:
    any user; refusals audited). A station without users yet (before its first administrator)
    asks no one: the user is None."""
    station = services.open_station(args.archive, args.catalogue, store=services.store_settings(args.config_file))
    desk = station.desk(None)
    if not desk.access.has_users():
        return desk, None
    user = acting_user(desk, args, action)
    if permission is not None:
        desk.access.require(user, permission, action=action, footage=footage, reason=reason)
    return station.desk(user), user


def acting_user(desk: Desk, args: argparse.Namespace, action: str) -> User:
    if not args.user:
        raise AccessDenied(f"{action} needs the acting user: give --user NAME or set BODYCAM_USER.")
    return desk.access.authenticate(args.user, _password("BODYCAM_PASSWORD", f"password of {args.user}: "), action)


def _password(variable: str, prompt: str, twice: bool = False) -> str:
    if os.environ.get(variable):
        return os.environ[variable]
    if not sys.stdin.isatty():
        raise AccessDenied(f"no password: set {variable} or run the command at a terminal to be asked.")
    password = getpass.getpass(prompt)
    if twice and getpass.getpass("again: ") != password:
        raise AccessError("the two passwords differ.")
    return password


def register(commands: argparse._SubParsersAction, shared: Shared) -> None:
    user = commands.add_parser("user", help="station users and their roles (administrator)")
    verbs = user.add_subparsers(dest="verb", required=True)
    add = verbs.add_parser("add", help="add a user; the first user is an administrator and needs no --user",
                           parents=[shared.actor])
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--full-name", default="", help="the person's name, as on the record form")
    add.set_defaults(run=_user_add)
    listing = verbs.add_parser("list", help="list users and roles", parents=[shared.actor])
    listing.set_defaults(run=_user_list)
    passwd = verbs.add_parser("passwd", help="set a user's password (your own, or anyone's as administrator)",
                              parents=[shared.actor])
    passwd.add_argument("name")
    passwd.set_defaults(run=_user_passwd)
    unlock = verbs.add_parser("unlock", help="lift the lockout that failed sign-ins put on a user or an address "
                              "(administrator)", parents=[shared.actor])
    unlock.add_argument("name", nargs="?", help="the user locked out")
    unlock.add_argument("--address", help="a client address locked out on the review page")
    unlock.set_defaults(run=_user_unlock)

    mark = commands.add_parser("confidential", help="mark or clear a session as confidential (S7; supervisor)",
                               parents=[shared.actor])
    mark.add_argument("verb", choices=("mark", "clear"))
    mark.add_argument("session")
    mark.add_argument("--level", choices=("secret", "commercial-secret", "private"), default="secret")
    mark.add_argument("--reason", help="why (required)")
    mark.set_defaults(run=_confidential)

    view = commands.add_parser("view", help="open a session's footage for viewing, with a reason (reviewer)",
                               parents=[shared.actor])
    view.add_argument("session")
    view.add_argument("--reason", help="who asked for it and why (required)")
    view.set_defaults(run=_view)

    export = commands.add_parser("export", help="request, approve, make and hand over an export package")
    verbs = export.add_subparsers(dest="verb", required=True)
    request = verbs.add_parser("request", help="ask for an export of a session, a time range of one, or a case",
                               parents=[shared.actor])
    scope = request.add_mutually_exclusive_group(required=True)
    scope.add_argument("--session")
    scope.add_argument("--case")
    request.add_argument("--from", dest="start", help="with --session: start of the range, ISO 8601 (local time "
                                                      "unless it has an offset)")
    request.add_argument("--to", dest="end", help="with --session: end of the range")
    request.add_argument("--reason", help="why the export is needed (required)")
    request.add_argument("--recipient", required=True, help="the station user who will make and carry the copy")
    request.add_argument("--for", dest="destination", required=True, help="for whom: the court, procuratorate …")
    request.add_argument("--place", help="where the footage was recorded, for the record form")
    request.set_defaults(run=_export_request)
    approve = verbs.add_parser("approve", help="approve a request (a supervisor other than the requester)",
                               parents=[shared.actor])
    approve.add_argument("number", type=int)
    approve.add_argument("--note")
    approve.set_defaults(run=functools.partial(_export_decide, approve=True))
    refuse = verbs.add_parser("refuse", help="refuse a request, saying why", parents=[shared.actor])
    refuse.add_argument("number", type=int)
    refuse.add_argument("--note", help="why (required)")
    refuse.set_defaults(run=functools.partial(_export_decide, approve=False))
    make = verbs.add_parser("make", help="make the package of an approved export, once (its recipient)",
                            parents=[shared.actor])
    make.add_argument("number", type=int)
    make.add_argument("--out", type=Path, required=True, help="folder to write export-NNNNNN/ into")
    make.set_defaults(run=_export_make)
    handover = verbs.add_parser("handover", help="record who took the copy", parents=[shared.actor])
    handover.add_argument("number", type=int)
    handover.add_argument("--taken-by", required=True, help="name and unit of the person who took it")
    handover.set_defaults(run=_export_handover)
    ledger = verbs.add_parser("ledger", help="the copy ledger: every export, who asked, approved, made and took it",
                              parents=[shared.actor])
    ledger.set_defaults(run=_export_ledger)


def _user_add(args: argparse.Namespace) -> int:
    desk = open_desk(args)
    actor = acting_user(desk, args, "user-add") if desk.access.has_users() else None
    password = _password("BODYCAM_NEW_PASSWORD", f"new password of {args.name}: ", twice=True)
    added = desk.access.add_user(actor, args.name, args.full_name, args.role, password)
    print(f"user {added.name} ({added.role}) added")
    return 0


def _user_list(args: argparse.Namespace) -> int:
    desk = open_desk(args)
    for user in desk.access.list_users(acting_user(desk, args, "user-list")):
        print(f"{user.name:<20} {user.role:<14} {user.full_name}")
    return 0


def _user_passwd(args: argparse.Namespace) -> int:
    desk = open_desk(args)
    actor = acting_user(desk, args, "user-password")
    desk.access.set_password(actor, args.name,
                                _password("BODYCAM_NEW_PASSWORD", f"new password of {args.name}: ", twice=True))
    print(f"password of {args.name} changed")
    return 0


def _user_unlock(args: argparse.Namespace) -> int:
    desk = open_desk(args)
    lifted = desk.access.unlock(acting_user(desk, args, "login-unlock"), args.name, args.address)
    print(f"lockout of {args.name or args.address} lifted" if lifted else f"{args.name or args.address} was not locked out")
    return 0


def _confidential(args: argparse.Namespace) -> int:
    desk = open_desk(args)
    actor = acting_user(desk, args, f"{args.verb}-confidential")
    if desk.footage.folder(args.session) is None:
        raise AccessError(f"no session {args.session} is archived.")
    if args.verb == "mark":
        desk.access.mark_confidential(actor, args.session, args.level, args.reason)
        print(f"session {args.session} marked {args.level}")
    else:
        desk.access.clear_confidential(actor, args.session, args.reason)
        print(f"session {args.session} no longer confidential")
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
    print(f"session {args.session}: {'OK' if verdict.ok else 'NOT OK'}; closed: {verdict.closed or '-'}")
    for segment in verdict.segments:
        print(f"  {folder / segment.name}  {segment.state} {segment.detail}".rstrip())
    return 0


def _when(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise AccessError(f"{text!r} is not a date and time (ISO 8601, e.g. 2026-11-30T13:05:00+08:00).") from exc
    return int(moment.astimezone().timestamp() * 10**9) if moment.tzinfo is None else int(moment.timestamp() * 10**9)


def _export_request(args: argparse.Namespace) -> int:
    desk = open_desk(args)
    user = acting_user(desk, args, "export-request")
    if args.case and (args.start or args.end):
        raise AccessError("--from and --to go with --session, not --case.")
    scope = "case" if args.case else "range" if (args.start or args.end) else "session"
    wanted = desk.exports.request(user, scope, args.case or args.session, reason=args.reason,
                                  recipient=args.recipient, destination=args.destination,
                                  start_ns=_when(args.start), end_ns=_when(args.end), place=args.place)
    print(f"export {wanted.id} requested ({scope} {wanted.target}, {len(wanted.session_ids)} session(s)); "
          f"it needs a supervisor's approval")
    return 0


def _export_decide(args: argparse.Namespace, approve: bool) -> int:
    desk = open_desk(args)
    user = acting_user(desk, args, "export-approve" if approve else "export-refuse")
    decided = desk.exports.decide(user, args.number, approve, args.note)
    print(f"export {decided.id} {decided.state} by {user.name}")
    return 0


def _export_make(args: argparse.Namespace) -> int:
    from station.custody import package

    desk = open_desk(args)
    user = acting_user(desk, args, "export-make")
    made = desk.exports.make(user, args.number, args.out,
                             functools.partial(package.build, archive=args.archive, footage=desk.footage))
    print(f"export {args.number} made: {made}")
    return 0


def _export_handover(args: argparse.Namespace) -> int:
    desk = open_desk(args)
    handed = desk.exports.handover(acting_user(desk, args, "export-handover"), args.number, args.taken_by)
    print(f"export {handed.id} taken by {handed.taken_by}")
    return 0


def _export_ledger(args: argparse.Namespace) -> int:
    desk = open_desk(args)
    for row in desk.exports.ledger(acting_user(desk, args, "ledger")):
        print(f"{row.id:>6} {row.state:<9} {row.scope} {row.target}  asked by {row.requester}, "
              f"decided by {row.decided_by or '-'}, for {row.destination}, made by "
              f"{row.recipient if row.made_ns else '-'}, taken by {row.taken_by or '-'}")
    return 0
