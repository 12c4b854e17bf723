"""Personal data at rest: sealed, found by blind index, corrected by its owner, never leaked."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy import event

import cdp.crypto
from cdp.auth import Role
from cdp.config import Settings
from cdp.db import Database
from cdp.keys.vault import Vault
from cdp.logs import JsonFormatter, quiet_drivers
from cdp.policy import mask_phone
from cdp.profiles.models import Profile
from cdp.profiles.personal import write_field
from cdp.profiles.values import display_phone, normalize_phone
from tests.conftest import ClientFactory, audited, error_codes, gql
from tests.support.people import MINI, OFFICIAL, link
from tests.support.raw_bytes import raw_sqlite_bytes, stored_postgres_values

CANARY_PHONE = "13912340000"
CANARY_NAME = "司马懿光"
CANARY_UNION = "oCanaryUnion0000000000000001"
CANARY_OPENID = "oCanaryOpenId000000000000001"
UPDATE = """
mutation Update($input: UpdateMyProfileInput!) {
  updateMyProfile(input: $input) {
    phone name birthday address { province city district street }
  }
}
"""


def spying_cipher(opened: list[bytes]) -> Any:
    """cdp.crypto's AES-GCM, noting the associated data of each decryption: every sealed value
    (through `Vault.decrypt` or `Vault.decrypt_loaded`) and every data key opens there."""
    real = cdp.crypto.AESGCM

    class Spy:
        def __init__(self, key: bytes) -> None:
            self.cipher = real(key)

        def encrypt(self, nonce: bytes, data: bytes, aad: bytes | None) -> bytes:
            return self.cipher.encrypt(nonce, data, aad)

        def decrypt(self, nonce: bytes, data: bytes, aad: bytes | None) -> bytes:
            opened.append(aad or b"")
            return self.cipher.decrypt(nonce, data, aad)

    return Spy


@pytest.fixture
async def customer(
    service_client: httpx.AsyncClient, client_for: ClientFactory
) -> httpx.AsyncClient:
    profile = await link(service_client, "MINI_PROGRAM", MINI, CANARY_OPENID, CANARY_UNION)
    return client_for(Role.CUSTOMER, subject=profile["id"])


async def test_a_customer_sets_their_personal_fields_and_reads_them_back(
    customer: httpx.AsyncClient,
) -> None:
    body = await gql(
        customer,
        UPDATE,
        {
            "input": {
                "phone": "139 1234 0000",
                "name": CANARY_NAME,
                "birthday": "1988-02-29",
                "address": {
                    "province": "浙江省",
                    "city": "杭州市",
                    "district": "西湖区",
                    "street": "文三路 90 号",
                },
            }
        },
    )
    assert body == {
        "data": {
            "updateMyProfile": {
                "phone": "13912340000",
                "name": CANARY_NAME,
                "birthday": "1988-02-29",
                "address": {
                    "province": "浙江省",
                    "city": "杭州市",
                    "district": "西湖区",
                    "street": "文三路 90 号",
                },
            }
        }
    }


async def test_fields_left_out_stay_and_null_clears_a_field(customer: httpx.AsyncClient) -> None:
    await gql(customer, UPDATE, {"input": {"phone": CANARY_PHONE, "name": CANARY_NAME}})
    body = await gql(customer, UPDATE, {"input": {"name": None}})
    assert body["data"]["updateMyProfile"]["phone"] == "13912340000"
    assert body["data"]["updateMyProfile"]["name"] is None


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"phone": "+1 202 555 0100"}, "phone"),
        ({"phone": "010 1234 5678"}, "phone"),
        ({"phone": "1391234"}, "phone"),
        ({"phone": "not a phone"}, "phone"),
        ({"birthday": "2023-02-30"}, "birthday"),
        ({"birthday": "30/01/1990"}, "birthday"),
        ({"birthday": "2999-01-01"}, "birthday"),
        ({"birthday": "1850-01-01"}, "birthday"),
        ({"name": "   "}, "name"),
        ({"name": "张" * 65}, "name"),
        ({"name": "张\x00三"}, "name"),
        ({"address": {"province": "浙江省", "street": "路" * 101}}, "address.street"),
        ({"address": {}}, "address"),
    ],
)
async def test_invalid_personal_fields_are_bad_user_input_naming_the_field(
    customer: httpx.AsyncClient, given: dict[str, Any], field: str
) -> None:
    await gql(customer, UPDATE, {"input": {"phone": CANARY_PHONE}})
    body = await gql(customer, UPDATE, {"input": {"name": CANARY_NAME, **given}})
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["field"] == field
    after = await gql(customer, "{ me { phone name } }")
    assert after["data"]["me"] == {"phone": "13912340000", "name": None}, "nothing written"


async def test_a_changed_phone_moves_its_blind_index(
    customer: httpx.AsyncClient, support_client: httpx.AsyncClient
) -> None:
    query = 'query F($p: String) { profile(phone: $p, purpose: "ticket 5") { id } }'
    await gql(customer, UPDATE, {"input": {"phone": CANARY_PHONE}})
    assert (await gql(support_client, query, {"p": CANARY_PHONE}))["data"]["profile"]
    await gql(customer, UPDATE, {"input": {"phone": "13700001111"}})
    assert (await gql(support_client, query, {"p": CANARY_PHONE}))["data"]["profile"] is None
    assert (await gql(support_client, query, {"p": "+86 137-0000-1111"}))["data"]["profile"]


async def test_the_decryption_spy_sees_a_masked_phone_opened(
    customer: httpx.AsyncClient,
    support_client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await gql(customer, UPDATE, {"input": {"phone": CANARY_PHONE}})
    decrypted: list[bytes] = []
    monkeypatch.setattr(cdp.crypto, "AESGCM", spying_cipher(decrypted))
    query = '{ profile(phone: "13912340000", purpose: "t") { phone } }'
    body = await gql(support_client, query)
    assert body["data"]["profile"]["phone"] == mask_phone(CANARY_PHONE)
    assert any(b"/profiles/phone_ct/" in aad for aad in decrypted)


async def test_a_phone_lookup_uses_the_blind_index_and_decrypts_nothing(
    customer: httpx.AsyncClient,
    support_client: httpx.AsyncClient,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await gql(customer, UPDATE, {"input": {"phone": CANARY_PHONE}})
    decrypted: list[bytes] = []
    monkeypatch.setattr(cdp.crypto, "AESGCM", spying_cipher(decrypted))
    statements: list[str] = []

    def capture(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(database.engine.sync_engine, "before_cursor_execute", capture)
    try:
        body = await gql(support_client, '{ profile(phone: "13912340000", purpose: "t") { id } }')
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", capture)
    assert body["data"]["profile"]["id"]
    assert decrypted == []  # the associated data of every value opened and key unwrapped
    lookups = [s for s in statements if "FROM profiles" in s]
    assert lookups and all("phone_bidx" in s for s in lookups)


async def test_canary_personal_data_never_reaches_the_database_or_the_logs(
    customer: httpx.AsyncClient,
    support_client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    backend: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    quiet_drivers()  # as `cdp serve` configures logging; everything else at DEBUG
    caplog.set_level(logging.DEBUG)
    await gql(
        customer,
        UPDATE,
        {
            "input": {
                "phone": CANARY_PHONE,
                "name": CANARY_NAME,
                "birthday": "1977-07-07",
                "address": {"province": "四川省", "city": "成都市", "street": "春熙路金光大厦"},
            }
        },
    )
    await gql(customer, UPDATE, {"input": {"phone": "bad " + CANARY_PHONE}})  # an error path too
    await gql(support_client, f'{{ profile(phone: "{CANARY_PHONE}", purpose: "t") {{ phone }} }}')
    await gql(customer, "{ me { phone name unionId identities { openId } } }")
    if backend == "sqlite":
        stored = raw_sqlite_bytes(settings)
    else:
        stored = await stored_postgres_values(database)
    logs = "\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records).encode()
    logs += "\n".join(JsonFormatter().format(r) for r in caplog.records).encode()
    assert MINI.encode() in stored, "the scan must see what is stored in the clear"
    request_lines = [r for r in caplog.records if r.name == "cdp.request"]
    assert len(request_lines) >= 4, "the scan must cover the per-request log lines"
    for canary in (
        CANARY_PHONE,
        CANARY_NAME,
        "春熙路金光大厦",
        "1977-07-07",
        CANARY_UNION,
        CANARY_OPENID,
    ):
        assert canary.encode() not in stored, f"{canary} stored in plaintext"
        assert canary.encode() not in logs, f"{canary} logged"


async def test_a_ciphertext_copied_into_another_profile_fails_loudly_not_with_garbage(
    service_client: httpx.AsyncClient,
    client_for: ClientFactory,
    database: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    victim = await link(service_client, "MINI_PROGRAM", MINI, "oVictim00000000000000000001")
    thief = await link(service_client, "OFFICIAL_ACCOUNT", OFFICIAL, "oThief000000000000000000001")
    await gql(
        client_for(Role.CUSTOMER, subject=victim["id"]), UPDATE, {"input": {"phone": CANARY_PHONE}}
    )
    await gql(
        client_for(Role.CUSTOMER, subject=thief["id"]), UPDATE, {"input": {"phone": "13700001111"}}
    )
    async with database.transaction() as session:
        stolen = await session.scalar(
            sa.select(Profile.phone_ct).where(Profile.public_id == victim["id"])  # type: ignore[arg-type]
        )
        await session.execute(
            sa.update(Profile).where(Profile.public_id == thief["id"]).values(phone_ct=stolen)  # type: ignore[arg-type]
        )
    caplog.set_level(logging.ERROR)
    body = await gql(client_for(Role.CUSTOMER, subject=thief["id"]), "{ me { id phone } }")
    assert body["data"]["me"] == {"id": thief["id"], "phone": None}
    assert error_codes(body) == ["INTERNAL"]
    assert CANARY_PHONE not in str(body)
    assert any(getattr(r, "error_type", "").endswith("CryptoError") for r in caplog.records)


async def store_phone_as_is(database: Database, vault: Vault, profile_id: str, e164: str) -> None:
    """A stored number customers cannot set themselves (they give mainland mobiles only)."""
    async with audited(database) as session:
        profile = await session.scalar(sa.select(Profile).where(Profile.public_id == profile_id))
        assert profile is not None
        await write_field(session=session, vault=vault, profile=profile, field="phone", value=e164)


async def test_a_mainland_phone_reads_in_national_form_and_stays_e164_at_rest(
    customer: httpx.AsyncClient, support_client: httpx.AsyncClient, database: Database
) -> None:
    body = await gql(customer, UPDATE, {"input": {"phone": "+86 139-1234-0000"}})
    assert body["data"]["updateMyProfile"]["phone"] == "13912340000"
    assert (await gql(customer, "{ me { phone } }"))["data"]["me"] == {"phone": "13912340000"}
    found = await gql(
        support_client, '{ profile(phone: "+8613912340000", purpose: "t") { phone } }'
    )
    assert found["data"]["profile"] == {"phone": "139****0000"}
    assert display_phone("+8613912340000") == "13912340000"
    assert normalize_phone("13912340000") == "+8613912340000"  # what is sealed and indexed


async def test_another_countrys_phone_reads_in_international_form_and_masks_to_its_last_four(
    customer: httpx.AsyncClient,
    support_client: httpx.AsyncClient,
    compliance_client: httpx.AsyncClient,
    database: Database,
    vault: Vault,
) -> None:
    me = (await gql(customer, "{ me { id } }"))["data"]["me"]
    await store_phone_as_is(database, vault, me["id"], "+442079460958")
    assert (await gql(customer, "{ me { phone } }"))["data"]["me"] == {"phone": "+44 20 7946 0958"}
    query = '{ profile(phone: "+44 20 7946 0958", purpose: "t") { phone } }'
    for staff in (support_client, compliance_client):
        assert (await gql(staff, query))["data"]["profile"] == {"phone": "+44 ****0958"}
    export = await gql(
        compliance_client,
        'mutation E($id: ID!) { exportProfile(input: {profileId: $id, purpose: "DSAR 9"}) '
        "{ document } }",
        {"id": me["id"]},
    )
    assert export["data"]["exportProfile"]["document"]["profile"]["phone"] == "+44 20 7946 0958"


@pytest.mark.parametrize(
    ("stored", "shown", "masked"),
    [
        ("+8613812345678", "13812345678", "138****5678"),
        ("+861012345678", "01012345678", "101****5678"),
        ("+8675512345678", "075512345678", "755****5678"),
        ("+442079460958", "+44 20 7946 0958", "+44 ****0958"),
        ("+12025550100", "+1 202-555-0100", "+1 ****0100"),
    ],
)
def test_a_stored_phone_shows_as_its_owner_writes_it_and_masks_alike_from_either_form(
    stored: str, shown: str, masked: str
) -> None:
    assert display_phone(stored) == shown
    assert mask_phone(shown) == mask_phone(stored) == masked
    assert normalize_phone(shown) == stored
