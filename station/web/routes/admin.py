"""The administrator's page: users (add, role, disable, password, lockouts), devices (enrol a
key, hand out and take back, the ledger and its mismatches), retention periods, refused
dockings to acknowledge, and the whole audit trail with filters and its verification.

Each route names the permission it needs, so another role is refused (an audit entry) as
anywhere on the page; every change is an audit entry, made by the area that does it."""

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from evidence import EvidenceError
from evidence.keys import add_key, key_id, load_public_key, read_keys
from evidence.paths import ArchiveDir
from station.catalogue import ledger, retention
from station.custody import audit
from station.custody.access import ROLES, AccessError, User
from station.web.deps import Web

AUDIT_FILTERS = ("actor", "action", "outcome", "session")
MOST_ENTRIES = 500                      # the newest entries shown; the filters find older ones


def router(web: Web) -> APIRouter:
    router = APIRouter()
    users = Depends(web.allowed("users"))

    def back(section: str) -> Response:
        return RedirectResponse(f"/admin#{section}", status_code=303)

    @router.get("/admin")
    def page(request: Request, user: Annotated[User, users]) -> Response:
        desk = web.desk(request)
        catalogue = desk.catalogue
        devices = sorted(key_id(key) for key in read_keys(ArchiveDir(web.archive).devices))
        return web.render(request, "admin.html", users=desk.access.list_users(user), roles=ROLES,
                          lockouts=desk.access.lockouts(user), devices=devices, ledger=ledger.report(catalogue),
                          mismatches=ledger.mismatches(catalogue), periods=retention.periods(catalogue),
                          refusals=desk.witness.refusals())

    @router.post("/admin/users")
    def add(request: Request, user: Annotated[User, users], name: Annotated[str, Form()] = "",
            full_name: Annotated[str, Form()] = "", role: Annotated[str, Form()] = "",
            password: Annotated[str, Form()] = "") -> Response:
        web.desk(request).access.add_user(user, name.strip(), full_name.strip(), role, password)
        return back("users")

    @router.post("/admin/users/{name}/role")
    def role(request: Request, name: str, user: Annotated[User, users], role: Annotated[str, Form()] = "") -> Response:
        web.desk(request).access.set_role(user, name, role)
        return back("users")

    @router.post("/admin/users/{name}/disable")
    def disable(request: Request, name: str, user: Annotated[User, users]) -> Response:
        web.desk(request).access.set_disabled(user, name, True)
        return back("users")

    @router.post("/admin/users/{name}/enable")
    def enable(request: Request, name: str, user: Annotated[User, users]) -> Response:
        web.desk(request).access.set_disabled(user, name, False)
        return back("users")

    @router.post("/admin/users/{name}/password")
    def password(request: Request, name: str, user: Annotated[User, users],
                 password: Annotated[str, Form()] = "") -> Response:
        web.desk(request).access.set_password(user, name, password)
        return back("users")

    @router.post("/admin/lockouts/lift")
    def lift(request: Request, user: Annotated[User, users], kind: Annotated[str, Form()] = "",
             key: Annotated[str, Form()] = "") -> Response:
        web.desk(request).access.unlock(user, name=key if kind == "user" else None,
                                        address=key if kind == "address" else None)
        return back("lockouts")

    @router.post("/admin/devices")
    def enrol(request: Request, user: Annotated[User, Depends(web.allowed("devices"))],
              key: Annotated[str, Form()] = "") -> Response:
        try:
            enrolled = add_key(ArchiveDir(web.archive).devices, key.strip())
        except (EvidenceError, ValueError) as exc:
            raise AccessError(f"that is not a device's public key (PEM, hex or base64): {exc}") from exc
        web.desk(request).record("device-enrol", key_id=enrolled)
        return back("devices")

    @router.post("/admin/devices/assign")
    def assign(request: Request, user: Annotated[User, Depends(web.allowed("devices"))],
               device: Annotated[str, Form()] = "", officer: Annotated[str, Form()] = "") -> Response:
        ledger.assign(web.desk(request).catalogue, device.strip(), officer.strip(), actor=user.name)
        return back("ledger")

    @router.post("/admin/devices/return")
    def give_back(request: Request, user: Annotated[User, Depends(web.allowed("devices"))],
                  device: Annotated[str, Form()] = "") -> Response:
        ledger.give_back(web.desk(request).catalogue, device.strip(), actor=user.name)
        return back("ledger")

    @router.post("/admin/retention")
    def period(request: Request, user: Annotated[User, Depends(web.allowed("retention"))],
               name: Annotated[str, Form()] = "", days: Annotated[str, Form()] = "") -> Response:
        days = days.strip()
        if days not in ("", "none") and not days.isdigit():
            raise AccessError(f"a retention period is a whole number of days, or 'none', not {days!r}.")
        retention.set_period(web.desk(request).catalogue, name, int(days) if days.isdigit() else None,
                             actor=user.name)
        return back("retention")

    @router.post("/admin/dockings/{number}/ack")
    def acknowledge(request: Request, number: int, user: Annotated[User, Depends(web.allowed("witness-ack"))],
                    reason: Annotated[str, Form()] = "") -> Response:
        desk = web.desk(request)
        desk.witness.acknowledge_as(desk.access, user, number, reason)
        return back("dockings")

    @router.get("/admin/audit")
    def trail(request: Request, user: Annotated[User, Depends(web.allowed("audit"))]) -> Response:
        """The whole trail, newest first, filtered; and whether it verifies (an ``audit-verify`` entry)."""
        given = {name: request.query_params.get(name, "").strip() for name in AUDIT_FILTERS}
        desk = web.desk(request)
        trusted = {load_public_key(ArchiveDir(web.archive).public_key.read_text())}
        problems = audit.verify(web.engine, trusted)
        desk.record("audit-verify", problems=len(problems))
        shown = [audit.shown(entry.body) for entry in audit.entries(web.engine, given["session"] or None)
                 if all(not given[name] or entry.body.get(name) == given[name] for name in ("actor", "action", "outcome"))]
        return web.render(request, "admin_audit.html", given=given, problems=problems,
                          entries=shown[::-1][:MOST_ENTRIES], total=len(shown), most=MOST_ENTRIES)

    return router
