"""Clients of apps built with chosen settings (the client_with fixture) and coded refusals."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from cdp.app import create_app
from cdp.auth import Role, issue_token
from cdp.db import Database
from cdp.keys.source import KeyringSource
from tests.conftest import TEST_KEYRING, make_settings

Clients = Callable[..., Any]


@pytest.fixture
async def client_with(database_url: str) -> AsyncIterator[Clients]:
    """`client_with(role, **settings)`: a client of an app built with those settings."""
    opened: list[tuple[httpx.AsyncClient, Database]] = []

    def make(role: Role = Role.SERVICE, subject: str = "limits-test", **overrides: Any) -> Any:
        settings = make_settings(database_url, **overrides)
        database = Database(settings)
        app = create_app(settings, database, KeyringSource.fixed(TEST_KEYRING))
        token = issue_token(settings, role=role, subject=subject)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://cdp.test",
            headers={"authorization": f"Bearer {token}"},
        )
        opened.append((client, database))
        return client

    yield make
    for client, database in opened:
        await client.aclose()
        await database.dispose()


async def post(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None, **kw: Any
) -> httpx.Response:
    return await client.post("/graphql", json={"query": query, "variables": variables}, **kw)


def refusal(response: httpx.Response, status: int, code: str, limit: str) -> str:
    """Asserts one coded refusal naming `limit`; returns its message."""
    assert response.status_code == status, response.text
    body = response.json()
    assert "data" not in body, body
    [error] = body["errors"]
    assert error["extensions"]["code"] == code, error
    assert error["extensions"]["limit"] == limit, error
    return str(error["message"])
