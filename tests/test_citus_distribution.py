"""The distribution plan (cdp/distribution.py) covers every table, and `cdp migrate` on a
Citus cluster places every table where the plan says (`citus_tables`)."""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator

import asyncpg
import pytest

import cdp.models
from cdp import distribution
from cdp.events.keys import PG_ONLY
from tests.support.citus import CitusCluster, copy_database

_names = itertools.count()


def test_every_table_has_one_place_in_the_plan() -> None:
    planned = [
        *distribution.BY_PERSON,
        *distribution.BY_KEY,
        *distribution.REFERENCE,
        *distribution.LOCAL,
    ]
    tables = {*cdp.models.metadata.tables, *PG_ONLY.tables, "alembic_version"}
    assert sorted(planned) == sorted(set(planned)), "a table is in two places"
    assert set(planned) == tables


def test_every_table_holding_a_person_is_distributed_by_that_person() -> None:
    for name, table in cdp.models.metadata.tables.items():
        if name in distribution.BY_PERSON and name != distribution.ANCHOR:
            assert distribution.BY_PERSON[name] in table.c, name
            assert not table.c[distribution.BY_PERSON[name]].nullable, name


@pytest.fixture
async def cluster_connection(
    citus_cluster: CitusCluster | None, citus_template: str | None
) -> AsyncIterator[asyncpg.Connection]:
    if citus_cluster is None or citus_template is None:
        pytest.skip("Citus is not installed (see the warning above)")
    url = await copy_database(
        citus_cluster, citus_template, f"cdp_plan_{os.getpid()}_{next(_names)}"
    )
    conn = await asyncpg.connect(url.replace("+asyncpg", ""))
    yield conn
    await conn.close()


@pytest.mark.slow
async def test_the_cluster_places_every_table_where_the_plan_says(
    cluster_connection: asyncpg.Connection,
) -> None:
    rows = await cluster_connection.fetch(
        # A partition (of events, contacts, audit records) is placed with its table.
        "SELECT table_name::text AS name, citus_table_type AS kind, distribution_column AS "
        "column, colocation_id FROM citus_tables t JOIN pg_class c ON c.oid = t.table_name "
        "WHERE NOT c.relispartition"
    )
    placed = {row["name"]: row for row in rows}
    assert {name: row["kind"] for name, row in placed.items()} == {
        **{name: "distributed" for name in [*distribution.BY_PERSON, *distribution.BY_KEY]},
        **{name: "reference" for name in distribution.REFERENCE},
    }
    for name, column in distribution.BY_KEY.items():
        # By its key, apart from the people: a lookup by key is one shard of it.
        assert placed[name]["column"] == column, name
        assert placed[name]["colocation_id"] != placed[distribution.ANCHOR]["colocation_id"]
    for name, column in distribution.BY_PERSON.items():
        assert placed[name]["column"] == column, name
        assert placed[name]["colocation_id"] == placed[distribution.ANCHOR]["colocation_id"], name


@pytest.mark.slow
async def test_one_persons_rows_share_a_shard_placement(
    cluster_connection: asyncpg.Connection,
) -> None:
    # Co-location: the shard of profile 42 in every person's table is on the same node.
    nodes = await cluster_connection.fetch(
        "SELECT DISTINCT nodeport FROM citus_shards s "
        "WHERE s.shardid = ANY(SELECT get_shard_id_for_distribution_column(t, 42) "
        "FROM unnest($1::regclass[]) AS t)",
        list(distribution.BY_PERSON),
    )
    assert len(nodes) == 1
    workers = await cluster_connection.fetchval(
        "SELECT count(*) FROM pg_dist_node WHERE noderole = 'primary' AND groupid <> 0"
    )
    assert workers == 2


@pytest.mark.slow
async def test_the_local_tables_stay_on_the_coordinator(
    cluster_connection: asyncpg.Connection,
) -> None:
    local = await cluster_connection.fetch(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition "
        "AND c.oid NOT IN (SELECT logicalrelid FROM pg_dist_partition)"
    )
    assert {row[0] for row in local} == set(distribution.LOCAL)
