"""The cost limit (estimated result nodes, per role) and the response size cap: refused with a
coded 400 before anything is resolved, audited or committed; real queries stay under them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import OperationDefinitionNode, parse, validate

from cdp.audit.models import AuditEvent
from cdp.auth import Role
from cdp.db import Database
from cdp.graphql.limits import Limits
from cdp.graphql.measures import DocumentMeasures, fragments_of
from cdp.graphql.schema import build_schema
from cdp.profiles.models import Profile
from tests.conftest import ClientFactory, make_settings
from tests.support.limits import Clients, post, refusal
from tests.support.people import MINI, count, link

ROOT = Path(__file__).resolve().parent.parent
ORDER_PAGE = (
    "orders(first: 100) { items { id status totalFen paidAt items { sku name quantity } } }"
)


def cost(document: str, variables: dict[str, Any] | None = None) -> int:
    """The estimate of `document`'s operations together, as the server makes it."""
    schema = build_schema()._schema
    parsed = parse(document)
    assert validate(schema, parsed) == []
    measures = DocumentMeasures(schema, fragments_of(parsed), variables)
    return sum(
        measures.of(d.selection_set, schema.get_root_type(d.operation)).cost
        for d in parsed.definitions
        if isinstance(d, OperationDefinitionNode)
    )


def aliased_pages(count: int, page: str = ORDER_PAGE) -> str:
    return "{ " + " ".join(f"m{n}: me {{ id phone {page} }}" for n in range(count)) + " }"


# --- the estimate --------------------------------------------------------------------------


def test_each_field_counts_once_times_the_pages_above_it() -> None:
    query = "{ me { id orders(first: 5) { items { id items { sku } } pageInfo { hasNextPage } } } }"
    # me 1 + id 1 + orders (1 + 5 x (items 4 + pageInfo 2))
    assert cost(query) == 33


def test_a_page_without_first_counts_its_default_size() -> None:
    assert cost("{ me { orders { items { id } } } }") == 1 + 1 + 20 * 2
    assert cost("{ me { tags { items { name } } } }") == 1 + 1 + 100 * 2


def test_a_page_size_in_a_variable_or_its_default_counts() -> None:
    query = "query ($n: Int!) { me { orders(first: $n) { items { id } } } }"
    assert cost(query, {"n": 3}) == 1 + 1 + 3 * 2
    assert cost(query, {"n": 100.0}) == 1 + 1 + 100 * 2
    # Over the maximum counts as the maximum: execution refuses it as BAD_USER_INPUT.
    assert cost(query, {"n": 10**9}) == 1 + 1 + 100 * 2


def test_fragments_count_once_per_spread() -> None:
    query = """{ me { ...O ...O } } fragment O on Profile { orders(first: 2) { items { id } } }"""
    assert cost(query) == 1 + 2 * (1 + 2 * 2)


def test_every_readme_and_member_center_query_is_within_its_roles_limit() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```graphql\n# (\w+)[^\n]*\n(.*?)```", readme, re.S)
    assert {role for role, _ in blocks} >= {"customer", "service", "support", "compliance"}
    pages = json.loads((ROOT / "cdp" / "documents" / "pages.json").read_text(encoding="utf-8"))
    documents = [(Role(role), block) for role, block in blocks]
    documents.extend((Role.CUSTOMER, text) for text in pages.values())
    limits = Limits()
    for role, block in documents:
        for document in re.split(r"\n(?=\{|mutation|query)", block.strip()):
            assert cost(document) <= limits.cost_for(role), document


# --- the limit over HTTP -------------------------------------------------------------------


async def test_fifteen_aliased_order_pages_are_refused_before_anything_is_read(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database
) -> None:
    profile = await link(service_client, "MINI_PROGRAM", MINI, "oCostlyCustomer0000000001")
    customer = client_for(Role.CUSTOMER, subject=profile["id"])
    audited = await count(database, AuditEvent)
    response = await post(customer, aliased_pages(15))
    message = refusal(response, 400, "QUERY_TOO_COMPLEX", "cost")
    extensions = response.json()["errors"][0]["extensions"]
    assert extensions["maxCost"] == 10_000 and extensions["cost"] > 10_000
    assert "at most 10000 for the customer role" in message
    assert await count(database, AuditEvent) == audited  # the phones were never read
    # One such page is an ordinary read.
    body = (await post(customer, aliased_pages(1))).json()
    assert "errors" not in body and body["data"]["m0"]["orders"]["items"] == []


