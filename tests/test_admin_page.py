"""The administrator's page (issue 27): where an administrator lands, what they manage there,
every change an audit entry, and every other role refused it (audited), in Chromium and
through a plain HTTP client."""
from __future__ import annotations

import re

from evidence.keys import FileSigner, public_pem
from evidence.paths import ArchiveDir
from station.catalogue import ledger, retention
from station.catalogue.catalogue import Catalogue
from station.custody.access import Access
from station.intake.witness import Witness
from tests.test_web import (PASSWORD, archive, browser, pulled, refusals, screenshot, sign_in,  # noqa: F401 (fixtures)
                            station, trail)
from tests.web import Client


def test_the_administrator_manages_users_lockouts_and_reads_the_verified_trail_in_chromium(station, browser):
    base, engine, _clock = station
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    sign_in(page, base, "admin")
    assert page.url == f"{base}/admin"                     # their own page, not a refused search
    assert page.locator("h1").inner_text() == "系统管理"      # Chinese by default
    page.click("#lang-en")
    page.wait_for_selector("text=Administration")

    page.fill("#new-name", "sun")
    page.fill("#new-full-name", "孙丽")
    page.select_option("#new-role", "reviewer")
    page.fill("#new-password", "a new password 9")
    page.click("#add")
    page.wait_for_selector("#user-sun")
    assert Client(base).sign_in("sun", "a new password 9").status == 303

    page.click("#user-li .disable")
    page.wait_for_selector("#user-li.disabled")
    assert Client(base).sign_in("li", PASSWORD).status == 401       # the right password, a disabled user

    for _ in range(5):
        assert Client(base).sign_in("zhao", "not the password").status == 401
    assert Client(base).sign_in("zhao", PASSWORD).status == 401     # locked out: name and address
    page.goto(f"{base}/admin")
    assert page.locator("#lockout-user-zhao").count() == 1
    page.click("#lockout-user-zhao .lift")
    page.wait_for_selector("#lockout-user-zhao", state="detached")
    page.click("#lockout-address-127\\.0\\.0\\.1 .lift")
    page.wait_for_selector("#no-lockouts")
    assert Client(base).sign_in("zhao", PASSWORD).status == 303
    screenshot(page, "admin-1-users")

    page.click("#audit-trail-link")
    page.wait_for_selector("#audit")
    assert page.locator("#audit-verify").inner_text().startswith("The audit trail verifies")
    actions = page.locator("#audit .action").all_inner_texts()
    for action in ("user-add", "user-disable", "login-lockout", "login-unlock", "user-list"):
        assert action in actions, action
    page.select_option("#f-outcome", "refused")
    page.fill("#f-action", "login")
    page.click("#filter")
    page.wait_for_selector("#audit")
    refused = [row.split("\t") for row in page.locator("#audit tr").all_inner_texts()[1:]]
    assert refused and all(row[3] == "login" and row[4] == "refused" for row in refused)
    assert any(row[2] == "li" and "why: the user is disabled" in row[6] for row in refused)
    screenshot(page, "admin-2-audit")
    done = [(e["actor"], e["action"], e["detail"].get("user")) for e in trail(engine)
            if e["action"] in ("user-add", "user-disable", "login-unlock")]
    assert done == [("admin", "user-add", "sun"), ("admin", "user-disable", "li"),
                    ("admin", "login-unlock", "zhao"), ("admin", "login-unlock", None)]


def test_a_reviewer_is_refused_the_administrators_page_and_the_refusal_is_audited(station):
    base, engine, _clock = station
    client = Client(base)
    assert client.sign_in("li", PASSWORD).headers["location"] == "/"
    assert client.get("/admin").status == 403
    token = client.csrf("/")
    assert client.post("/admin/users", {"csrf": token, "name": "eve", "role": "administrator",
                                        "password": "a long password"}).status == 403
    assert [(e["actor"], e["role"], e["action"], e["detail"]["why"]) for e in refusals(engine)] == \
        [("li", "reviewer", "users", "a reviewer may not manage users: it takes a administrator.")] * 2
    assert Access(engine, None).user("eve") is None


def test_every_form_of_the_page_needs_the_csrf_token_and_each_change_is_audited(station, archive):
    base, engine, _clock = station
    client = Client(base)
    client.sign_in("admin", PASSWORD)
    assert client.post("/admin/users/li/role", {"csrf": "forged", "role": "supervisor"}).status == 403
    token = client.csrf("/admin")
    device_key = FileSigner.generate(archive / "other.key")
    steps = [("/admin/users/li/role", {"role": "supervisor"}), ("/admin/users/li/password", {"password": "0123456789a"}),
             ("/admin/devices", {"key": public_pem(device_key.public_key)}),
             ("/admin/devices/assign", {"device": "BC00001", "officer": "100001"}),
             ("/admin/devices/return", {"device": "BC00001"}),
             ("/admin/retention", {"name": "ordinary", "days": "200"})]
    for path, form in steps:
        assert client.post(path, {"csrf": token, **form}).status == 303, path
    assert Access(engine, None).user("li").role == "supervisor"
    assert (ArchiveDir(archive).devices / f"{device_key.key_id}.pub").exists()
    catalogue = Catalogue(engine)
    assert [(e["device"], e["police_number"], e["in_ns"] is not None) for e in ledger.report(catalogue)] == \
        [("BC00001", "100001", True)]
    assert retention.periods(catalogue)["ordinary"] == 200
    bad = client.post("/admin/retention", {"csrf": token, "name": "ordinary", "days": "soon"})
    assert bad.status == 400 and "whole number of days" in bad.text
    assert [e["action"] for e in trail(engine) if e["actor"] == "admin" and e["action"] != "user-list"
            and e["outcome"] == "done" and e["action"] != "login"] == [
        "user-role", "user-password", "device-enrol", "device-assigned", "device-returned", "retention-set"]
    assert [e["action"] for e in refusals(engine)] == ["csrf"]


def test_the_administrator_acknowledges_a_refused_docking(station):
    base, engine, _clock = station
    number = Witness(engine).refuse("00112233aabbccdd", "BC00009", "its chain was rewound")
    client = Client(base)
    client.sign_in("admin", PASSWORD)
    listed = client.get("/admin")
    assert f'id="refusal-{number}"' in listed.text and "its chain was rewound" in listed.text
    token = client.csrf("/admin")
    assert client.post(f"/admin/dockings/{number}/ack", {"csrf": token, "reason": ""}).status == 403
    assert client.post(f"/admin/dockings/{number}/ack",
                       {"csrf": token, "reason": "device BC00009 was reset by the vendor, ticket 77"}).status == 303
    [refusal] = Witness(engine).refusals(number)
    assert refusal["acknowledged_by"] == "admin"
    assert re.search(r"admin, .*device BC00009 was reset by the vendor", client.get("/admin").text)
