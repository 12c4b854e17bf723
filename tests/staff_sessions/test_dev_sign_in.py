"""The development sign-in of `make run`, on both databases: a session in any staff role (or
several), from this site only, audited as every sign-in, and absent in production."""

from __future__ import annotations

import sqlalchemy as sa

from cdp.db import Database
from cdp.keys.store import KeyStore
from cdp.staff.credentials import CSRF_HEADER
from cdp.staff.models import StaffProvider, StaffSession
from tests.conftest import ClientFactory, make_settings
from tests.support.staff_desk import BROWSER, app_client, records_of, session_row

WHO = "{ auditEvents(first: 1, action: AUDIT_READ) { items { actorSubject actorRole } } }"


async def count_sessions(database: Database) -> int:
    async with database.transaction() as session:
        found = await session.scalar(sa.select(sa.func.count()).select_from(StaffSession))
    return int(found or 0)


async def test_a_developer_signs_in_as_compliance_and_acts_in_that_role(
    client_for: ClientFactory, database: Database
) -> None:
    client = client_for(None)
    response = await client.post("/auth/staff/dev", data={"role": "compliance"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["person"], body["provider"], body["role"]) == (
        "development:dev-compliance",
        "development",
        "compliance",
    )
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    for _ in range(2):  # the second read finds the first one's record
        reply = await client.post(
            "/graphql", json={"query": WHO}, headers={CSRF_HEADER: body["csrfToken"]}
        )
    [record] = reply.json()["data"]["auditEvents"]["items"]
    assert record == {"actorSubject": "development:dev-compliance", "actorRole": "COMPLIANCE"}
    [sign_in] = await records_of(database, "staff.sign_in")
    assert (sign_in.actor_subject, sign_in.outcome) == ("development:dev-compliance", "ok")
    assert sign_in.detail["provider"] == "development"
    row = await session_row(database, body["id"])
    assert row.provider is StaffProvider.DEVELOPMENT


async def test_the_dev_sign_in_gives_several_roles_to_choose_from_and_a_directory_id(
    client_for: ClientFactory,
) -> None:
    client = client_for(None)
    response = await client.post(
        "/auth/staff/dev",
        data={"role": ["support", "compliance"], "directoryId": "wanglei"},
    )
    body = response.json()
    assert (body["person"], body["roles"], body["role"]) == (
        "development:wanglei",
        ["support", "compliance"],
        None,
    )
    chosen = await client.post(
        "/auth/staff/role", data={"role": "support"}, headers={CSRF_HEADER: body["csrfToken"]}
    )
    assert chosen.json()["role"] == "support"


async def test_a_browser_form_signing_in_is_sent_to_the_console(
    client_for: ClientFactory,
) -> None:
    response = await client_for(None).post(
        "/auth/staff/dev",
        data={"role": "analyst"},
        headers={**BROWSER, "origin": "http://cdp.test", "sec-fetch-site": "same-origin"},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/console/"
    assert "cdp_staff=cdpss_" in response.headers["set-cookie"]
    # The console is a no-referrer page: its same-origin forms come with `Origin: null`.
    response = await client_for(None).post(
        "/auth/staff/dev",
        data={"role": "analyst"},
        headers={**BROWSER, "origin": "null", "sec-fetch-site": "same-origin"},
    )
    assert response.status_code == 303


async def test_a_cross_site_dev_sign_in_is_refused(
    client_for: ClientFactory, database: Database
) -> None:
    for headers in (
        {"origin": "https://evil.example"},
        {"origin": "null"},
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site", "origin": "http://cdp.test"},
    ):
        response = await client_for(None).post(
            "/auth/staff/dev", data={"role": "compliance"}, headers=headers
        )
        assert response.status_code == 403, headers
        [error] = response.json()["errors"]
        assert error["extensions"]["reason"] == "CROSS_SITE"
        assert "set-cookie" not in response.headers
    assert await count_sessions(database) == 0


async def test_the_dev_sign_in_refuses_roles_that_are_not_staff_roles(
    client_for: ClientFactory, database: Database
) -> None:
    for form in (
        {"role": "customer"},
        {"role": "service"},
        {"role": "admin"},
        {},
        {"role": "support", "directoryId": "a b"},
        {"role": "support", "directoryId": "x" * 65},
    ):
        response = await client_for(None).post("/auth/staff/dev", data=form)
        assert response.status_code == 400, form
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert await count_sessions(database) == 0


async def test_the_dev_sign_in_is_not_there_in_production(
    database_url: str, database: Database, keystore: KeyStore
) -> None:
    production = make_settings(database_url, env="production")
    assert production.is_production
    async with app_client(production, database, keystore) as client:
        for method in ("POST", "GET"):
            response = await client.request(
                method, "/auth/staff/dev", data={"role": "compliance"} if method == "POST" else None
            )
            assert response.status_code == 404, response.text
            [error] = response.json()["errors"]
            assert error["extensions"]["code"] == "NOT_FOUND"
            assert "set-cookie" not in response.headers
        page = await client.get("/console/")
        assert "/auth/staff/dev" not in page.text
    assert await count_sessions(database) == 0
