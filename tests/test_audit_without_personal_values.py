"""No access audit record ever holds a personal value or the variables of a request (both
databases)."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

import httpx
import sqlalchemy as sa

from cdp.auth import Role
from cdp.db import Database
from cdp.keys.rotation import record_rotation, rewrap_pending
from cdp.keys.store import KeyStore
from tests.conftest import TEST_KEYRING, ClientFactory
from tests.support.audit_log import (
    CANARY_NAME,
    CANARY_OPENID,
    CANARY_PHONE,
    CANARY_UNION,
    EVENTS,
    audit_rows,
    call,
    link_id,
    post_with_header,
    token_with,
)
from tests.support.people import LINK, MINI, OFFICIAL

# --- never a personal value --------------------------------------------------------------------


def canaries() -> list[str]:
    values = [
        CANARY_PHONE,
        "+86" + CANARY_PHONE,
        "136****9999",
        "136 0000 9999",
        CANARY_NAME,
        CANARY_NAME[:1] + "*",
        CANARY_UNION,
        CANARY_OPENID,
        "13600009998",  # a phone looked up that matched nobody
        "not-a-phone-金丝雀",
        "canaryVariable",  # a variable's name
    ]
    return values + [json.dumps(v)[1:-1] for v in values if json.dumps(v)[1:-1] != v]


def flatten(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("latin-1")
    if isinstance(value, datetime):
        return value.isoformat()
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


async def test_no_audit_record_ever_holds_a_personal_value_or_variables(
    database: Database,
    keystore: KeyStore,
    service_client: httpx.AsyncClient,
    support_client: httpx.AsyncClient,
    compliance_client: httpx.AsyncClient,
    analyst_client: httpx.AsyncClient,
    client_for: ClientFactory,
) -> None:
    # Seeded through variables, and in a merge.
    older, _ = await link_id(service_client, CANARY_OPENID)
    body, _ = await call(
        service_client,
        "mutation L($canaryVariable: LinkIdentityInput!) {"
        " linkIdentity(input: $canaryVariable) { id unionId identities { openId } } }",
        {
            "canaryVariable": {
                "channel": "OFFICIAL_ACCOUNT",
                "appId": OFFICIAL,
                "openId": "oCanaryOfficial0000000000001",
                "unionId": CANARY_UNION,
            }
        },
    )
    body, _ = await call(
        service_client,
        LINK,
        {
            "input": {
                "channel": "MINI_PROGRAM",
                "appId": MINI,
                "openId": CANARY_OPENID,
                "unionId": CANARY_UNION,
            }
        },
    )
    assert body["data"]["linkIdentity"]["id"] == older
    customer = client_for(Role.CUSTOMER, subject=older)
    everything = "{ me { phone name birthday unionId identities { openId } address { city } } }"
    update = "mutation U($canaryVariable: UpdateMyProfileInput!) {"
    update += " updateMyProfile(input: $canaryVariable) { phone name } }"
    body, _ = await call(
        customer,
        update,
        {"canaryVariable": {"phone": CANARY_PHONE, "name": CANARY_NAME, "birthday": "1980-01-02"}},
    )
    assert body["data"]["updateMyProfile"]["phone"] == CANARY_PHONE
    await call(customer, everything)
    await call(customer, update, {"canaryVariable": {"phone": "not-a-phone-金丝雀"}})
    await call(customer, update, {"canaryVariable": {"birthday": "not-a-phone-金丝雀"}})

    lookup = 'query Q($canaryVariable: String) { profile(phone: $canaryVariable, purpose: "t")'
    lookup += " { id phone name unionId birthday identities { openId } } }"
    for client in (support_client, compliance_client, service_client, analyst_client):
        for phone in (CANARY_PHONE, "13600009998", "136 0000 9999"):
            await call(client, lookup, {"canaryVariable": phone})
        await call(
            client,
            "query Q($canaryVariable: String) {"
            ' profile(unionId: $canaryVariable, purpose: "t") { name } }',
            {"canaryVariable": CANARY_UNION},
        )
        await call(
            client,
            "query Q($canaryVariable: String) {"
            ' profile(openId: $canaryVariable, purpose: "t") { phone } }',
            {"canaryVariable": CANARY_OPENID},
        )
    now = int(time.time())
    await post_with_header(
        client_for,
        "Bearer " + token_with({"sub": older, "role": "customer", "exp": now - 10}),
    )
    await call(compliance_client, EVENTS, {"first": 100, "profileId": older})
    rotated = TEST_KEYRING.with_new_version()
    await record_rotation(database, rotated, operator="ops")
    await rewrap_pending(database, keystore, rotated, operator="ops")

    rows = await audit_rows(database)
    actions = {row["action"] for row in rows}
    assert actions >= {
        "identity.link",
        "profile.merge",
        "profile.update",
        "pii.read",
        "profile.lookup",
        "query.profile",
        "auth.token",
        "audit.read",
        "key.rotate",
        "key.rewrap",
    }
    async with database.transaction() as session:
        raw = [tuple(r) for r in (await session.execute(sa.text("SELECT * FROM audit_events")))]
    assert len(raw) == len(rows)
    texts = [flatten(value) for row in rows for value in row.values()]
    texts += [flatten(value) for row in raw for value in row]
    for canary in canaries():
        leaks = [text for text in texts if canary in text]
        assert not leaks, f"{canary!r} stored in the audit log: {leaks}"
