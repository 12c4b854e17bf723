"""The contract's masking table, role by role and field by field, through every way a GraphQL
document can reach a Profile field (aliases, fragments, directives, nesting, several
operations, several roots), and the masked values never stored.

The expectations are the contract's table written out again below, on purpose not read from
`cdp.policy`: a wrong policy row must fail here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from cdp.auth import Principal, Role
from cdp.channels import Channel
from cdp.config import Settings
from cdp.consent.models import DEFAULT_GRANTED, ConsentPurpose
from cdp.db import Database
from cdp.graphql.schema import build_schema
from cdp.keys.vault import Vault
from cdp.loyalty import coupons, points
from cdp.loyalty.models import EntryKind
from cdp.orders import service as orders
from cdp.orders.models import OrderStatus
from cdp.orders.tiers import TierThresholds
from cdp.policy import lookup_rule
from cdp.profiles import service
from cdp.profiles.values import PostalAddress
from cdp.tags import service as tags
from cdp.tags.models import TagSource
from tests.conftest import ClientFactory, audited

# The seeded person.
MINI_APP = "wx5555555555555555"
OFFICIAL_APP = "wx6666666666666666"
MINI_OPEN_ID = "oMini_masking_matrix_0000001"
OFFICIAL_OPEN_ID = "oOffi_masking_matrix_0000001"
UNION_ID = "oUnion_masking_matrix_000001"
PHONE = "+8613812345678"
PHONE_DIGITS = "13812345678"
NAME = "张三丰"
PROVINCE, CITY, DISTRICT, STREET = "广东省", "深圳市", "南山区", "科技园路88号"
BIRTHDAY = "1990-05-12"
PURPOSE = "工单 #2048 核对会员信息"


# ---------------------------------------------------------------------------------------------
# The contract's table "Masking: what each role sees on a profile", written out.


class _Full:
    def __repr__(self) -> str:
        return "FULL"


class _Denied:
    def __repr__(self) -> str:
        return "DENIED"


FULL = _Full()
DENIED = _Denied()


@dataclass(frozen=True)
class Masked:
    """The masked form exactly as the contract gives it."""

    value: Any


Outcome = _Full | _Denied | Masked
MASKED_PHONE = Masked("138****5678")
MASKED_NAME = Masked("张*")
MASKED_ADDRESS = Masked({"province": PROVINCE, "city": CITY, "district": None, "street": None})
BIRTH_YEAR = Masked("1990")


def row(
    customer: Outcome, support: Outcome, compliance: Outcome, service: Outcome
) -> dict[Role, Outcome]:
    """One row of the table; `analyst` and `marketer` get FORBIDDEN on every profile field."""
    return {
        Role.CUSTOMER: customer,
        Role.SUPPORT: support,
        Role.COMPLIANCE: compliance,
        Role.SERVICE: service,
        Role.ANALYST: DENIED,
        Role.MARKETER: DENIED,
    }


EXPECTED: dict[str, dict[Role, Outcome]] = {
    # row(customer (self, through `me`), support, compliance, service)
    "id": row(FULL, FULL, FULL, FULL),
    "tier": row(FULL, FULL, FULL, FULL),
    # Not named by the contract: the spend behind the tier (the person's own orders' sum).
    "tierProgress": row(FULL, FULL, FULL, FULL),
    # Not named by the contract: canContact for a profile already found (their own, or by
    # a lookup that stated its purpose).
    "canContact": row(FULL, FULL, FULL, FULL),
    "createdAt": row(FULL, FULL, FULL, FULL),
    # Not named by the contract: a record timestamp like createdAt, not personal data.
    "updatedAt": row(FULL, FULL, FULL, FULL),
    "unionId": row(FULL, DENIED, FULL, FULL),
    "identities": row(FULL, DENIED, FULL, FULL),
    "phone": row(FULL, MASKED_PHONE, MASKED_PHONE, DENIED),
    # Not named by the contract: whether the phone is verified and where it came from
    # (issue 21); not the phone, so service sees it too.
    "phoneVerified": row(FULL, FULL, FULL, FULL),
    "phoneSource": row(FULL, FULL, FULL, FULL),
    "name": row(FULL, MASKED_NAME, MASKED_NAME, DENIED),
    "address": row(FULL, MASKED_ADDRESS, MASKED_ADDRESS, DENIED),
    "birthday": row(FULL, DENIED, BIRTH_YEAR, DENIED),
    "points": row(FULL, FULL, FULL, FULL),
    "coupons": row(FULL, FULL, FULL, FULL),
    "orders": row(FULL, FULL, FULL, FULL),
    "tags": row(FULL, FULL, FULL, FULL),
    "consents": row(FULL, FULL, FULL, FULL),
    # Not named by the contract: follow state per official account (issue 21), not personal.
    "wechatFollows": row(FULL, FULL, FULL, FULL),
}
# Rows of the contract's table the schema does not serve yet: none. A new Profile field fails
# the schema test below until its row is added to EXPECTED.
NOT_YET_SERVED: frozenset[str] = frozenset()

ROLES = (Role.CUSTOMER, Role.SUPPORT, Role.COMPLIANCE, Role.SERVICE, Role.ANALYST, Role.MARKETER)
# Roles that reach no person at all: FORBIDDEN at the root, whatever is selected.
NO_PERSON = (Role.ANALYST, Role.MARKETER)
SELECTION = {
    "address": "address { province city district street }",
    "identities": "identities { channel appId openId }",
    "points": "points { balance }",
    "tierProgress": "tierProgress { spendFen nextTier nextTierFen }",
    "canContact": "canContact(purpose: ACTIVITY_NOTIFICATIONS, channel: SMS) { allowed reason }",
    "coupons": "coupons { items { title discountFen } }",
    "orders": "orders { items { externalId totalFen status } }",
    "tags": "tags { items { name } }",
    "consents": "consents { current { purpose channel granted explicit } }",
    "wechatFollows": "wechatFollows { appId following since scene }",
}
# Strings that betray a field's full value; none may appear when a role does not get it.
BETRAYING = {
    "unionId": [UNION_ID],
    "identities": [MINI_OPEN_ID, OFFICIAL_OPEN_ID],
    "phone": [PHONE_DIGITS],
    "name": [NAME, "三丰"],
    "address": [DISTRICT, STREET],
    "birthday": [BIRTHDAY],
}


# ---------------------------------------------------------------------------------------------
# Seeding, requests, and the checks every test shares.


@pytest.fixture
async def person(client_for: ClientFactory, database: Database, vault: Vault) -> dict[str, Any]:
    """A person seen in two apps, with every personal field; their full values by field."""
    service_client = client_for(Role.SERVICE)
    for channel, app_id, open_id in (
        ("MINI_PROGRAM", MINI_APP, MINI_OPEN_ID),
        ("OFFICIAL_ACCOUNT", OFFICIAL_APP, OFFICIAL_OPEN_ID),
    ):
        response = await service_client.post(
            "/graphql",
            json={
                "query": "mutation L($input: LinkIdentityInput!) { linkIdentity(input: $input)"
                " { id } }",
                "variables": {
                    "input": {
                        "channel": channel,
                        "appId": app_id,
                        "openId": open_id,
                        "unionId": UNION_ID,
                    }
                },
            },
        )
        body = response.json()
        assert "errors" not in body, body
        public_id = body["data"]["linkIdentity"]["id"]
    async with audited(database) as session:
        profile = await service.get_profile(session=session, public_id=public_id)
        assert profile is not None
        await service.update_personal_fields(
            session=session,
            vault=vault,
            profile=profile,
            phone=PHONE_DIGITS,
            name=NAME,
            address=PostalAddress(PROVINCE, CITY, DISTRICT, STREET),
            birthday=date(1990, 5, 12),
        )
        actor = Principal(subject="seed", role=Role.SERVICE)
        await points.record_entry(
            session=session,
            profile=profile,
            kind=EntryKind.EARN,
            points=120,
            idempotency_key="matrix-earn",
            lifetime=timedelta(days=365),
        )
        await coupons.issue_coupon(
            session=session,
            profile=profile,
            title="满100减20",
            discount_fen=2000,
            idempotency_key="matrix-coupon",
        )
        await orders.record_order(
            session=session,
            vault=vault,
            profile=profile,
            order=orders.OrderInput(
                channel=Channel.MINI_PROGRAM,
                external_id="WX20261122001",
                status=OrderStatus.PAID,
                items=[orders.LineItem("SKU-1", "拿铁", 2, 3200)],
                shipping_address=PostalAddress(PROVINCE, CITY, DISTRICT, STREET),
            ),
            tiers=TierThresholds.of(database.settings),
        )
        await tags.tag_profile(
            session=session,
            actor=actor,
            profile=profile,
            tag="咖啡爱好者",
            source=TagSource.RULE,
        )
    async with database.transaction() as session:
        stored = await service.get_profile(session=session, public_id=public_id)
        assert stored is not None
        created_at, updated_at = stored.created_at.isoformat(), stored.updated_at.isoformat()
        tier = stored.tier.value
    return {
        "id": public_id,
        "tier": tier,
        "tierProgress": {"spendFen": 6400, "nextTier": "VIP", "nextTierFen": 100_000},
        "canContact": {"allowed": True, "reason": "DEFAULT"},  # activity notices: default yes
        "createdAt": created_at,
        "updatedAt": updated_at,
        "unionId": UNION_ID,
        "identities": [
            {"channel": "MINI_PROGRAM", "appId": MINI_APP, "openId": MINI_OPEN_ID},
            {"channel": "OFFICIAL_ACCOUNT", "appId": OFFICIAL_APP, "openId": OFFICIAL_OPEN_ID},
        ],
        "phone": PHONE_DIGITS,
        "phoneVerified": False,  # typed in, as updateMyProfile does
        "phoneSource": "SELF_ENTERED",
        "name": NAME,
        "address": {"province": PROVINCE, "city": CITY, "district": DISTRICT, "street": STREET},
        "birthday": BIRTHDAY,
        "points": {"balance": 120},
        "coupons": {"items": [{"title": "满100减20", "discountFen": 2000}]},
        "orders": {"items": [{"externalId": "WX20261122001", "totalFen": 6400, "status": "PAID"}]},
        "tags": {"items": [{"name": "咖啡爱好者"}]},
        "wechatFollows": [],  # the seeded person came by linkIdentity, not by a follow
        "consents": {
            "current": [
                {
                    "purpose": p.value,
                    "channel": c.value,
                    "granted": DEFAULT_GRANTED[p],
                    "explicit": False,
                }
                for p in ConsentPurpose
                for c in Channel
            ]
        },
    }


def client(client_for: ClientFactory, role: Role, person: dict[str, Any]) -> httpx.AsyncClient:
    """A client of `role`; a customer's token names the seeded person."""
    return client_for(role, subject=person["id"] if role is Role.CUSTOMER else None)


