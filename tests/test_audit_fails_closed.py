"""The access audit log fails closed: a read whose record cannot be written returns nothing
personal, and such a write is not committed (both databases)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sqlalchemy as sa

import cdp.audit.trail
from cdp.db import Database
from cdp.profiles.models import Profile
from tests.conftest import error_codes
from tests.support.audit_log import LINK_ID, UPDATE_ID, Person, audit_rows, call
from tests.support.people import MINI

# --- fail closed -------------------------------------------------------------------------------


def break_the_audit_log(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("the audit log cannot be written")

    monkeypatch.setattr(cdp.audit.trail, "append_records", refuse)


async def test_a_read_whose_audit_record_cannot_be_written_returns_no_personal_data(
    database: Database, alice: Person, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = await audit_rows(database)
    break_the_audit_log(monkeypatch)
    response = await alice.client.post("/graphql", json={"query": "{ me { phone name } }"})
    assert response.status_code == 500
    body = response.json()
    assert "data" not in body
    assert error_codes(body) == ["INTERNAL"]
    assert body["errors"][0]["extensions"]["requestId"] == response.headers["x-request-id"]
    for value in ("13700000001", "137****0001", "审计1"):
        assert value not in response.text
    monkeypatch.undo()
    assert await audit_rows(database) == before


async def test_a_masked_read_whose_audit_record_cannot_be_written_returns_nothing(
    alice: Person, support_client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    break_the_audit_log(monkeypatch)
    response = await support_client.post(
        "/graphql",
        json={"query": '{ profile(phone: "13700000001", purpose: "t") { id phone name } }'},
    )
    assert response.status_code == 500
    assert error_codes(response.json()) == ["INTERNAL"]
    assert "data" not in response.json()
    for value in ("137****0001", "审*", alice.public_id):
        assert value not in response.text


async def test_a_write_whose_audit_record_cannot_be_written_is_not_committed(
    database: Database,
    alice: Person,
    service_client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with database.transaction() as session:
        profiles_before = int(
            await session.scalar(sa.select(sa.func.count()).select_from(Profile)) or 0
        )
    before = await audit_rows(database)
    break_the_audit_log(monkeypatch)
    response = await alice.client.post(
        "/graphql",
        json={"query": UPDATE_ID, "variables": {"input": {"phone": "13799998888", "name": "X"}}},
    )
    assert response.status_code == 500
    assert error_codes(response.json()) == ["INTERNAL"]
    response = await service_client.post(
        "/graphql",
        json={
            "query": LINK_ID,
            "variables": {
                "input": {"channel": "MINI_PROGRAM", "appId": MINI, "openId": "oAuditLost000001"}
            },
        },
    )
    assert response.status_code == 500
    monkeypatch.undo()
    after, _ = await call(alice.client, "{ me { phone name } }")
    assert after["data"]["me"] == {"phone": "13700000001", "name": "审计1"}
    async with database.transaction() as session:
        assert (
            await session.scalar(sa.select(sa.func.count()).select_from(Profile))
        ) == profiles_before
    assert (await audit_rows(database))[: len(before)] == before
    assert len(await audit_rows(database)) == len(before) + 1, "only the read just made"
