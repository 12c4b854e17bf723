"""Audiences over GraphQL: a marketer previews, defines and lists audiences with k-anonymous
counts; a bad definition is refused naming its failing part; a service lists the members it
may contact for a purpose and channel, page by page (both databases)."""

from __future__ import annotations

from typing import Any

import pytest

from cdp.auth import Role
from cdp.channels import Channel
from cdp.consent.models import ConsentPurpose
from cdp.db import Database
from cdp.keys.vault import Vault
from cdp.tags.models import TagSource
from cdp.tags.service import tag_profile
from tests.conftest import error_codes, gql
from tests.support.analytics_measures import ClientAt
from tests.support.audience_town import TOWNSFOLK, Town, building

HEALTH = {"event": {"type": "article_read", "properties": {"category": "health"}, "atLeast": 2}}
PREVIEW = (
    "query P($d: JSON!) { audiencePreview(definition: $d) { count suppressed minimumGroupSize } }"
)
DEFINE = """
mutation D($input: DefineAudienceInput!) {
  defineAudience(input: $input) {
    name description version createdBy members { count suppressed }
  }
}
"""
LIST = "{ audiences(first: 10) { items { name version members { count suppressed } } } }"
MEMBERS = """
query M($a: String!, $p: ConsentPurpose!, $c: Channel!, $after: String) {
  audienceMembers(audience: $a, purpose: $p, channel: $c, first: 2, after: $after) {
    items { profileId since } pageInfo { endCursor hasNextPage }
  }
}
"""


async def readers(database: Database, vault: Vault, n: int) -> Town:
    """`n` people who read two health articles, and one who read one."""
    async with building(database, vault) as town:
        for i in range(n):
            await town.joins(f"r{i}")
            await town.reads(f"r{i}", "health", times=2)
        await town.joins("once")
        await town.reads("once", "health")
    return town


async def test_a_preview_counts_people_and_suppresses_a_count_under_k(
    database: Database, vault: Vault, client_at: ClientAt
) -> None:
    await readers(database, vault, 6)
    marketer = client_at(Role.MARKETER, k=5)
    body = await gql(marketer, PREVIEW, {"d": HEALTH})
    assert body == {
        "data": {"audiencePreview": {"count": 6, "suppressed": False, "minimumGroupSize": 5}}
    }
    body = await gql(client_at(Role.MARKETER, k=7), PREVIEW, {"d": HEALTH})
    assert body["data"]["audiencePreview"] == {
        "count": None,
        "suppressed": True,
        "minimumGroupSize": 7,
    }


async def test_a_marketer_defines_an_audience_and_lists_it_with_its_count(
    database: Database, vault: Vault, client_at: ClientAt
) -> None:
    await readers(database, vault, 5)
    marketer = client_at(Role.MARKETER, k=5, subject="marketer-9")
    given = {"name": "健康读者", "definition": HEALTH, "description": "Two health reads."}
    body = await gql(marketer, DEFINE, {"input": given})
    assert body == {
        "data": {
            "defineAudience": {
                "name": "健康读者",
                "description": "Two health reads.",
                "version": 1,
                "createdBy": "marketer-9",
                "members": {"count": 5, "suppressed": False},
            }
        }
    }
    narrower = {**given, "definition": {"all": [HEALTH, {"tier": {"in": ["SUPREME"]}}]}}
    body = await gql(marketer, DEFINE, {"input": narrower})
    assert body["data"]["defineAudience"]["version"] == 2
    assert body["data"]["defineAudience"]["members"] == {"count": None, "suppressed": True}
    body = await gql(marketer, LIST)
    assert body["data"]["audiences"]["items"] == [
        {"name": "健康读者", "version": 2, "members": {"count": None, "suppressed": True}}
    ]


BAD = [
    ({"all": []}, "all"),
    (
        {"all": [HEALTH, {"event": {"type": "article_read", "withinDays": 0}}]},
        "all[1].event.withinDays",
    ),
    ({"any": [{"not": {"order": {"channel": "FAX"}}}]}, "any[0].not.order.channel"),
    ({"event": {"type": "Article Read"}}, "event.type"),
    ({"event": {"type": "a", "properties": {"bad key": 1}}}, "event.properties.bad key"),
    ({"tier": {"in": ["DIAMOND"]}}, "tier.in[0]"),
    ({"consent": {"purpose": "MARKETING"}}, "consent.channel"),
    ({"points": {"atLeast": "500"}}, "points.atLeast"),
    ({"lastSeen": {"atLeastDaysAgo": 30, "extra": 1}}, "lastSeen.extra"),
    ({"birthday": {"thisMonth": False}}, "birthday.thisMonth"),
    ({"horoscope": {"sign": "leo"}}, "horoscope"),
    ({"event": {"type": "a"}, "tier": {"in": ["VIP"]}}, "definition"),
    ([1, 2], "definition"),
    (
        {
            "not": {
                "not": {
                    "not": {"not": {"not": {"not": {"not": {"not": {"tier": {"in": ["VIP"]}}}}}}}
                }
            }
        },
        "not.not.not.not.not.not.not.not",
    ),
]


