"""`me` and `profile(...)`: who reaches which profile, by which key, for which purpose."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from cdp.auth import Role
from cdp.db import Database
from cdp.keys.vault import Vault
from cdp.profiles import service
from cdp.profiles.values import PostalAddress
from tests.conftest import ClientFactory, audited, error_codes, gql
from tests.support.people import MINI, OFFICIAL, link

PROFILE_BY = """
query Find($purpose: String!, $id: ID, $unionId: String, $openId: String, $appId: String,
           $phone: String) {
  profile(purpose: $purpose, id: $id, unionId: $unionId, openId: $openId, appId: $appId,
          phone: $phone) { id }
}
"""


@pytest.fixture
async def person(
    service_client: httpx.AsyncClient, database: Database, vault: Vault
) -> dict[str, Any]:
    """A person seen in the mini-program and the official account, with personal fields."""
    await link(
        service_client,
        "MINI_PROGRAM",
        MINI,
        "oMini_person_000000000000001",
        "oUnion_person_00000000000001",
    )
    linked = await link(
        service_client,
        "OFFICIAL_ACCOUNT",
        OFFICIAL,
        "oOffi_person_000000000000001",
        "oUnion_person_00000000000001",
    )
    async with audited(database) as session:
        profile = await service.get_profile(session=session, public_id=linked["id"])
        assert profile is not None
        await service.update_personal_fields(
            session=session,
            vault=vault,
            profile=profile,
            phone="13812345678",
            name="张三丰",
            address=PostalAddress("广东省", "深圳市", "南山区", "科技园路88号"),
            birthday=__import__("datetime").date(1990, 5, 12),
        )
    return linked


async def test_a_customer_reads_their_own_profile_through_me(
    client_for: ClientFactory, person: dict[str, Any]
) -> None:
    customer = client_for(Role.CUSTOMER, subject=person["id"])
    body = await gql(
        customer,
        "{ me { id unionId phone name birthday"
        " address { province city district street } identities { appId } } }",
    )
    assert body == {
        "data": {
            "me": {
                "id": person["id"],
                "unionId": "oUnion_person_00000000000001",
                "phone": "13812345678",
                "name": "张三丰",
                "birthday": "1990-05-12",
                "address": {
                    "province": "广东省",
                    "city": "深圳市",
                    "district": "南山区",
                    "street": "科技园路88号",
                },
                "identities": [{"appId": MINI}, {"appId": OFFICIAL}],
            }
        }
    }


async def test_a_customer_cannot_look_up_any_profile_not_even_their_own(
    client_for: ClientFactory, person: dict[str, Any]
) -> None:
    customer = client_for(Role.CUSTOMER, subject=person["id"])
    body = await gql(customer, PROFILE_BY, {"purpose": "curious", "id": person["id"]})
    assert error_codes(body) == ["FORBIDDEN"]
    assert body["data"] == {"profile": None}


async def test_a_customer_whose_profile_does_not_exist_gets_not_found(
    client_for: ClientFactory,
) -> None:
    body = await gql(client_for(Role.CUSTOMER, subject="no-such-profile"), "{ me { id } }")
    assert error_codes(body) == ["NOT_FOUND"]


@pytest.mark.parametrize(
    "role", [Role.SUPPORT, Role.ANALYST, Role.MARKETER, Role.COMPLIANCE, Role.SERVICE]
)
async def test_only_customers_have_a_me(client_for: ClientFactory, role: Role) -> None:
    body = await gql(client_for(role), "{ me { id } }")
    assert error_codes(body) == ["FORBIDDEN"]
    assert body["data"] == {"me": None}


async def test_an_analyst_never_reaches_a_profile(
    analyst_client: httpx.AsyncClient, person: dict[str, Any]
) -> None:
    for variables in (
        {"id": person["id"]},
        {"unionId": "oUnion_person_00000000000001"},
        {"phone": "13812345678"},
    ):
        body = await gql(analyst_client, PROFILE_BY, {"purpose": "aggregate", **variables})
        assert error_codes(body) == ["FORBIDDEN"]
        assert body["data"] == {"profile": None}


@pytest.mark.parametrize("role", [Role.SUPPORT, Role.COMPLIANCE, Role.SERVICE])
@pytest.mark.parametrize(
    "key",
    [
        {"unionId": "oUnion_person_00000000000001"},
        {"openId": "oOffi_person_000000000000001"},
        {"openId": "oMini_person_000000000000001", "appId": MINI},
        {"phone": "13812345678"},
        {"phone": "138 1234 5678"},
        {"phone": "+86 138-1234-5678"},
        {"phone": "8613812345678"},
    ],
)
async def test_staff_find_a_profile_by_any_one_key(
    client_for: ClientFactory, person: dict[str, Any], role: Role, key: dict[str, str]
) -> None:
    body = await gql(client_for(role), PROFILE_BY, {"purpose": "工单 #1024 退款咨询", **key})
    assert body == {"data": {"profile": {"id": person["id"]}}}


async def test_a_lookup_that_matches_nobody_is_null_without_error(
    support_client: httpx.AsyncClient, person: dict[str, Any]
) -> None:
    body = await gql(support_client, PROFILE_BY, {"purpose": "ticket", "phone": "13900000000"})
    assert body == {"data": {"profile": None}}


@pytest.mark.parametrize(
    "keys",
    [{}, {"phone": "13812345678", "unionId": "oUnion_person_00000000000001"}, {"appId": MINI}],
)
async def test_a_lookup_needs_exactly_one_key(
    support_client: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    body = await gql(support_client, PROFILE_BY, {"purpose": "ticket", **keys})
    assert error_codes(body) == ["BAD_USER_INPUT"]


@pytest.mark.parametrize("purpose", ["", "   ", "x" * 201])
async def test_staff_lookups_need_a_purpose_of_1_to_200_characters(
    support_client: httpx.AsyncClient, person: dict[str, Any], purpose: str
) -> None:
    body = await gql(support_client, PROFILE_BY, {"purpose": purpose, "id": person["id"]})
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["field"] == "purpose"
    assert body["data"] == {"profile": None}


async def test_a_lookup_without_purpose_is_a_validation_error(
    support_client: httpx.AsyncClient, person: dict[str, Any]
) -> None:
    body = await gql(support_client, f'{{ profile(id: "{person["id"]}") {{ id }} }}')
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert "data" not in body


@pytest.mark.parametrize("phone", ["12345", "abc", "1381234567", "+1 202 555 0100x"])
async def test_a_malformed_phone_lookup_is_bad_user_input(
    support_client: httpx.AsyncClient, phone: str
) -> None:
    body = await gql(support_client, PROFILE_BY, {"purpose": "ticket", "phone": phone})
    assert error_codes(body) == ["BAD_USER_INPUT"]
