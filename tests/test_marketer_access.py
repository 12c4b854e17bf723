"""A marketer reads aggregates only: analytics and audiences with their counts; every query
that reaches one person, and every mutation but defining an audience, is FORBIDDEN."""

from __future__ import annotations

import sqlalchemy as sa

from cdp.auth import Role
from cdp.db import Database
from cdp.graphql.schema import build_schema
from cdp.keys.vault import Vault
from cdp.policy import Access, rule_for
from tests.conftest import error_codes, gql
from tests.support.analytics_measures import ClientAt
from tests.support.analytics_seed import ORDERS, PROFILES, TAGS, seeding, sh
from tests.support.root_fields import AGGREGATE_QUERIES, every_mutation, individual_queries

MARKETER_MUTATIONS = {"defineAudience", "scheduleCampaign", "cancelCampaign"}


async def test_a_marketer_is_forbidden_every_individual_query_and_every_other_mutation(
    database: Database, vault: Vault, client_at: ClientAt
) -> None:
    async with seeding(database, vault) as seed:
        profile = await seed.join("person", sh("2026-03-05"))
        await seed.tag("person", "club", sh("2026-03-06"))
        profile_id = profile.public_id
    marketer = client_at(Role.MARKETER)
    schema = build_schema()._schema
    assert schema.query_type is not None and schema.mutation_type is not None
    queries = individual_queries(profile_id)
    assert set(queries) == set(schema.query_type.fields) - AGGREGATE_QUERIES
    for name, documents in queries.items():
        for document in documents:
            body = await gql(marketer, document)
            assert error_codes(body) == ["FORBIDDEN"], (name, body)
            assert body["data"] == {name: None}, body
            assert profile_id not in str(body)
    every = every_mutation(profile_id)
    assert set(every) == set(schema.mutation_type.fields)
    mutations = {k: v for k, v in every.items() if k not in MARKETER_MUTATIONS}
    for name, selection in mutations.items():
        body = await gql(marketer, f"mutation {{ {selection} }}")
        assert error_codes(body) == ["FORBIDDEN"], (name, body)
        assert body["data"] == {name: None}, body
    async with database.transaction() as session:
        assert sorted(await session.scalars(sa.select(TAGS.c.tag))) == ["club"]
        assert await session.scalar(sa.select(sa.func.count()).select_from(ORDERS)) == 0
        assert await session.scalar(sa.select(sa.func.count()).select_from(PROFILES)) == 1


def test_the_policy_gives_the_marketer_aggregates_and_no_person() -> None:
    schema = build_schema()._schema
    assert schema.query_type is not None and schema.mutation_type is not None
    allowed_queries = {
        name
        for name in schema.query_type.fields
        if (rule := rule_for("Query", name)) is not None
        and rule.decide(Role.MARKETER) is Access.FULL
    }
    assert allowed_queries == AGGREGATE_QUERIES
    allowed_mutations = {
        name
        for name in schema.mutation_type.fields
        if (rule := rule_for("Mutation", name)) is not None
        and rule.decide(Role.MARKETER) is Access.FULL
    }
    assert allowed_mutations == MARKETER_MUTATIONS
    for type_name in ("Profile", "Order"):
        for field in schema.type_map[type_name].fields:  # type: ignore[union-attr]
            rule = rule_for(type_name, field)
            personal = type_name == "Profile" or field == "shippingAddress"
            if personal:
                assert rule is not None and rule.decide(Role.MARKETER) is Access.DENY, field


async def test_a_marketer_reads_analytics_like_an_analyst(client_at: ClientAt) -> None:
    body = await gql(client_at(Role.MARKETER), "{ analytics { minimumGroupSize } }")
    assert body == {"data": {"analytics": {"minimumGroupSize": 5}}}
