"""`cdp service-account` as an operator runs it, on both databases and in production: the
secret printed once and usable at `POST /auth/token`, rotation and revocation, the list
without secrets, and one line with a non-zero exit for a name it cannot use."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
from typer.testing import CliRunner, Result

from cdp.app import create_app
from cdp.cli import app
from cdp.crypto import Keyring
from cdp.db import Database
from cdp.staff.service_accounts import ClientCredentials
from tests.conftest import (
    KEYSTORES,
    TEST_JWT_SECRET,
    TEST_KEYRING_PATH,
    ClientFactory,
    make_settings,
)
from tests.staff_service import LINK, audit_rows, bearer, token_by_basic, token_by_post


async def cdp(database_url: str, *args: str, **env: str) -> Result:
    """`cdp ARGS` in-process (in a thread: the command runs its own event loop)."""
    environment = {
        "CDP_DATABASE_URL": database_url,
        "CDP_JWT_SECRET": TEST_JWT_SECRET,
        "CDP_KEYRING": str(TEST_KEYRING_PATH),
        "CDP_KEYSTORE_URL": KEYSTORES[database_url],
        **env,
    }
    runner = CliRunner()
    return await asyncio.to_thread(runner.invoke, app, list(args), env=environment)


def printed(result: Result, name: str) -> ClientCredentials:
    assert result.exit_code == 0, result.output
    client_id = re.search(r"client_id:\s+(cdpsvc_\S+)", result.output)
    secret = re.search(r"client_secret:\s+(\S+)", result.output)
    assert client_id and secret, result.output
    return ClientCredentials(name, client_id.group(1), secret.group(1))


async def test_create_prints_credentials_once_that_get_a_token(
    client_for: ClientFactory, database_url: str, database: Database
) -> None:
    result = await cdp(database_url, "service-account", "create", "orders")
    credentials = printed(result, "orders")
    assert "/auth/token" in result.output and "shown this once" in result.output
    client = client_for(None)
    response = await token_by_post(client, credentials)
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    linked = await client.post("/graphql", json={"query": LINK}, headers=bearer(client, token))
    assert "errors" not in linked.json(), linked.text
    [made] = await audit_rows(database, "service_account.create")
    assert made.actor_role == "operator" and made.actor_subject.startswith("cli:")
    assert made.detail == {"account": "orders", "client_id": credentials.client_id}


async def test_rotate_prints_a_new_secret_and_revoke_ends_the_account(
    client_for: ClientFactory, database_url: str, database: Database
) -> None:
    old = printed(await cdp(database_url, "service-account", "create", "orders"), "orders")
    rotation = await cdp(database_url, "service-account", "rotate", "orders")
    assert rotation.exit_code == 0, rotation.output
    secret = re.search(r"client_secret:\s+(\S+)", rotation.output)
    assert secret and secret.group(1) != old.client_secret
    new = ClientCredentials("orders", old.client_id, secret.group(1))
    client = client_for(None)
    assert (await token_by_basic(client, old)).status_code == 401
    assert (await token_by_basic(client, new)).status_code == 200
    revocation = await cdp(database_url, "service-account", "revoke", "orders")
    assert revocation.exit_code == 0 and "revoked" in revocation.output
    assert (await token_by_basic(client, new)).status_code == 401
    actions = [r.action for r in await audit_rows(database) if r.actor_role == "operator"]
    assert actions == [
        "service_account.create",
        "service_account.rotate",
        "service_account.revoke",
    ]


async def test_list_shows_accounts_and_never_a_secret(database_url: str) -> None:
    empty = await cdp(database_url, "service-account", "list")
    assert empty.exit_code == 0 and "no service accounts" in empty.output
    orders = printed(await cdp(database_url, "service-account", "create", "orders"), "orders")
    crm = printed(await cdp(database_url, "service-account", "create", "crm-sync"), "crm")
    await cdp(database_url, "service-account", "rotate", "orders")
    await cdp(database_url, "service-account", "revoke", "crm-sync")
    listing = await cdp(database_url, "service-account", "list")
    assert listing.exit_code == 0, listing.output
    header, first, second = listing.output.strip().splitlines()
    assert header.split() == ["name", "client_id", "created", "rotated", "revoked"]
    assert first.startswith("crm-sync") and crm.client_id in first and first.endswith("Z")
    assert second.startswith("orders") and orders.client_id in second
    assert second.rstrip().endswith("-")  # rotated, not revoked
    for secret in (orders.client_secret, crm.client_secret):
        assert secret not in listing.output


async def test_an_unknown_taken_or_malformed_name_is_one_line_and_a_non_zero_exit(
    database_url: str,
) -> None:
    await cdp(database_url, "service-account", "create", "orders")
    cases = [
        (("rotate", "nobody"), 1, "No service account is called 'nobody'"),
        (("revoke", "nobody"), 1, "No service account is called 'nobody'"),
        (("create", "orders"), 1, "A service account called 'orders' exists"),
        (("create", "Not_A_Name"), 2, "A service account name is 1-64"),
    ]
    for args, code, message in cases:
        result = await cdp(database_url, "service-account", *args)
        assert result.exit_code == code, result.output
        assert result.output.strip().count("\n") == 0 and message in result.output


async def test_the_commands_work_in_production(database_url: str, tmp_path: Path) -> None:
    keyring = tmp_path / "production-keyring.json"
    Keyring.generate(development=False).save(keyring)
    env = {"CDP_ENV": "production", "CDP_KEYRING": str(keyring)}
    made = await cdp(database_url, "service-account", "create", "orders", **env)
    credentials = printed(made, "orders")
    settings = make_settings(database_url, env="production", keyring=keyring)
    database = Database(settings)
    transport = httpx.ASGITransport(app=create_app(settings, database))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://cdp.test") as client:
            response = await token_by_basic(client, credentials)
            assert response.status_code == 200, response.text
            token = response.json()["access_token"]
            linked = await client.post(
                "/graphql", json={"query": LINK}, headers={"authorization": f"Bearer {token}"}
            )
            assert "errors" not in linked.json(), linked.text
    finally:
        await database.dispose()
    revoked = await cdp(database_url, "service-account", "revoke", "orders", **env)
    assert revoked.exit_code == 0, revoked.output
