"""Hostile input: one test per limit, each a coded 4xx and never a 5xx, and limits that stay
out of the way of real queries."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

import cdp.graphql.profiles
from cdp.app import create_app
from cdp.auth import Role, issue_token
from cdp.config import Settings
from cdp.db import Database
from cdp.graphql.limits import Limits, validation_rules
from cdp.keys.source import KeyringSource
from cdp.profiles.models import Profile
from tests.conftest import TEST_KEYRING, make_settings
from tests.support.limits import Clients, post, refusal

GRAPHQL_RESPONSE = "application/graphql-response+json"
LINK = """mutation L($input: LinkIdentityInput!) { linkIdentity(input: $input) { id } }"""


def deep_query(levels: int) -> str:
    """`{ me { orders { items { __typename } } } }` cut to `levels` fields."""
    fields = ["me", "orders(first: 1)", "items"]
    selection = "__typename"
    for name in reversed(fields[:levels]):
        selection = f"{name} {{ {selection} }}"
    return "{ " + selection + " }"


# --- depth ---------------------------------------------------------------------------------


@pytest.mark.parametrize("media", ["application/json", GRAPHQL_RESPONSE])
async def test_a_query_deeper_than_the_limit_is_query_too_complex_with_a_400(
    client_with: Clients, media: str
) -> None:
    client = client_with(Role.CUSTOMER, max_query_depth=2)
    response = await post(client, deep_query(3), headers={"accept": media})
    message = refusal(response, 400, "QUERY_TOO_COMPLEX", "depth")
    assert "3 levels" in message and "at most 2" in message


async def test_a_query_at_the_depth_limit_is_served(client_with: Clients) -> None:
    client = client_with(Role.SERVICE, max_query_depth=3)
    response = await post(client, '{ profilesByTag(tag: "vip", first: 1) { items { id } } }')
    assert response.status_code == 200, response.text
    assert "errors" not in response.json(), response.text


async def test_depth_counts_through_fragments(client_with: Clients) -> None:
    client = client_with(Role.SERVICE, max_query_depth=2)
    query = """
      query { profilesByTag(tag: "vip", first: 1) { ...Page } }
      fragment Page on ProfilePage { items { ...P } }
      fragment P on Profile { tier }
    """
    refusal(await post(client, query), 400, "QUERY_TOO_COMPLEX", "depth")


async def test_a_fragment_cycle_is_refused_without_hanging(client_with: Clients) -> None:
    client = client_with(Role.SERVICE)
    query = """
      query { profilesByTag(tag: "vip", first: 1) { items { ...A } } }
      fragment A on Profile { id ...B }
      fragment B on Profile { tier ...A }
    """
    response = await asyncio.wait_for(post(client, query), timeout=10)
    assert response.status_code == 200  # an ordinary validation error under plain JSON
    assert [e["extensions"]["code"] for e in response.json()["errors"]] == ["BAD_USER_INPUT"]


async def test_introspection_does_not_count_towards_depth(client_with: Clients) -> None:
    client = client_with(Role.SERVICE, max_query_depth=2)
    query = "{ __schema { types { fields { type { ofType { ofType { name } } } } } } }"
    response = await post(client, query)
    assert response.status_code == 200 and "errors" not in response.json(), response.text


# --- aliases -------------------------------------------------------------------------------


def aliased(count: int) -> str:
    return "{ " + " ".join(f"a{n}: __typename" for n in range(count)) + " }"


async def test_more_aliases_than_the_limit_are_query_too_complex(client_with: Clients) -> None:
    client = client_with(Role.SERVICE)
    assert (await post(client, aliased(15))).status_code == 200
    message = refusal(await post(client, aliased(16)), 400, "QUERY_TOO_COMPLEX", "aliases")
    assert "16 aliases" in message and "at most 15" in message


async def test_aliases_hidden_in_a_fragment_count_once_per_spread(client_with: Clients) -> None:
    client = client_with(Role.SERVICE)
    query = """
      query { x: __typename ...F ...on Query { ...F } }
      fragment F on Query { a: __typename b: __typename c: __typename d: __typename
        e: __typename f: __typename g: __typename h: __typename }
    """
    # 1 + 8 + 8 = 17 aliased fields; a per-document count (1 + 8) would let this through.
    refusal(await post(client, query), 400, "QUERY_TOO_COMPLEX", "aliases")


# --- tokens --------------------------------------------------------------------------------


async def test_a_document_over_the_token_limit_is_query_too_complex(client_with: Clients) -> None:
    client = client_with(Role.SERVICE)
    under = "{ " + "...F " * 493 + "} fragment F on Query { __typename }"  # 995 tokens
    response = await post(client, under)
    assert response.status_code == 200 and "errors" not in response.json(), response.text
    over = "{ " + "__typename " * 1000 + "}"
    for media in ("application/json", GRAPHQL_RESPONSE):
        response = await post(client, over, headers={"accept": media})
        assert "more than 1000 tokens" in refusal(response, 400, "QUERY_TOO_COMPLEX", "tokens")


async def test_the_token_limit_is_a_setting(client_with: Clients) -> None:
    client = client_with(Role.SERVICE, max_query_tokens=50)
    refusal(await post(client, aliased(20)), 400, "QUERY_TOO_COMPLEX", "tokens")


# --- nesting and validation ---------------------------------------------------------------


def nested(kind: str, levels: int) -> str:
    """A document whose list literal, object literal or variable type nests `levels` deep."""
    if kind == "list":  # inside the input object: one level
        value = "[" * (levels - 1) + "]" * (levels - 1)
        return f"mutation {{ updateMyConsents(input: {{consents: {value}}}) {{ id }} }}"
    if kind == "object":
        value = "{address: " * levels + "null" + "}" * levels
        return f"mutation {{ updateMyProfile(input: {value}) {{ id }} }}"
    return "query ($v: " + "[" * levels + "Int" + "]" * levels + ") { __typename }"


@pytest.mark.parametrize("kind", ["list", "object", "type"])
@pytest.mark.parametrize("tokens", [1000, 100_000])
async def test_nesting_past_the_parsers_reach_is_query_too_complex_whatever_the_token_limit(
    client_with: Clients, kind: str, tokens: int
) -> None:
    client = client_with(Role.CUSTOMER, max_query_tokens=tokens)
    for media in ("application/json", GRAPHQL_RESPONSE):
        response = await post(client, nested(kind, 5000), headers={"accept": media})
        assert "nested too deeply" in refusal(response, 400, "QUERY_TOO_COMPLEX", "nesting")


@pytest.mark.parametrize("kind", ["list", "object", "type"])
async def test_values_and_types_nested_deeper_than_ten_are_query_too_complex(
    client_with: Clients, kind: str
) -> None:
    client = client_with(Role.CUSTOMER, max_query_tokens=100_000)
    for levels in (11, 150):
        response = await post(client, nested(kind, levels))
        assert response.status_code == 400 and "data" not in response.json(), response.text
        # Beside the other rules' errors (an 11-deep list is no list of choices either).
        [message] = [
            e["message"]
            for e in response.json()["errors"]
            if e["extensions"] == {"code": "QUERY_TOO_COMPLEX", "limit": "nesting"}
        ]
        assert "deeper than 10 levels" in message
    response = await post(client, nested(kind, 10))
    assert response.status_code < 500
    assert all(e["extensions"].get("limit") is None for e in response.json().get("errors", ()))


async def test_a_document_too_costly_to_validate_is_query_too_complex(
    client_with: Clients,
) -> None:
    # 990 fields of one name: graphql-core stops comparing them pairwise at its budget.
    client = client_with(Role.SERVICE)
    response = await post(client, "{ " + "__typename " * 990 + "}")
    assert "aborted" in refusal(response, 400, "QUERY_TOO_COMPLEX", "validation")
    # 90 selections compared pairwise with theirs: a third of a second on graphql-core's own
    # budget; on cdp's (5000 comparisons) a few milliseconds.
    customer = client_with(Role.CUSTOMER)
    document = "{ me { " + "orders { items { items { sku } } } " * 90 + "} }"
    refusal(await post(customer, document), 400, "QUERY_TOO_COMPLEX", "validation")


# --- request body --------------------------------------------------------------------------


async def test_a_body_over_the_size_limit_is_413_and_never_parsed(client_with: Clients) -> None:
    client = client_with(Role.SERVICE, max_body_bytes=4096)
    padding = " " * 5000
    response = await post(client, "{ __typename }" + padding)
    assert "larger than 4096 bytes" in refusal(response, 413, "QUERY_TOO_COMPLEX", "body")


async def test_a_streamed_body_without_a_length_is_cut_off_at_the_limit(
    client_with: Clients,
) -> None:
    client = client_with(Role.SERVICE, max_body_bytes=4096)
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'{"query": "{ __typename }", "x": "'
        for _ in range(1000):
            sent += 1
            yield b"y" * 1024
        yield b'"}'

    response = await client.post(
        "/graphql", content=chunks(), headers={"content-type": "application/json"}
    )
    refusal(response, 413, "QUERY_TOO_COMPLEX", "body")
    assert "content-length" not in response.request.headers
    assert sent < 1000  # the server stopped reading at the limit


async def test_the_default_body_limit_is_64_kib(client_with: Clients) -> None:
    client = client_with(Role.SERVICE)
    assert (await post(client, "{ __typename }" + " " * 60_000)).status_code == 200
    refusal(await post(client, "{ __typename }" + " " * 66_000), 413, "QUERY_TOO_COMPLEX", "body")


# --- list arguments ------------------------------------------------------------------------


def events(count: int) -> list[dict[str, Any]]:
    return [
        {
            "eventId": f"evt-limit-{n:04d}",
            "type": "page_view",
            "occurredAt": "2026-01-01T00:00:00Z",
            "channel": "WEB",
            "appId": "web-main",
            "openId": "o-limit-1",
        }
        for n in range(count)
    ]


RECORD_EVENTS = (
    """mutation R($input: RecordEventsInput!) { recordEvents(input: $input) { status } }"""
)


async def test_a_list_variable_over_the_limit_is_bad_user_input_before_execution(
    client_with: Clients, database_url: str
) -> None:
    client = client_with(Role.SERVICE)
    response = await post(client, RECORD_EVENTS, {"input": {"events": events(101)}})
    assert "101 items" in refusal(response, 400, "BAD_USER_INPUT", "list")


async def test_a_list_literal_over_the_limit_is_bad_user_input(client_with: Clients) -> None:
    client = client_with(Role.SERVICE, max_list_items=3)
    query = """mutation { updateMyConsents(input: { consents: [
      {purpose: MARKETING, granted: true}, {purpose: ANALYTICS, granted: true},
      {purpose: PERSONALIZATION, granted: true}, {purpose: ACTIVITY_NOTIFICATIONS, granted: true}
    ]}) { id } }"""
    for media in ("application/json", GRAPHQL_RESPONSE):
        response = await post(client, query, headers={"accept": media})
        assert "4 items" in refusal(response, 400, "BAD_USER_INPUT", "list")


async def test_a_page_size_over_100_is_bad_user_input(client_with: Clients) -> None:
    client = client_with(Role.SERVICE)
    response = await post(client, '{ profilesByTag(tag: "vip", first: 101) { items { id } } }')
    assert response.status_code < 500
    assert [e["extensions"]["code"] for e in response.json()["errors"]] == ["BAD_USER_INPUT"]


# --- time ----------------------------------------------------------------------------------


async def test_an_operation_over_the_time_limit_is_stopped_and_changes_nothing(
    client_with: Clients, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    client = client_with(Role.SERVICE, operation_timeout_seconds=0.3)
    original = cdp.graphql.profiles.linking.link_identity

    async def slow_link(**kwargs: Any) -> Any:
        outcome = await original(**kwargs)  # the profile is written (flushed), then it stalls
        await asyncio.sleep(5)
        return outcome

    monkeypatch.setattr(cdp.graphql.profiles.linking, "link_identity", slow_link)
    variables = {"input": {"channel": "WEB", "appId": "web-main", "openId": "o-slow-1"}}
    response = await asyncio.wait_for(post(client, LINK, variables), timeout=4)
    message = refusal(response, 400, "QUERY_TOO_COMPLEX", "time")
    assert "0.3 s" in message and "nothing was changed" in message

    database = Database(make_settings(database_url))
    try:
        async with database.engine.connect() as conn:
            assert (
                await conn.execute(sa.select(sa.func.count()).select_from(Profile))
            ).scalar() == 0
    finally:
        await database.dispose()


# --- batching and suggestions --------------------------------------------------------------


async def test_a_batch_of_operations_is_refused(client_with: Clients) -> None:
    client = client_with(Role.SERVICE)
    response = await client.post("/graphql", json=[{"query": "{ __typename }"}] * 2)
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


# --- rate limit ----------------------------------------------------------------------------


async def test_a_principal_over_its_rate_is_429_with_retry_after(client_with: Clients) -> None:
    alice = client_with(Role.SERVICE, subject="svc-a", rate_limit_per_minute=3)
    for _ in range(3):
        assert (await post(alice, "{ __typename }")).status_code == 200
    response = await post(alice, "{ __typename }")
    assert "at most 3 per minute" in refusal(response, 429, "QUERY_TOO_COMPLEX", "rate")
    assert int(response.headers["retry-after"]) >= 1


async def test_one_principals_rate_does_not_spend_anothers(database_url: str) -> None:
    settings = make_settings(database_url, rate_limit_per_minute=2)
    database = Database(settings)
    app = create_app(settings, database, KeyringSource.fixed(TEST_KEYRING))

    def client(subject: str) -> httpx.AsyncClient:
        token = issue_token(settings, role=Role.SERVICE, subject=subject)
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://cdp.test",
            headers={"authorization": f"Bearer {token}"},
        )

    try:
        async with client("svc-a") as a, client("svc-b") as b:
            assert [(await post(a, "{ __typename }")).status_code for _ in range(3)] == [
                200,
                200,
                429,
            ]
            assert (await post(b, "{ __typename }")).status_code == 200
    finally:
        await database.dispose()


async def test_refused_tokens_are_rate_limited_per_client_address(database_url: str) -> None:
    settings = make_settings(database_url, rate_limit_per_minute=2)
    database = Database(settings)
    app = create_app(settings, database, KeyringSource.fixed(TEST_KEYRING))
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://cdp.test") as anyone:
            headers = {"authorization": "Bearer not-a-token"}
            codes = [
                (
                    await anyone.post("/graphql", json={"query": "{ a }"}, headers=headers)
                ).status_code
                for _ in range(3)
            ]
            assert codes == [401, 401, 429]
    finally:
        await database.dispose()


def test_the_rate_budget_refills_continuously() -> None:
    from cdp.rate_limit import RateLimiter

    now = [0.0]
    limiter = RateLimiter(60, clock=lambda: now[0])
    assert all(limiter.acquire("k") == 0.0 for _ in range(60))
    assert limiter.acquire("k") == pytest.approx(1.0)
    now[0] += 1.0
    assert limiter.acquire("k") == 0.0
    assert limiter.acquire("k") > 0
    assert RateLimiter(0).acquire("k") == 0.0  # 0 turns the limit off


# --- rules built once ----------------------------------------------------------------------


def test_the_limit_rules_are_the_same_classes_on_every_build() -> None:
    assert validation_rules(Limits()) is validation_rules(Limits())
    assert validation_rules(Limits()) is not validation_rules(Limits(depth=3))


async def test_repeated_documents_hit_the_validation_cache(client_with: Clients) -> None:
    from strawberry.extensions.validation_cache import _get_validate_cache

    client = client_with(Role.SERVICE)
    cached = _get_validate_cache(256)
    query = '{ profilesByTag(tag: "cache-probe", first: 1) { items { id } } }'
    await post(client, query)
    before = cached.cache_info()
    for _ in range(3):
        assert (await post(client, query)).status_code == 200
    after = cached.cache_info()
    assert after.hits - before.hits == 3
    assert after.misses == before.misses


def test_the_defaults_are_the_issue_s_limits() -> None:
    settings = make_settings("sqlite+aiosqlite://")
    assert Limits.of(settings) == Limits(depth=10, aliases=15, tokens=1000, list_items=100)
    assert settings.max_body_bytes == 64 * 1024
    assert json.dumps(Settings.model_fields["operation_timeout_seconds"].default) == "10.0"