def root(role: Role, person: dict[str, Any], key: str | None = None) -> str:
    """How `role` reaches the person: `me` for the customer, `profile(...)` for everyone else
    (an analyst is refused there). `key` overrides the lookup argument."""
    if role is Role.CUSTOMER:
        return "me"
    lookup = key or f'id: "{person["id"]}"'
    return f'profile({lookup}, purpose: "{PURPOSE}")'


def root_key(role: Role) -> str:
    return "me" if role is Role.CUSTOMER else "profile"


@dataclass
class Reply:
    body: dict[str, Any]
    text: str


async def post(client: httpx.AsyncClient, query: str, operation_name: str | None = None) -> Reply:
    payload: dict[str, Any] = {"query": query}
    if operation_name is not None:
        payload["operationName"] = operation_name
    response = await client.post("/graphql", json=payload)
    assert response.status_code == 200, response.text
    return Reply(response.json(), response.text)


def outcome(role: Role, field: str) -> Outcome:
    return EXPECTED[field][role]


def project(value: Any, keys: tuple[str, ...] | None) -> Any:
    """The part of a value a sub-selection asks for (`address { street }`)."""
    if keys is None or value is None:
        return value
    if isinstance(value, list):
        return [project(item, keys) for item in value]
    return {key: value[key] for key in keys}


