"""What a signed-in person's browser does with its session, on both databases: the console
reads it, a person of several roles chooses one, and signing out ends it; each write only
with the session's anti-CSRF token, each refusal coded."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import col

from cdp.auth import Role
from cdp.config import Settings
from cdp.db import Database, utcnow
from cdp.staff.models import SessionEnd, StaffSession
from cdp.staff.sessions import csrf_token_of
from tests.conftest import ClientFactory
from tests.support.staff_desk import (
    BROWSER,
    COOKIE,
    open_staff_session,
    records_of,
    session_row,
    with_cookie,
)


def reason_of(body: dict[str, object]) -> tuple[str, str | None]:
    [error] = body["errors"]  # type: ignore[misc]
    extensions = error["extensions"]
    return extensions["code"], extensions.get("reason")


# --- GET /auth/staff/session ------------------------------------------------------------------


async def test_the_console_reads_who_is_signed_in_and_in_which_role(
    client_for: ClientFactory, database: Database, settings: Settings
) -> None:
    opened = await open_staff_session(database, settings, Role.SUPPORT)
    response = await with_cookie(client_for, opened, csrf=None).get("/auth/staff/session")
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body == {
        "id": opened.public_id,
        "person": "wecom:zhangsan",
        "provider": "wecom",
        "roles": ["support"],
        "role": "support",
        "csrfToken": opened.csrf_token,
        "expiresAt": body["expiresAt"],
        "idleTimeoutSeconds": settings.staff_idle_timeout_seconds,
    }
    assert (
        abs(
            (opened.expires_at - utcnow()).total_seconds() - settings.staff_session_lifetime_seconds
        )
        < 60
    )
    assert opened.token not in response.text  # the secret stays in its HttpOnly cookie


async def test_without_a_session_the_console_is_told_401_with_a_reason(
    client_for: ClientFactory,
) -> None:
    response = await client_for(None).get("/auth/staff/session")
    assert response.status_code == 401
    assert reason_of(response.json()) == ("UNAUTHENTICATED", "NO_SESSION")
    stranger = client_for(None)
    stranger.cookies.set(COOKIE, "cdpss_" + "x" * 43)
    response = await stranger.get("/auth/staff/session")
    assert reason_of(response.json()) == ("UNAUTHENTICATED", "UNKNOWN_SESSION")


async def test_the_console_is_refused_a_revoked_or_idle_session_as_graphql_refuses_it(
    client_for: ClientFactory, database: Database, settings: Settings
) -> None:
    idle = await open_staff_session(database, settings, Role.SUPPORT, who="idle")
    long_ago = utcnow() - timedelta(seconds=settings.staff_idle_timeout_seconds + 5)
    async with database.transaction() as session:
        await session.execute(
            sa.update(StaffSession)
            .where(col(StaffSession.public_id) == idle.public_id)
            .values(last_seen_at=long_ago)
        )
    for _ in range(2):
        response = await with_cookie(client_for, idle).get("/auth/staff/session")
        assert response.status_code == 401
        assert reason_of(response.json()) == ("UNAUTHENTICATED", "IDLE")
    assert (await session_row(database, idle.public_id)).ended_reason is SessionEnd.IDLE
    assert len(await records_of(database, "staff.session_end")) == 1  # ended once

    expired = await open_staff_session(database, settings, Role.SUPPORT, who="expired")
    async with database.transaction() as session:
        await session.execute(
            sa.update(StaffSession)
            .where(col(StaffSession.public_id) == expired.public_id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    response = await with_cookie(client_for, expired).get("/auth/staff/session")
    assert reason_of(response.json()) == ("UNAUTHENTICATED", "EXPIRED")


# --- POST /auth/staff/role --------------------------------------------------------------------


async def test_a_person_of_several_roles_chooses_one_and_then_acts_in_it(
    client_for: ClientFactory, database: Database, settings: Settings
) -> None:
    opened = await open_staff_session(database, settings, Role.SUPPORT, Role.COMPLIANCE)
    client = with_cookie(client_for, opened)
    before = (await client.get("/auth/staff/session")).json()
    assert before["role"] is None and before["roles"] == ["support", "compliance"]
    response = await client.post("/auth/staff/role", data={"role": "compliance"})
    assert response.status_code == 200, response.text
    assert response.json()["role"] == "compliance"
    body = (
        await client.post(
            "/graphql", json={"query": "{ auditEvents(first: 1) { items { action } } }"}
        )
    ).json()
    assert "errors" not in body, body
    [record] = await records_of(database, "staff.role")
    assert (record.actor_subject, record.outcome) == ("wecom:zhangsan", "ok")
    assert record.detail == {"session": opened.public_id, "role": "compliance"}


async def test_a_form_post_choosing_a_role_is_sent_back_to_the_console(
    client_for: ClientFactory, database: Database, settings: Settings
) -> None:
    opened = await open_staff_session(database, settings, Role.SUPPORT, Role.ANALYST)
    client = with_cookie(client_for, opened, csrf=None)
    response = await client.post(
        "/auth/staff/role",
        data={"role": "analyst", "csrf": opened.csrf_token},
        headers=BROWSER,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/console/"
    assert (await session_row(database, opened.public_id)).role == "analyst"


async def test_a_role_not_held_is_forbidden_and_a_second_choice_conflicts(
    client_for: ClientFactory, database: Database, settings: Settings
) -> None:
    opened = await open_staff_session(database, settings, Role.SUPPORT, Role.COMPLIANCE)
    client = with_cookie(client_for, opened)
    response = await client.post("/auth/staff/role", data={"role": "analyst"})
    assert response.status_code == 403
    assert reason_of(response.json())[0] == "FORBIDDEN"
    assert (await client.post("/auth/staff/role", data={"role": "support"})).status_code == 200
    response = await client.post("/auth/staff/role", data={"role": "compliance"})
    assert response.status_code == 409
    assert reason_of(response.json()) == ("CONFLICT", "ROLE_CHOSEN")
    outcomes = [r.outcome for r in await records_of(database, "staff.role")]
    assert outcomes == ["forbidden", "ok", "conflict"]
    assert (await session_row(database, opened.public_id)).role == "support"


async def test_a_role_that_is_no_role_is_bad_input(
    client_for: ClientFactory, database: Database, settings: Settings
) -> None:
    opened = await open_staff_session(database, settings, Role.SUPPORT, Role.COMPLIANCE)
    client = with_cookie(client_for, opened)
    for form in ({"role": "customer"}, {"role": "root"}, {}):
        response = await client.post("/auth/staff/role", data=form)
        assert response.status_code == 400, form
        assert reason_of(response.json())[0] == "BAD_USER_INPUT"
    response = await client.post(
        "/auth/staff/role", content=b'{"role": "support"}', headers={"content-type": "text/json"}
    )
    assert response.status_code == 400
    assert (await session_row(database, opened.public_id)).role is None


async def test_choosing_a_role_without_the_csrf_token_is_refused(
    client_for: ClientFactory, database: Database, settings: Settings
) -> None:
    opened = await open_staff_session(database, settings, Role.SUPPORT, Role.COMPLIANCE)
    for csrf in (None, "forged"):
        client = with_cookie(client_for, opened, csrf=csrf)
        for form in ({"role": "support"}, {"role": "support", "csrf": "forged"}):
            response = await client.post("/auth/staff/role", data=form)
            assert response.status_code == 403
            assert reason_of(response.json()) == ("FORBIDDEN", "CSRF")
    assert (await session_row(database, opened.public_id)).role is None


# --- POST /auth/staff/logout ------------------------------------------------------------------


async def test_signing_out_ends_the_session_clears_the_cookie_and_is_audited(
    client_for: ClientFactory, database: Database, settings: Settings
) -> None:
    opened = await open_staff_session(database, settings, Role.SUPPORT)
    client = with_cookie(client_for, opened)
    response = await client.post("/auth/staff/logout")
    assert response.status_code == 200
    assert response.json() == {"signedOut": True}
    assert 'cdp_staff=""' in response.headers["set-cookie"]
    assert "Max-Age=0" in response.headers["set-cookie"]
    row = await session_row(database, opened.public_id)
    assert (row.ended_reason, row.ended_by) == (SessionEnd.SIGNED_OUT, "wecom:zhangsan")
    [record] = await records_of(database, "staff.sign_out")
    assert (record.actor_subject, record.actor_role) == ("wecom:zhangsan", "support")
    again = with_cookie(client_for, opened)
    response = await again.post("/graphql", json={"query": "{ __typename }"})
    assert response.status_code == 401
    assert reason_of(response.json()) == ("UNAUTHENTICATED", "SIGNED_OUT")


async def test_a_sign_out_form_is_sent_back_to_the_console(
    client_for: ClientFactory, database: Database, settings: Settings
) -> None:
    opened = await open_staff_session(database, settings, Role.SUPPORT)
    client = with_cookie(client_for, opened, csrf=None)
    response = await client.post(
        "/auth/staff/logout", data={"csrf": opened.csrf_token}, headers=BROWSER
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/console/"
    assert "Max-Age=0" in response.headers["set-cookie"]
    assert (await session_row(database, opened.public_id)).ended_reason is SessionEnd.SIGNED_OUT


async def test_signing_out_without_a_session_still_clears_the_cookie(
    client_for: ClientFactory, database: Database, settings: Settings
) -> None:
    response = await client_for(None).post("/auth/staff/logout")
    assert response.status_code == 200
    assert response.json() == {"signedOut": False}
    assert "Max-Age=0" in response.headers["set-cookie"]
    opened = await open_staff_session(database, settings, Role.SUPPORT)
    client = with_cookie(client_for, opened)
    assert (await client.post("/auth/staff/logout")).json() == {"signedOut": True}
    client.cookies.set(COOKIE, opened.token)  # the browser lost the clearing
    response = await client.post("/auth/staff/logout")
    assert (response.status_code, response.json()) == (200, {"signedOut": False})
    assert len(await records_of(database, "staff.sign_out")) == 1
    made_up = "cdpss_" + "y" * 43
    stranger = client_for(None)
    stranger.cookies.set(COOKIE, made_up)
    response = await stranger.post("/auth/staff/logout", data={"csrf": csrf_token_of(made_up)})
    assert (response.status_code, response.json()) == (200, {"signedOut": False})


async def test_signing_out_without_the_csrf_token_is_refused_and_the_session_lives(
    client_for: ClientFactory, database: Database, settings: Settings
) -> None:
    opened = await open_staff_session(database, settings, Role.SUPPORT)
    for csrf in (None, "forged", csrf_token_of(opened.token + "x")):
        response = await with_cookie(client_for, opened, csrf=csrf).post("/auth/staff/logout")
        assert response.status_code == 403
        assert reason_of(response.json()) == ("FORBIDDEN", "CSRF")
        assert "set-cookie" not in response.headers
    response = await with_cookie(client_for, opened, csrf=None).post(
        "/auth/staff/logout", data={"csrf": "forged"}, headers=BROWSER
    )
    assert response.status_code == 403
    assert "text/html" in response.headers["content-type"]
    assert "CSRF" in response.text
    assert (await session_row(database, opened.public_id)).ended_reason is None


async def test_of_two_role_choices_at_once_one_wins_and_the_other_conflicts(
    client_for: ClientFactory, database: Database, settings: Settings
) -> None:
    opened = await open_staff_session(database, settings, Role.SUPPORT, Role.COMPLIANCE)
    client = with_cookie(client_for, opened)
    answers = await asyncio.gather(
        client.post("/auth/staff/role", data={"role": "support"}),
        client.post("/auth/staff/role", data={"role": "compliance"}),
    )
    assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
    [won] = [a.json()["role"] for a in answers if a.status_code == 200]
    assert (await session_row(database, opened.public_id)).role == won
