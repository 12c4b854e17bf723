"""The whole way of a backend service, on both databases: an account made, its client
credentials exchanged at `POST /auth/token` (HTTP Basic or in the body), the token acting as
`service:<name>` on `/graphql`; also in production, where a `cdp token service` JWT is not."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from cdp.app import create_app
from cdp.auth import Role, issue_token
from cdp.config import Settings
from cdp.crypto import Keyring
from cdp.db import Database
from tests.conftest import ClientFactory, error_codes, make_settings
from tests.staff_service import (
    LINK,
    audit_rows,
    bearer,
    created,
    token_by_basic,
    token_by_post,
)


async def test_client_credentials_by_basic_give_a_token_that_acts_as_the_service(
    client_for: ClientFactory, database: Database, settings: Settings
) -> None:
    credentials = await created(database, "orders")
    client = client_for(None)
    response = await token_by_basic(client, credentials)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == settings.service_token_ttl_seconds
    assert body["access_token"].startswith("cdpsa_")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    linked = await client.post(
        "/graphql", json={"query": LINK}, headers=bearer(client, body["access_token"])
    )
    assert linked.status_code == 200 and "errors" not in linked.json(), linked.text
    [record] = await audit_rows(database, "identity.link")
    assert (record.actor_subject, record.actor_role) == ("service:orders", "service")


async def test_client_credentials_in_the_body_give_a_token_too(
    client_for: ClientFactory, database: Database
) -> None:
    credentials = await created(database, "loyalty-sync")
    client = client_for(None)
    response = await token_by_post(client, credentials, scope="cdp")
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    linked = await client.post("/graphql", json={"query": LINK}, headers=bearer(client, token))
    assert "errors" not in linked.json(), linked.text
    [record] = await audit_rows(database, "identity.link")
    assert record.actor_subject == "service:loyalty-sync"


async def test_a_service_token_acts_only_as_the_service_role(
    client_for: ClientFactory, database: Database
) -> None:
    credentials = await created(database)
    client = client_for(None)
    token = (await token_by_basic(client, credentials)).json()["access_token"]
    response = await client.post(
        "/graphql",
        json={"query": "{ auditEvents(first: 1) { items { action } } }"},
        headers=bearer(client, token),
    )
    assert "FORBIDDEN" in error_codes(response.json()), response.text


@pytest.fixture
async def production(database_url: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    keyring = tmp_path / "production-keyring.json"
    Keyring.generate(development=False).save(keyring)
    settings = make_settings(database_url, env="production", keyring=keyring)
    database = Database(settings)
    transport = httpx.ASGITransport(app=create_app(settings, database))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://cdp.test") as client:
            yield client
    finally:
        await database.dispose()


async def test_in_production_a_shared_secret_service_token_is_refused_but_client_credentials_work(
    production: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    minted = issue_token(settings, role=Role.SERVICE, subject="order-service")
    refused = await production.post(
        "/graphql", json={"query": LINK}, headers={"authorization": f"Bearer {minted}"}
    )
    assert refused.status_code == 401
    assert error_codes(refused.json()) == ["UNAUTHENTICATED"]
    credentials = await created(database, "orders")
    response = await token_by_basic(production, credentials)
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    linked = await production.post(
        "/graphql", json={"query": LINK}, headers={"authorization": f"Bearer {token}"}
    )
    assert linked.status_code == 200 and "errors" not in linked.json(), linked.text
    [record] = await audit_rows(database, "identity.link")
    assert record.actor_subject == "service:orders"