async def test_a_page_size_given_by_a_variable_is_counted(client_with: Clients) -> None:
    profile = await link(client_with(Role.SERVICE), "MINI_PROGRAM", MINI, "oCostlyCustomer02")
    client = client_with(Role.CUSTOMER, subject=profile["id"], max_query_cost=400)
    query = "query ($n: Int!) { me { orders(first: $n) { items { id totalFen items { sku } } } } }"
    assert cost(query, {"n": 100}) == 502
    refusal(await post(client, query, {"n": 100}), 400, "QUERY_TOO_COMPLEX", "cost")
    response = await post(client, query, {"n": 10})
    assert response.status_code == 200 and "errors" not in response.json(), response.text
    # The same text again: its cost is remembered per value of the variables.
    refusal(await post(client, query, {"n": 100}), 400, "QUERY_TOO_COMPLEX", "cost")
    assert (await post(client, query, {"n": 10})).status_code == 200
    defaulted = query.replace("$n: Int!", "$n: Int! = 100")
    refusal(await post(client, defaulted), 400, "QUERY_TOO_COMPLEX", "cost")


async def test_the_limit_is_a_setting_times_the_roles_factor(client_with: Clients) -> None:
    tags = "tags(first: 3) { items { name } }"
    query = '{ profilesByTag(tag: "vip", first: 100) { items { id tier ' + tags + " } } }"
    assert 1000 < cost(query) <= 10 * 1000
    customer = client_with(Role.CUSTOMER, max_query_cost=1000)
    support = client_with(Role.SUPPORT, max_query_cost=1000)
    service = client_with(Role.SERVICE, max_query_cost=1000)
    for person in (customer, support):
        refusal(await post(person, query), 400, "QUERY_TOO_COMPLEX", "cost")
    response = await post(service, query)
    assert response.status_code == 200 and "errors" not in response.json(), response.text


def test_the_cost_limit_defaults_to_ten_thousand_and_service_has_ten_times_it() -> None:
    limits = Limits.of(make_settings("sqlite+aiosqlite://"))
    assert limits.cost_for(Role.CUSTOMER) == limits.cost_for(Role.SUPPORT) == 10_000
    assert limits.cost_for(Role.SERVICE) == 100_000


# --- the response cap ----------------------------------------------------------------------

INTROSPECTION = "{ __schema { types { name description fields { name description } } } }"


async def test_an_answer_over_the_response_cap_is_query_too_complex(client_with: Clients) -> None:
    served = await post(client_with(Role.SERVICE), INTROSPECTION)
    assert served.status_code == 200 and len(served.content) > 4096
    capped = client_with(Role.SERVICE, max_response_bytes=4096)
    response = await post(capped, INTROSPECTION)
    assert "larger than 4096 bytes" in refusal(response, 400, "QUERY_TOO_COMPLEX", "response")


async def test_a_mutation_whose_answer_is_over_the_cap_commits_nothing(
    client_with: Clients, database: Database
) -> None:
    client = client_with(Role.SERVICE, max_response_bytes=1024)
    links = " ".join(
        f'l{n}: linkIdentity(input: {{channel: MINI_PROGRAM, appId: "{MINI}", '
        f'openId: "oCapped{n:020d}"}}) {{ id createdAt identities {{ appId openId linkedAt }} }}'
        for n in range(8)
    )
    response = await post(client, "mutation { " + links + " }")
    assert "nothing was changed" in refusal(response, 400, "QUERY_TOO_COMPLEX", "response")
    assert await count(database, Profile) == 0
    assert await count(database, AuditEvent) == 0


def test_the_default_response_cap_is_16_mib() -> None:
    assert make_settings("sqlite+aiosqlite://").max_response_bytes == 16 * 1024 * 1024


@pytest.mark.parametrize("setting", ["max_query_cost", "max_response_bytes"])
def test_the_new_limits_refuse_nonsense_values(setting: str) -> None:
    from cdp.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match=f"CDP_{setting.upper()}"):
        load_settings({f"CDP_{setting.upper()}": "0"})
