"""The central store's commands: ``store init``, ``store push``, ``store status`` and ``overdue``."""
from __future__ import annotations

import argparse
import time
from datetime import datetime, timezone

from station import services
from station.catalogue import retention
from station.commands import access as access_commands
from station.commands.options import Shared
from station.config import StationConfig
from station.store.anchor import Checkpoint
from station.store.bucket import StoreError, StoreSettings
from station.store.cache import Freed
from station.store.store import PushReport, status


def register(commands: argparse._SubParsersAction, shared: Shared, config: StationConfig) -> None:
    store = commands.add_parser("store", help="the central store: the agency's locked S3 bucket ([store] in the "
                                              "configuration; credentials from AWS_ACCESS_KEY_ID/… or a "
                                              "credentials file)")
    verbs = store.add_subparsers(dest="store_command", required=True)
    init = verbs.add_parser("init", parents=[shared.actor],
                            help="make the bucket with Object Lock and versioning on, or check an existing one is so")
    init.set_defaults(run=lambda args: _init(args, config))
    push = verbs.add_parser("push", parents=[shared.actor],
                            help="store every verified session not stored yet, each object locked and read back")
    push.set_defaults(run=lambda args: _push(args, config))
    free = verbs.add_parser("free", parents=[shared.actor],
                            help="free the local videos of sessions stored and read back [store] keep_local_days ago "
                                 "(review, exports and verify then read them from the store)")
    free.add_argument("--days", type=int, help="instead of [store] keep_local_days")
    free.set_defaults(run=lambda args: _free(args, config))
    show = verbs.add_parser("status", parents=[shared.actor], help="what is stored, pending and overdue")
    show.set_defaults(run=_status)
    overdue = commands.add_parser("overdue", parents=[shared.actor],
                                  help="sessions docked more than 24 hours ago and not yet in the central store (S1)")
    overdue.set_defaults(run=_overdue)


def _settings(config: StationConfig) -> StoreSettings:
    settings = services.store_settings(config)
    if settings is None:
        raise StoreError("no central store is configured: set [store] endpoint and bucket in the station's "
                         "configuration file")
    return settings


def _init(args: argparse.Namespace, config: StationConfig) -> int:
    desk, _ = access_commands.gate(args, "retention", "store-init")
    settings = _settings(config)
    said = services.open_store(desk, args.archive, settings).init()
    desk.record("store-init", endpoint=settings.endpoint, bucket=settings.bucket)
    print(said)
    return 0


def _push(args: argparse.Namespace, config: StationConfig) -> int:
    desk, _ = access_commands.gate(args, "pull", "store-push")
    settings = _settings(config)
    pushed = services.push_to_store(desk.catalogue, args.archive, desk.signer, settings, desk.record,
                                    idle_entry=True)
    print("\n".join(_pushed(pushed.report, settings)))
    if pushed.freed is not None:
        print(_freed_line(pushed.freed, settings.keep_local_days))
    print(_anchored(pushed.checkpoint))
    return 0


def _free(args: argparse.Namespace, config: StationConfig) -> int:
    desk, _ = access_commands.gate(args, "pull", "store-free")
    days = args.days if args.days is not None else _settings(config).keep_local_days
    if days is None:
        raise StoreError("[store] keep_local_days is not set (the local copy is kept for ever): give --days N")
    print(_freed_line(services.free_local(desk.catalogue, args.archive, days, desk.record, time.time_ns()), days))
    return 0


def _freed_line(freed: Freed, days: int) -> str:
    return (f"freed {len(freed.files)} video(s) of {len(freed.sessions)} session(s), {freed.bytes} bytes, stored "
            f"and read back at least {days} day(s) ago; they are read from the central store now")


def _anchored(checkpoint: Checkpoint | None) -> str:
    if checkpoint is None:
        return "audit trail: already anchored in the store up to its last entry"
    return (f"audit trail anchored in the store: entries {checkpoint.body['first_seq']} to {checkpoint.last_seq}, "
            f"checkpoint {checkpoint.key}")


def _pushed(report: PushReport, settings: StoreSettings) -> list[str]:
    lines = [f"stored {len(report.sessions)} session(s) in {settings.bucket}: {len(report.uploaded)} object(s) "
             f"sent ({report.bytes} bytes), {len(report.adopted)} found there already and read back, "
             f"{len(report.extended)} lock(s) extended, legal hold set on {len(report.held)} and cleared on "
             f"{len(report.released)}; every object read back and its SHA-256 matched its seal"]
    lines += [f"  not pushed {session}: {why}" for session, why in report.skipped.items()]
    return lines


def _status(args: argparse.Namespace) -> int:
    desk, _ = access_commands.gate(args, "catalogue", "store-status")
    found = status(desk.catalogue, args.archive, time.time_ns())
    print(f"stored {len(found['stored'])}, pending {len(found['pending'])}, overdue {len(found['overdue'])}")
    for session in found["stored"]:
        print(f"  stored   {session['session']}  {session['files']} objects, locked until "
              f"{_day(session['retain_until_ns'])}")
    for session in found["pending"]:
        late = "  OVERDUE" if session in found["overdue"] else ""
        print(f"  pending  {session['session']}  docked {_moment(session['archived_ns'])}{late}")
    return 0


def _overdue(args: argparse.Namespace) -> int:
    desk, _ = access_commands.gate(args, "catalogue", "overdue")
    late = status(desk.catalogue, args.archive, time.time_ns())["overdue"]
    if not late:
        print("nothing overdue: every session docked more than 24 hours ago is in the central store")
        return 0
    print(f"{len(late)} session(s) docked more than 24 hours ago are not in the central store (S1):")
    for session in late:
        print(f"  {session['session']}  officer {session['police_number']}  device {session['device']}  "
              f"docked {_moment(session['archived_ns'])}")
    return 1


def stored_release(desk: services.Desk, args: argparse.Namespace) -> retention.Release | None:
    """For ``purge``: each session's versions deleted from the central store before its local
    files go (None: no store configured); the store's refusal keeps the session."""
    settings = services.store_settings(args.station_config)
    if settings is None:
        return None
    central = services.open_store(desk, args.archive, settings)

    def release(assessment: retention.Assessment) -> dict[str, object]:
        try:
            deleted = central.delete({"session": assessment.session, "folder": assessment.folder})
        except StoreError as exc:
            raise retention.Refused(str(exc)) from exc
        return {"store": {"bucket": settings.bucket, "versions_deleted": deleted}}
    return release


def _moment(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _day(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, timezone.utc).strftime("%Y-%m-%d")