def expected_value(role: Role, field: str, person: dict[str, Any], keys: Any = None) -> Any:
    decision = outcome(role, field)
    if decision is FULL:
        return project(person[field], keys)
    assert isinstance(decision, Masked)
    return project(decision.value, keys)


def strings_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


def must_not_appear(role: Role, person: dict[str, Any]) -> list[str]:
    """Every string that would betray a value `role` may not see, in any response."""
    needles: list[str] = []
    for field, by_role in EXPECTED.items():
        decision = by_role[role]
        if decision is FULL:
            continue
        needles += BETRAYING.get(field, [])
        if decision is DENIED:
            # Nothing of a denied field: neither its value nor any masked form of it.
            # (An identity's channel and app id are not secrets: its OpenIDs are, in BETRAYING.)
            if field != "identities":
                needles += list(strings_in(person[field]))
            for other in by_role.values():
                if isinstance(other, Masked):
                    needles += [json.dumps(s, ensure_ascii=False) for s in strings_in(other.value)]
    return needles


def assert_nothing_leaks(reply: Reply, role: Role, person: dict[str, Any]) -> None:
    # The raw bytes as sent, and the parsed body re-encoded (in case of \\u escapes).
    texts = (reply.text, json.dumps(reply.body, ensure_ascii=False))
    leaked = sorted({n for n in must_not_appear(role, person) for t in texts if n in t})
    assert leaked == [], f"{role.value} was shown {leaked}: {reply.text}"


