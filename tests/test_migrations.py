"""Migrations: `alembic upgrade head` on an empty database yields exactly the models."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import cdp.models
from cdp.db import Database
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

    def differences(connection: Any) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, cdp.models.metadata))

    try:
        async with database.engine.connect() as connection:
            diff = await connection.run_sync(differences)
            version = (
                await connection.exec_driver_sql("SELECT version_num FROM alembic_version")
            ).scalar_one()
    finally:
        await database.dispose()
    assert diff == []
    assert version == head_revision()


async def test_upgrade_head_twice_is_harmless(empty_database_url: str) -> None:
    settings = make_settings(empty_database_url)
    await asyncio.to_thread(upgrade_to_head, settings)
    await asyncio.to_thread(upgrade_to_head, settings)
