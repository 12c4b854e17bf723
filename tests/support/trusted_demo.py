"""The trusted documents the compiled-execution tests run (cdp's pages' and a brand's, the
bench's `me` among them), over demo data, each through an app that compiles and one that
does not."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import col

from bench.customer import ME as BENCH_ME
from cdp.app import create_app
from cdp.auth import Role
from cdp.config import Settings
from cdp.db import Database
from cdp.demo import seed_demo_data
from cdp.documents import registry
from cdp.graphql.documents import operation_of
from cdp.graphql.trusted import PAGES_MANIFEST
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.profiles.models import Profile
from tests.conftest import TEST_KEYRING, audited

PAGES: dict[str, str] = json.loads(PAGES_MANIFEST.read_text(encoding="utf-8"))
# A brand's documents: the mini-program's home of the README, every field of a profile, and
# the bench's `me` (the profile shape).
REGISTERED = [
    """query MiniProgramHome {
  me { id name tier points { balance }
       coupons(status: AVAILABLE, first: 5) { items { title discountFen validUntil } } }
}""",
    """query WholeProfile { me {
  id tier unionId phone name birthday createdAt updatedAt phoneVerified phoneSource
  address { province city district street }
  identities { channel appId openId linkedAt }
  tierProgress { spendFen nextTier nextTierFen }
  points { balance history(first: 10) {
    items { id kind points balanceAfter reason channel createdAt expiresAt }
    pageInfo { hasNextPage endCursor } } }
  coupons(first: 5) {
    items { id title kind discountFen percentOff minSpendFen channels validFrom validUntil
            status issuedAt redeemedAt }
    pageInfo { hasNextPage endCursor } }
  orders(first: 20) {
    items { id channel externalId status itemsFen discountFen shippingFen totalFen entryFrom
            entryParams paidAt items { sku name quantity unitPriceFen amountFen }
            shippingAddress { province city district street } }
    pageInfo { hasNextPage endCursor } }
  tags { items { name source taggedAt } }
  consents { current { purpose channel granted explicit noticeVersion sourceChannel updatedAt }
             history(first: 20) { items { purpose channel granted noticeVersion changedAt } } }
  ...More
} }
fragment More on Profile { wechatFollows { appId following } }""",
    BENCH_ME,
]
PEOPLE = 12
NOBODY = "c0ffee00-0000-4000-8000-00000000f00d"


@pytest.fixture
async def demo(
    settings: Settings, database: Database, keystore: KeyStore
) -> AsyncIterator[dict[str, Any]]:
    keyring = KeyringSource.fixed(TEST_KEYRING)
    await seed_demo_data(database, keyring, keystore=keystore, profiles=PEOPLE)
    documents = dict(PAGES)
    async with audited(database) as session:
        for text in REGISTERED:
            operation = operation_of(text)
            row, _ = await registry.register(
                session=session,
                text=text,
                operation_name=operation.name,
                operation_type=operation.kind,
                roles=[Role.CUSTOMER, Role.SUPPORT],
            )
            documents[row.id] = text
        people = list(await session.scalars(sa.select(col(Profile.public_id))))
    apps = {
        compiled: create_app(
            settings.model_copy(update={"compiled_documents": compiled}),
            database,
            keyring,
            keystore,
        )
        for compiled in (True, False)
    }
    yield {"documents": documents, "people": people, "apps": apps}


async def ask(app: Any, token: str, body: dict[str, Any]) -> httpx.Response:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://cdp.test",
        headers={"authorization": f"Bearer {token}"},
    ) as client:
        return await client.post("/graphql", json=body)