def at(data: Any, path: list[Any]) -> Any:
    for step in path:
        data = data[step]
    return data


Expectation = tuple[list[Any], str, tuple[str, ...] | None]


def check(
    reply: Reply, role: Role, person: dict[str, Any], expectations: list[Expectation]
) -> None:
    """Each (path, field, sub-selection) holds what the table says for `role`: the value,
    its masked form, or null with a FORBIDDEN error at exactly that path. No other error."""
    body = reply.body
    errors = body.get("errors", [])
    assert all(e["extensions"]["code"] == "FORBIDDEN" for e in errors), body
    error_paths = sorted((e.get("path") for e in errors), key=json.dumps)
    if role in NO_PERSON:
        roots = sorted({path[0] for path, _, _ in expectations})
        assert body["data"] == dict.fromkeys(roots), body
        assert error_paths == [[r] for r in roots], body
    else:
        denied = [path for path, field, _ in expectations if outcome(role, field) is DENIED]
        assert error_paths == sorted(denied, key=json.dumps), body
        for path, field, keys in expectations:
            got = at(body["data"], path)
            if outcome(role, field) is DENIED:
                assert got is None, (path, body)
            else:
                assert got == expected_value(role, field, person, keys), (path, body)
    assert_nothing_leaks(reply, role, person)


# ---------------------------------------------------------------------------------------------
# 1. The matrix: every (role, Profile field) pair.


def test_the_expectation_table_covers_exactly_the_profile_fields_of_the_schema() -> None:
    served = set(build_schema()._schema.type_map["Profile"].fields)
    assert served == set(EXPECTED), (
        f"without an expectation: {sorted(served - set(EXPECTED))}; "
        f"expected but not served: {sorted(set(EXPECTED) - served)}"
    )
    assert not served & NOT_YET_SERVED


def test_the_expectation_table_has_a_cell_for_every_role() -> None:
    assert all(set(by_role) == set(Role) for by_role in EXPECTED.values())
    assert set(ROLES) == set(Role)


MATRIX = [
    pytest.param(role, field, id=f"{role.value}-{field}") for role in ROLES for field in EXPECTED
]


@pytest.mark.parametrize(("role", "field"), MATRIX)
async def test_every_role_sees_every_profile_field_as_the_contract_says(
    client_for: ClientFactory, person: dict[str, Any], role: Role, field: str
) -> None:
    reader = client(client_for, role, person)
    reply = await post(reader, f"{{ {root(role, person)} {{ {SELECTION.get(field, field)} }} }}")
    check(reply, role, person, [([root_key(role), field], field, None)])
    if role in NO_PERSON:
        # Not through `me` either.
        reply = await post(reader, f"{{ me {{ {SELECTION.get(field, field)} }} }}")
        assert reply.body["data"] == {"me": None}, reply.body
        assert [(e["path"], e["extensions"]["code"]) for e in reply.body["errors"]] == [
            (["me"], "FORBIDDEN")
        ]
        assert_nothing_leaks(reply, role, person)


