"""Nobody but an analyst reads analytics, and an analyst never reads one person (both
databases)."""

from __future__ import annotations

import sqlalchemy as sa
from graphql import GraphQLEnumType, GraphQLList, GraphQLNonNull, GraphQLObjectType

from cdp.auth import Role
from cdp.db import Database
from cdp.graphql.schema import build_schema
from cdp.keys.vault import Vault
from tests.conftest import error_codes, gql
from tests.support.analytics_measures import BREAKDOWN, RETENTION, ClientAt
from tests.support.analytics_seed import AUDIT, ORDERS, PROFILES, TAGS, seeding, sh
from tests.support.root_fields import AGGREGATE_QUERIES, every_mutation, individual_queries

# --- nobody but an analyst, and an analyst never one person ------------------------------------


async def test_an_analyst_is_forbidden_every_individual_query_and_every_mutation(
    database: Database, vault: Vault, client_at: ClientAt
) -> None:
    async with seeding(database, vault) as seed:
        profile = await seed.join("person", sh("2026-03-05"))
        await seed.tag("person", "club", sh("2026-03-06"))
        profile_id = profile.public_id
    analyst = client_at(Role.ANALYST)
    schema = build_schema()._schema
    assert schema.query_type is not None and schema.mutation_type is not None

    queries = individual_queries(profile_id)
    assert set(queries) == set(schema.query_type.fields) - AGGREGATE_QUERIES
    for name, documents in queries.items():
        for document in documents:
            body = await gql(analyst, document)
            assert error_codes(body) == ["FORBIDDEN"], (name, body)
            assert body["data"] == {name: None}, body
            assert profile_id not in str(body)

    mutations = every_mutation(profile_id)
    assert set(mutations) == set(schema.mutation_type.fields)
    for name, selection in mutations.items():
        body = await gql(analyst, f"mutation {{ {selection} }}")
        assert error_codes(body) == ["FORBIDDEN"], (name, body)
        assert body["data"] == {name: None}, body
    # Nothing the analyst tried happened.
    async with database.transaction() as session:
        tags = await session.scalars(sa.select(TAGS.c.tag))
        assert sorted(tags) == ["club"]
        assert await session.scalar(sa.select(sa.func.count()).select_from(ORDERS)) == 0
        assert await session.scalar(sa.select(sa.func.count()).select_from(PROFILES)) == 1


def test_an_analyst_is_denied_every_profile_field_and_analytics_reaches_no_person() -> None:
    from cdp.policy import Access, rule_for

    schema = build_schema()._schema
    profile_type = schema.type_map["Profile"]
    assert isinstance(profile_type, GraphQLObjectType)
    for name in profile_type.fields:
        rule = rule_for("Profile", name)
        assert rule is not None and rule.decide(Role.ANALYST) is Access.DENY, name

    def reachable(type_name: str, seen: set[str]) -> set[str]:
        graphql_type = schema.type_map[type_name]
        seen.add(type_name)
        if isinstance(graphql_type, GraphQLObjectType):
            for f in graphql_type.fields.values():
                inner = f.type
                while isinstance(inner, GraphQLNonNull | GraphQLList):
                    inner = inner.of_type
                if inner.name not in seen:
                    reachable(inner.name, seen)
        return seen

    types = reachable("Analytics", set())
    objects = {t for t in types if isinstance(schema.type_map[t], GraphQLObjectType)}
    assert objects == {
        "Analytics",
        "CountBreakdown",
        "CountCell",
        "RateCell",
        "OrderSourceBreakdown",
        "OrderSourceCell",
        "Retention",
        "SeriesPoint",
        "SeriesCell",
    }
    # Nothing but numbers, flags, keys and channels: no ID, no person.
    assert "ID" not in types and "Channel" in types
    assert isinstance(schema.type_map["Channel"], GraphQLEnumType)


async def test_analytics_is_forbidden_to_every_role_but_the_analyst_and_the_marketer(
    client_at: ClientAt,
) -> None:
    document = (
        '{ analytics { minimumGroupSize membersByTier(from: "2026-03-01", to: "2026-03-31") '
        f"{BREAKDOWN} }} }}"
    )
    for role in (Role.CUSTOMER, Role.SUPPORT, Role.COMPLIANCE, Role.SERVICE):
        body = await gql(client_at(role), document)
        assert error_codes(body) == ["FORBIDDEN"], role
        assert body["data"] == {"analytics": None}
    for role in (Role.ANALYST, Role.MARKETER):  # the marketer reads the same aggregates
        body = await gql(client_at(role), document)
        assert "errors" not in body, body


async def test_reading_analytics_is_audited(database: Database, client_at: ClientAt) -> None:
    analyst = client_at(Role.ANALYST, subject="analyst-7")
    body = await gql(
        analyst,
        f'{{ analytics {{ membersByTier(from: "2026-03-01", to: "2026-03-31") {BREAKDOWN} '
        f'retention(from: "2026-03-01", to: "2026-03-31") {RETENTION} }} }}',
    )
    assert "errors" not in body, body
    body = await gql(
        client_at(Role.SUPPORT, subject="support-7"), "{ analytics { minimumGroupSize } }"
    )
    assert error_codes(body) == ["FORBIDDEN"]
    async with database.transaction() as session:
        rows = (
            await session.execute(
                sa.select(
                    AUDIT.c.actor_subject,
                    AUDIT.c.actor_role,
                    AUDIT.c.action,
                    AUDIT.c.outcome,
                    AUDIT.c.profile_id,
                ).order_by(AUDIT.c.seq)
            )
        ).all()
    assert [tuple(r) for r in rows if r.actor_subject == "analyst-7"] == [
        ("analyst-7", "analyst", "analytics.read", "ok", None)
    ]
    assert [(r.action, r.outcome) for r in rows if r.actor_subject == "support-7"] == [
        ("query.analytics", "forbidden")
    ]