@pytest.mark.parametrize(("definition", "path"), BAD, ids=[p for _, p in BAD])
async def test_a_bad_definition_is_refused_naming_the_failing_part(
    client_at: ClientAt, definition: Any, path: str
) -> None:
    body = await gql(client_at(Role.MARKETER), PREVIEW, {"d": definition})
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    assert body["errors"][0]["extensions"]["field"] == path, body
    assert body["data"] == {"audiencePreview": None}


async def test_an_audience_cannot_take_the_name_of_a_tag_people_carry(
    database: Database, vault: Vault, client_at: ClientAt
) -> None:
    async with building(database, vault) as town:
        await town.joins("tagged")
    async with building(database, vault, town) as town:
        await tag_profile(
            session=town.session,
            actor=TOWNSFOLK,
            profile=town.people["tagged"],
            tag="咖啡爱好者",
            source=TagSource.MANUAL,
        )
    given = {"name": "咖啡爱好者", "definition": HEALTH}
    body = await gql(client_at(Role.MARKETER), DEFINE, {"input": given})
    assert error_codes(body) == ["CONFLICT"], body


async def test_a_service_lists_the_members_it_may_contact_page_by_page(
    database: Database, vault: Vault, client_at: ClientAt
) -> None:
    town = await readers(database, vault, 5)
    async with building(database, vault, town) as town:
        for name in ("r0", "r1", "r2"):
            await town.chooses(name, ConsentPurpose.MARKETING, Channel.SMS, True)
        await town.chooses("r3", ConsentPurpose.MARKETING, Channel.WEB, True)  # not SMS
        await town.chooses("r4", ConsentPurpose.ACTIVITY_NOTIFICATIONS, Channel.SMS, False)
    body = await gql(
        client_at(Role.MARKETER), DEFINE, {"input": {"name": "健康读者", "definition": HEALTH}}
    )
    assert "errors" not in body, body
    service = client_at(Role.SERVICE)

    async def listed(purpose: str) -> list[str]:
        found, after = [], None
        while True:
            variables = {"a": "健康读者", "p": purpose, "c": "SMS", "after": after}
            body = await gql(service, MEMBERS, variables)
            assert "errors" not in body, body
            page = body["data"]["audienceMembers"]
            found += [item["profileId"] for item in page["items"]]
            if not page["pageInfo"]["hasNextPage"]:
                return found
            after = page["pageInfo"]["endCursor"]

    ids = {p.public_id: n for n, p in town.people.items()}
    assert [ids[i] for i in await listed("MARKETING")] == ["r0", "r1", "r2"]
    # Activity notifications are on by default: all but the one who said no.
    assert [ids[i] for i in await listed("ACTIVITY_NOTIFICATIONS")] == ["r0", "r1", "r2", "r3"]
    body = await gql(service, MEMBERS, {"a": "无此人群", "p": "MARKETING", "c": "SMS"})
    assert error_codes(body) == ["NOT_FOUND"]


AUDIENCE_FIELDS = {
    "audiences": "{ audiences { items { name } } }",
    "audience": '{ audience(name: "x") { name } }',
    "audiencePreview": '{ audiencePreview(definition: {tier: {in: ["VIP"]}}) { count } }',
}


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.MARKETER], ids=lambda r: r.value)
async def test_only_a_marketer_reads_or_defines_audiences(client_at: ClientAt, role: Role) -> None:
    reader = client_at(role, subject="p-1" if role is Role.CUSTOMER else None)
    for name, document in AUDIENCE_FIELDS.items():
        body = await gql(reader, document)
        assert error_codes(body) == ["FORBIDDEN"], (name, body)
        assert body["data"] == {name: None}
    body = await gql(reader, DEFINE, {"input": {"name": "x", "definition": HEALTH}})
    assert error_codes(body) == ["FORBIDDEN"]


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.SERVICE], ids=lambda r: r.value)
async def test_only_a_service_lists_an_audience_s_members(client_at: ClientAt, role: Role) -> None:
    reader = client_at(role, subject="p-1" if role is Role.CUSTOMER else None)
    body = await gql(reader, MEMBERS, {"a": "x", "p": "MARKETING", "c": "SMS"})
    assert error_codes(body) == ["FORBIDDEN"]
    assert body["data"] == {"audienceMembers": None}