async def test_the_customer_reads_every_field_of_their_own_profile_in_one_query(
    client_for: ClientFactory, person: dict[str, Any]
) -> None:
    selection = " ".join(SELECTION.get(field, field) for field in EXPECTED)
    reply = await post(client(client_for, Role.CUSTOMER, person), f"{{ me {{ {selection} }} }}")
    assert reply.body == {"data": {"me": {field: person[field] for field in EXPECTED}}}


@pytest.mark.parametrize("role", [Role.SUPPORT, Role.COMPLIANCE, Role.SERVICE])
async def test_staff_read_every_field_in_one_query_as_the_contract_says(
    client_for: ClientFactory, person: dict[str, Any], role: Role
) -> None:
    selection = " ".join(SELECTION.get(field, field) for field in EXPECTED)
    reply = await post(
        client(client_for, role, person), f"{{ {root(role, person)} {{ {selection} }} }}"
    )
    check(reply, role, person, [(["profile", field], field, None) for field in EXPECTED])


# ---------------------------------------------------------------------------------------------
# 2. The same guarantees through every shape of document.

ALL_ROLES = pytest.mark.parametrize("role", ROLES, ids=[r.value for r in ROLES])


@ALL_ROLES
async def test_aliases_are_masked_like_the_fields_they_name(
    client_for: ClientFactory, person: dict[str, Any], role: Role
) -> None:
    r = root_key(role)
    reply = await post(
        client(client_for, role, person),
        f"{{ {root(role, person)} {{ p: phone x: name u: unionId b: birthday }} }}",
    )
    check(
        reply,
        role,
        person,
        [
            ([r, "p"], "phone", None),
            ([r, "x"], "name", None),
            ([r, "u"], "unionId", None),
            ([r, "b"], "birthday", None),
        ],
    )


@ALL_ROLES
async def test_several_aliases_of_one_field_are_each_masked(
    client_for: ClientFactory, person: dict[str, Any], role: Role
) -> None:
    r = root_key(role)
    reply = await post(
        client(client_for, role, person),
        f"{{ {root(role, person)} {{ p1: phone p2: phone phone n1: name n2: name"
        " b1: birthday b2: birthday i1: identities { openId } i2: identities { appId } } }",
    )
    check(
        reply,
        role,
        person,
        [
            ([r, "p1"], "phone", None),
            ([r, "p2"], "phone", None),
            ([r, "phone"], "phone", None),
            ([r, "n1"], "name", None),
            ([r, "n2"], "name", None),
            ([r, "b1"], "birthday", None),
            ([r, "b2"], "birthday", None),
            ([r, "i1"], "identities", ("openId",)),
            ([r, "i2"], "identities", ("appId",)),
        ],
    )


@ALL_ROLES
async def test_named_fragments_are_masked_like_direct_selections(
    client_for: ClientFactory, person: dict[str, Any], role: Role
) -> None:
    r = root_key(role)
    reply = await post(
        client(client_for, role, person),
        f"query {{ {root(role, person)} {{ ...F }} }}\n"
        "fragment F on Profile { phone name ...G }\n"
        "fragment G on Profile { birthday unionId address { ...A } }\n"
        "fragment A on Address { street district city }",
    )
    check(
        reply,
        role,
        person,
        [
            ([r, "phone"], "phone", None),
            ([r, "name"], "name", None),
            ([r, "birthday"], "birthday", None),
            ([r, "unionId"], "unionId", None),
            ([r, "address"], "address", ("street", "district", "city")),
        ],
    )


@ALL_ROLES
async def test_inline_fragments_are_masked_like_direct_selections(
    client_for: ClientFactory, person: dict[str, Any], role: Role
) -> None:
    r = root_key(role)
    reply = await post(
        client(client_for, role, person),
        f"{{ {root(role, person)} {{ ... on Profile {{ phone birthday }}"
        " ... { name ... on Profile { x: identities { openId } } }"
        " ... @include(if: true) { unionId } } }",
    )
    check(
        reply,
        role,
        person,
        [
            ([r, "phone"], "phone", None),
            ([r, "birthday"], "birthday", None),
            ([r, "name"], "name", None),
            ([r, "x"], "identities", ("openId",)),
            ([r, "unionId"], "unionId", None),
        ],
    )


