"""The people of the tests: WeChat app ids, linkIdentity, row counts, sealed fields read back."""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa

from cdp.crypto import Keyring
from cdp.db import Database
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.keys.vault import Vault
from cdp.profiles import service
from tests.conftest import gql

MINI = "wx1111111111111111"
OFFICIAL = "wx2222222222222222"
CHANNELS_APP = "wx3333333333333333"
WEB_APP = "wx4444444444444444"
LINK = """
mutation Link($input: LinkIdentityInput!) {
  linkIdentity(input: $input) { id unionId identities { channel appId openId } }
}
"""


async def link(
    client: httpx.AsyncClient, channel: str, app_id: str, open_id: str, union_id: str | None = None
) -> dict[str, Any]:
    body = await gql(
        client,
        LINK,
        {"input": {"channel": channel, "appId": app_id, "openId": open_id, "unionId": union_id}},
    )
    assert "errors" not in body, body
    return body["data"]["linkIdentity"]  # type: ignore[no-any-return]


async def count(database: Database, table: Any) -> int:
    async with database.transaction() as session:
        return int(
            (await session.execute(sa.select(sa.func.count()).select_from(table))).scalar_one()
        )


async def read_all(
    database: Database, keystore: KeyStore, keyring: Keyring, ids: list[str]
) -> list[tuple[str, str]]:
    from cdp.profiles.personal import read_field

    vault = Vault(KeyringSource.fixed(keyring), keystore)
    out = []
    async with database.transaction() as session:
        for public_id in ids:
            profile = await service.get_profile(session=session, public_id=public_id)
            assert profile is not None
            out.append(
                (
                    await read_field(session=session, vault=vault, profile=profile, field="phone"),
                    await read_field(session=session, vault=vault, profile=profile, field="name"),
                )
            )
    return out
