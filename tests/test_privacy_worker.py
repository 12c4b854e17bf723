"""`cdp serve`'s privacy worker (both databases): a cancellation whose cooling-off has ended is
erased by the server itself, with no command run, and `cdp erasure run-due` does the same."""

from __future__ import annotations

import asyncio
import os
import sys
import time

import httpx

from cdp.app import create_app
from cdp.auth import Role, issue_token
from cdp.config import Settings
from cdp.devwechat.loopback import LoopbackServer
from cdp.keys.source import KeyringSource
from tests.conftest import (
    KEYSTORES,
    TEST_JWT_SECRET,
    TEST_KEYRING,
    TEST_KEYRING_PATH,
    error_codes,
    gql,
    make_settings,
)
from tests.support.people import MINI, link

CANCEL = "mutation { cancelMyAccount(input: {confirm: true}) { id status } }"


async def a_customer(base_url: str, settings: Settings, open_id: str) -> httpx.AsyncClient:
    service_token = issue_token(settings, role=Role.SERVICE, subject="order-service")
    async with httpx.AsyncClient(
        base_url=base_url, headers={"authorization": f"Bearer {service_token}"}
    ) as service:
        profile = await link(service, "MINI_PROGRAM", MINI, open_id)
    token = issue_token(settings, role=Role.CUSTOMER, subject=profile["id"])
    return httpx.AsyncClient(base_url=base_url, headers={"authorization": f"Bearer {token}"})


async def test_the_server_erases_a_cancelled_account_once_its_cooling_off_ends(
    database_url: str,
) -> None:
    settings = make_settings(
        database_url, account_cooling_off_days=0, privacy_worker_poll_seconds=0.2
    )
    app = create_app(settings, None, KeyringSource.fixed(TEST_KEYRING))
    with LoopbackServer(app) as server:
        customer = await a_customer(server.url, settings, "oMiNiworker0000000000000001")
        async with customer:
            assert (await gql(customer, CANCEL))["data"]["cancelMyAccount"]["status"] == (
                "COOLING_OFF"
            )
            deadline = time.monotonic() + 20
            while True:
                codes = error_codes(await gql(customer, "query { me { id } }"))
                if codes or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
    assert codes in (["SUPPRESSED"], ["NOT_FOUND"])


async def test_the_command_erases_the_cancellations_that_are_due(database_url: str) -> None:
    settings = make_settings(database_url, account_cooling_off_days=0)
    app = create_app(settings, None, KeyringSource.fixed(TEST_KEYRING))
    with LoopbackServer(app, lifespan="off") as server:
        customer = await a_customer(server.url, settings, "oMiNiworker0000000000000002")
        async with customer:
            await gql(customer, CANCEL)
            env = {
                **os.environ,
                "CDP_DATABASE_URL": database_url,
                "CDP_JWT_SECRET": TEST_JWT_SECRET,
                "CDP_KEYRING": str(TEST_KEYRING_PATH),
                **(
                    {"CDP_KEYSTORE_URL": KEYSTORES[database_url]}
                    if database_url in KEYSTORES
                    else {}
                ),
            }
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "cdp", "erasure", "run-due", env=env,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, err = await asyncio.wait_for(process.communicate(), timeout=120)
            assert process.returncode == 0, err.decode()
            assert "1 cancellations erased" in out.decode()
            assert error_codes(await gql(customer, "query { me { id } }")) in (
                ["SUPPRESSED"],
                ["NOT_FOUND"],
            )
