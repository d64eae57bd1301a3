"""The central store's commands: ``store init``, ``store push``, ``store status`` and ``overdue``."""
from __future__ import annotations

import argparse
import time
from datetime import tzinfo

from station import services
from station.catalogue import retention
from station.commands import access as access_commands
from station.commands.options import Shared
from station.config import StationConfig
from station.store.anchor import Checkpoint
from station.store.bucket import StoreError, StoreSettings
from station.store.cache import Freed
from station.store.store import PushReport, status
from station.supervision.undocked import undocked
from station.words import zone
from station.words.messages import _


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
    show = verbs.add_parser("status", parents=[shared.actor], help=_("what is stored, pending and overdue"))
    show.set_defaults(run=_status)
    overdue = commands.add_parser("overdue", parents=[shared.actor],
                                  help=_("sessions docked more than 24 hours ago and not yet in the central store, "
                                         "and devices not docked within 24 hours of their last session (S1)"))
    overdue.set_defaults(run=_overdue)


def _settings(config: StationConfig) -> StoreSettings:
    settings = services.store_settings(config)
    if settings is None:
        raise StoreError("no central store is configured: set [store] endpoint and bucket in the station's "
                         "configuration file")
    return settings


def _init(args: argparse.Namespace, config: StationConfig) -> int:
    desk, _user = access_commands.gate(args, "retention", "store-init")
    settings = _settings(config)
    said = services.open_store(desk, args.archive, settings).init()
    desk.record("store-init", endpoint=settings.endpoint, bucket=settings.bucket)
    print(said)
    return 0


def _push(args: argparse.Namespace, config: StationConfig) -> int:
    desk, _user = access_commands.gate(args, "pull", "store-push")
    settings = _settings(config)
    pushed = services.push_to_store(desk.catalogue, args.archive, desk.signer, settings, desk.record,
                                    idle_entry=True)
    print("\n".join(_pushed(pushed.report, settings)))
    if pushed.freed is not None:
        print(_freed_line(pushed.freed, settings.keep_local_days))
    print(_anchored(pushed.checkpoint))
    return 0


def _free(args: argparse.Namespace, config: StationConfig) -> int:
    desk, _user = access_commands.gate(args, "pull", "store-free")
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
    desk, _user = access_commands.gate(args, "catalogue", "store-status")
    found = status(desk.catalogue, args.archive, time.time_ns())
    print(_("stored {stored}, pending {pending}, overdue {overdue}").format(
        stored=len(found["stored"]), pending=len(found["pending"]), overdue=len(found["overdue"])))
    for session in found["stored"]:
        print(_("  stored   {session}  {files} objects, locked until {day}").format(
            session=session["session"], files=session["files"], day=_day(session["retain_until_ns"], args.zone)))
    for session in found["pending"]:
        late = _("  OVERDUE") if session in found["overdue"] else ""
        print(_("  pending  {session}  docked {moment}").format(
            session=session["session"], moment=_moment(session["archived_ns"], args.zone)) + late)
    return 0


def _overdue(args: argparse.Namespace) -> int:
    """The 24-hour rule (S1) both ways: sessions docked and not stored, devices not docked."""
    desk, _user = access_commands.gate(args, "catalogue", "overdue")
    now = time.time_ns()
    late = status(desk.catalogue, args.archive, now)["overdue"]
    devices = undocked(desk.catalogue, now, now).devices
    if not late and not devices:
        print(_("nothing overdue: every session docked more than 24 hours ago is in the central store, and every "
                "device docked within 24 hours of its last session"))
        return 0
    if late:
        print(_("{count} session(s) docked more than 24 hours ago are not in the central store (S1):")
              .format(count=len(late)))
    for session in late:
        print(_("  {session}  officer {officer}  device {device}  docked {moment}").format(
            session=session["session"], officer=session["police_number"], device=session["device"],
            moment=_moment(session["archived_ns"], args.zone)))
    if devices:
        print(_("{count} device(s) not docked since their last session ended more than 24 hours ago (S1):")
              .format(count=len(devices)))
    for device in devices:
        print(_("  {device}  officer {officer}  unit {unit}  last session ended {ended}  last docked {docked}").format(
            device=device["device"], officer=device["police_number"], unit=device["unit_number"],
            ended=_moment(device["last_ended_ns"], args.zone),
            docked=_("never") if device["last_docked_ns"] is None else _moment(device["last_docked_ns"], args.zone)))
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


def _moment(ns: int, station_zone: tzinfo) -> str:
    return zone.shown(ns, station_zone, "minutes")


def _day(ns: int, station_zone: tzinfo) -> str:
    return zone.moment(ns, station_zone).date().isoformat()