@ALL_ROLES
async def test_include_and_skip_change_what_is_selected_not_what_is_shown(
    client_for: ClientFactory, person: dict[str, Any], role: Role
) -> None:
    r = root_key(role)
    reply = await post(
        client(client_for, role, person),
        f"{{ {root(role, person)} {{ phone @include(if: true) name @skip(if: false)"
        " birthday @skip(if: true) address @include(if: false) { street } } }",
    )
    check(reply, role, person, [([r, "phone"], "phone", None), ([r, "name"], "name", None)])
    if role not in NO_PERSON:
        assert set(reply.body["data"][r]) == {"phone", "name"}


@ALL_ROLES
async def test_nested_selections_are_masked_part_by_part(
    client_for: ClientFactory, person: dict[str, Any], role: Role
) -> None:
    r = root_key(role)
    reply = await post(
        client(client_for, role, person),
        f"{{ {root(role, person)} {{ address {{ street district }} identities {{ openId }} }} }}",
    )
    check(
        reply,
        role,
        person,
        [
            ([r, "address"], "address", ("street", "district")),
            ([r, "identities"], "identities", ("openId",)),
        ],
    )
    if role in (Role.SUPPORT, Role.COMPLIANCE):
        assert reply.body["data"]["profile"]["address"] == {"street": None, "district": None}
    if role is Role.SUPPORT:
        assert reply.body["data"]["profile"]["identities"] is None
        assert [(e["path"], e["extensions"]["code"]) for e in reply.body["errors"]] == [
            (["profile", "identities"], "FORBIDDEN")
        ]


@ALL_ROLES
async def test_only_the_operation_named_runs(
    client_for: ClientFactory, person: dict[str, Any], role: Role
) -> None:
    reader = client(client_for, role, person)
    r = root_key(role)
    document = (
        f"query Phone {{ {root(role, person)} {{ phone birthday }} }}\n"
        f"query Name {{ {root(role, person)} {{ name }} }}\n"
        'mutation Clear { updateMyProfile(input: {phone: null, name: "改名"}) { id } }'
    )
    reply = await post(reader, document, operation_name="Name")
    check(reply, role, person, [([r, "name"], "name", None)])
    if role not in NO_PERSON:
        assert reply.body["data"] == {r: {"name": reply.body["data"][r]["name"]}}
    # Nothing of the operations not selected: no phone or birthday in any form...
    for needle in (PHONE_DIGITS, "138****5678", "5678", BIRTHDAY, '"1990"'):
        assert needle not in reply.text, reply.text
    # ...and the mutation did not run.
    customer = client(client_for, Role.CUSTOMER, person)
    after = await post(customer, "{ me { phone name } }")
    assert after.body == {"data": {"me": {"phone": PHONE_DIGITS, "name": NAME}}}


# Support and compliance look up one profile per operation (test_lookup_limits.py).
MANY_LOOKUP_ROLES = [r for r in ROLES if lookup_rule(r).per_operation is None]


@pytest.mark.parametrize("role", MANY_LOOKUP_ROLES, ids=[r.value for r in MANY_LOOKUP_ROLES])
async def test_two_lookups_of_the_same_profile_in_one_query_are_each_masked(
    client_for: ClientFactory, person: dict[str, Any], role: Role
) -> None:
    second = root(role, person, key=f'unionId: "{UNION_ID}"')
    reply = await post(
        client(client_for, role, person),
        f"{{ a: {root(role, person)} {{ phone name }}"
        f" b: {second} {{ p: phone birthday address {{ street city }} }} }}",
    )
    check(
        reply,
        role,
        person,
        [
            (["a", "phone"], "phone", None),
            (["a", "name"], "name", None),
            (["b", "p"], "phone", None),
            (["b", "birthday"], "birthday", None),
            (["b", "address"], "address", ("street", "city")),
        ],
    )


