"""Migrations: `alembic upgrade head` on an empty database yields exactly the models."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import cdp.models
from cdp.db import Database
from cdp.events.keys import PG_ONLY
from cdp.migrations import head_revision, upgrade_to_head
from tests.conftest import fresh_pg_database, make_settings
from tests.pg_cluster import PgCluster


@pytest.fixture
async def empty_database_url(backend: str, tmp_path: Path, pg_cluster: PgCluster | None) -> str:
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    assert pg_cluster is not None
    return await fresh_pg_database(pg_cluster, template=None)


async def test_upgrade_head_on_an_empty_database_matches_the_models(
    empty_database_url: str,
) -> None:
    settings = make_settings(empty_database_url)
    await asyncio.to_thread(upgrade_to_head, settings)
    database = Database(settings)

    def differences(connection: Any, metadata: sa.MetaData) -> list[Any]:
        include = of_the_models if metadata is cdp.models.metadata else of_pg_only
        options = {"compare_type": True, "include_object": include}
        context = MigrationContext.configure(connection, opts=options)
        return list(compare_metadata(context, metadata))

    try:
        async with database.engine.connect() as connection:
            diff = await connection.run_sync(differences, cdp.models.metadata)
            pg_only = await connection.run_sync(differences, PG_ONLY)
            version = (
                await connection.exec_driver_sql("SELECT version_num FROM alembic_version")
            ).scalar_one()
    finally:
        await database.dispose()
    if database.dialect == "postgresql":
        # What a table partitioned by month cannot keep (migration 0025): its unique keys.
        assert sorted(map(what, diff)) == PARTITIONED_DIFFERENCES
        assert pg_only == []
    else:
        assert diff == []
        assert [d[0] for d in pg_only] == ["add_table", "add_index"]  # event_keys: PostgreSQL
    assert version == head_revision()


# A month's partition (`events_p202612`, `events_default`) is part of its table, not a table
# of the models; event_keys is compared on its own (PG_ONLY, cdp.events.keys).
MONTH = re.compile(r"_(p\d{6}|default)$")
PARTITIONED_DIFFERENCES = [
    ("add_constraint", "contacts", "idempotency_key"),
    ("add_constraint", "events", "event_id"),
    ("remove_index", "contacts", "idempotency_key"),
]


def of_the_models(_obj: Any, name: str | None, type_: str, reflected: bool, _to: Any) -> bool:
    if type_ != "table" or not reflected:
        return True
    return not MONTH.search(name or "") and name not in PG_ONLY.tables


def of_pg_only(_obj: Any, name: str | None, type_: str, _reflected: bool, _to: Any) -> bool:
    return type_ != "table" or name in PG_ONLY.tables


def what(difference: Any) -> tuple[str, str, str]:
    kind, element = difference[0], difference[1]
    return kind, element.table.name, ",".join(c.name for c in element.columns)


async def test_upgrade_head_twice_is_harmless(empty_database_url: str) -> None:
    settings = make_settings(empty_database_url)
    await asyncio.to_thread(upgrade_to_head, settings)
    await asyncio.to_thread(upgrade_to_head, settings)