@ALL_ROLES
async def test_typename_says_profile_and_nothing_more(
    client_for: ClientFactory, person: dict[str, Any], role: Role
) -> None:
    reader = client(client_for, role, person)
    r = root_key(role)
    reply = await post(reader, f"{{ {root(role, person)} {{ __typename }} }}")
    if role in NO_PERSON:
        assert reply.body["data"] == {"profile": None}
        assert [(e["path"], e["extensions"]["code"]) for e in reply.body["errors"]] == [
            (["profile"], "FORBIDDEN")
        ]
    else:
        assert reply.body == {"data": {r: {"__typename": "Profile"}}}
    assert_nothing_leaks(reply, role, person)

    reply = await post(reader, f"{{ {root(role, person)} {{ t: __typename phone __typename }} }}")
    check(reply, role, person, [([r, "phone"], "phone", None)])
    if role not in NO_PERSON:
        assert reply.body["data"][r]["t"] == reply.body["data"][r]["__typename"] == "Profile"
        assert set(reply.body["data"][r]) == {"t", "phone", "__typename"}


# ---------------------------------------------------------------------------------------------
# 3. Roots: an analyst reaches no profile; a customer reaches theirs through `me` only.


def analyst_documents() -> list[Any]:
    lookup = 'purpose: "aggregate"'
    return [
        pytest.param("me", "{ me { id phone } }", id="me"),
        pytest.param("profile", f'{{ profile(id: "{{id}}", {lookup}) {{ id }} }}', id="by-id"),
        pytest.param(
            "profile",
            f'{{ profile(unionId: "{UNION_ID}", {lookup}) {{ id unionId }} }}',
            id="by-unionId",
        ),
        pytest.param(
            "profile",
            f'{{ profile(openId: "{MINI_OPEN_ID}", appId: "{MINI_APP}", {lookup})'
            " { identities { openId } } }",
            id="by-openId",
        ),
        pytest.param(
            "profile",
            f'{{ profile(phone: "{PHONE_DIGITS}", {lookup}) {{ phone name }} }}',
            id="by-phone",
        ),
        pytest.param(
            "linkIdentity",
            'mutation { linkIdentity(input: {channel: WEB, appId: "wx7777777777777777",'
            f' openId: "oWeb_analyst_00000000000001", unionId: "{UNION_ID}"}})'
            " { id unionId phone } }",
            id="linkIdentity",
        ),
        pytest.param(
            "updateMyProfile",
            'mutation { updateMyProfile(input: {name: "分析师"}) { id name } }',
            id="updateMyProfile",
        ),
    ]


@pytest.mark.parametrize("role", NO_PERSON, ids=[r.value for r in NO_PERSON])
@pytest.mark.parametrize(("root_field", "document"), analyst_documents())
async def test_an_analyst_or_marketer_is_forbidden_every_root_field_that_reaches_a_profile(
    client_for: ClientFactory, person: dict[str, Any], root_field: str, document: str, role: Role
) -> None:
    reader = client(client_for, role, person)
    reply = await post(reader, document.replace("{id}", person["id"]))
    assert reply.body["data"] == {root_field: None}, reply.body
    assert [(e["path"], e["extensions"]["code"]) for e in reply.body["errors"]] == [
        ([root_field], "FORBIDDEN")
    ]
    assert_nothing_leaks(reply, role, person)
    assert person["id"] not in reply.text
    # Nothing was written either.
    customer = client(client_for, Role.CUSTOMER, person)
    after = await post(customer, "{ me { name identities { appId } } }")
    assert after.body["data"]["me"]["name"] == NAME
    assert [i["appId"] for i in after.body["data"]["me"]["identities"]] == [MINI_APP, OFFICIAL_APP]


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("id", id="by-id"),
        pytest.param(f'unionId: "{UNION_ID}"', id="by-unionId"),
        pytest.param(f'openId: "{OFFICIAL_OPEN_ID}"', id="by-openId"),
        pytest.param(f'phone: "{PHONE_DIGITS}"', id="by-phone"),
    ],
)
async def test_a_customer_cannot_reach_profile_lookups_even_for_their_own_profile(
    client_for: ClientFactory, person: dict[str, Any], key: str
) -> None:
    customer = client(client_for, Role.CUSTOMER, person)
    lookup = f'id: "{person["id"]}"' if key == "id" else key
    reply = await post(
        customer, f'{{ profile({lookup}, purpose: "mine") {{ id unionId phone name }} }}'
    )
    assert reply.body["data"] == {"profile": None}, reply.body
    assert [(e["path"], e["extensions"]["code"]) for e in reply.body["errors"]] == [
        (["profile"], "FORBIDDEN")
    ]
    for needle in (UNION_ID, PHONE_DIGITS, NAME, person["id"]):
        assert needle not in reply.text


# ---------------------------------------------------------------------------------------------
# 4. Masked values are computed in memory: never stored; nor are the plaintexts.


async def raw_database_bytes(settings: Settings, database: Database) -> bytes:
    """Everything the database holds, as raw bytes: the SQLite files (main and WAL), or every
    text-like and bytea column of every table of PostgreSQL."""
    prefix = "sqlite+aiosqlite:///"
    if settings.database_url.startswith(prefix):
        path = Path(settings.database_url[len(prefix) :])
        files = [path, Path(f"{path}-wal"), Path(f"{path}-journal")]
        return b"".join(f.read_bytes() for f in files if f.exists())
    chunks: list[bytes] = []
    async with database.transaction() as session:
        columns = (
            await session.execute(
                sa.text(
                    "SELECT table_schema, table_name, column_name FROM information_schema.columns"
                    " WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
                    " AND data_type IN ('text', 'character varying', 'character', 'bytea',"
                    " 'json', 'jsonb')"
                )
            )
        ).all()
        assert columns
        for schema, table, column in columns:
            values = await session.scalars(sa.text(f'SELECT "{column}" FROM "{schema}"."{table}"'))
            for value in values:
                if isinstance(value, bytes | memoryview):
                    chunks.append(bytes(value))
                elif value is not None:
                    chunks.append((value if isinstance(value, str) else json.dumps(value)).encode())
    return b"\n".join(chunks)


async def test_masked_values_are_computed_in_memory_and_never_stored(
    client_for: ClientFactory, person: dict[str, Any], settings: Settings, database: Database
) -> None:
    support = client(client_for, Role.SUPPORT, person)
    reply = await post(
        support, f"{{ {root(Role.SUPPORT, person)} {{ phone name address {{ city }} }} }}"
    )
    assert reply.body == {
        "data": {"profile": {"phone": "138****5678", "name": "张*", "address": {"city": CITY}}}
    }

    raw = await raw_database_bytes(settings, database)
    # The scan sees the rows: the plain, non-personal public id and app ids are there.
    assert person["id"].encode() in raw
    assert MINI_APP.encode() in raw
    for needle in ("138****5678", "张*", PHONE_DIGITS, NAME, STREET, BIRTHDAY):
        assert needle.encode("utf-8") not in raw, needle


SHIPPING = "orders { items { externalId shippingAddress { province city district street } } }"


@pytest.mark.parametrize("role", ROLES, ids=[r.value for r in ROLES])
async def test_an_orders_shipping_address_follows_the_address_row(
    client_for: ClientFactory, person: dict[str, Any], role: Role
) -> None:
    reply = await post(
        client(client_for, role, person), f"{{ {root(role, person)} {{ {SHIPPING} }} }}"
    )
    key = root_key(role)
    if role in NO_PERSON:
        assert reply.body["data"] == {key: None}
        assert [e["extensions"]["code"] for e in reply.body["errors"]] == ["FORBIDDEN"]
        return
    order = reply.body["data"][key]["orders"]["items"][0]
    assert order["externalId"] == "WX20261122001", "support sees full order details"
    full = {"province": PROVINCE, "city": CITY, "district": DISTRICT, "street": STREET}
    if role is Role.CUSTOMER:
        assert order["shippingAddress"] == full
    elif role in (Role.SUPPORT, Role.COMPLIANCE):
        assert order["shippingAddress"] == MASKED_ADDRESS.value
    else:
        assert order["shippingAddress"] is None
        [error] = reply.body["errors"]
        assert error["path"] == [key, "orders", "items", 0, "shippingAddress"]
        assert error["extensions"]["code"] == "FORBIDDEN"
    if role is not Role.CUSTOMER:
        assert STREET not in reply.text and DISTRICT not in reply.text
