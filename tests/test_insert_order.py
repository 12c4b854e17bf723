"""Inserting many rows that skip duplicates: two transactions with overlapping keys in
opposite orders both finish (PostgreSQL would otherwise find them waiting for each other;
SQLite serialises them)."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from cdp.db import Database, insert_ignoring_duplicates

ROWS = 3000


async def test_overlapping_batches_in_opposite_orders_never_deadlock(database: Database) -> None:
    table = sa.Table(
        "insert_order_probe",
        sa.MetaData(),
        sa.Column("k", sa.Text, primary_key=True),
        sa.Column("n", sa.Integer),
    )
    async with database.engine.begin() as conn:
        await conn.run_sync(table.create)
    keys = [f"k{n:05d}" for n in range(ROWS)]
    try:
        for _ in range(3):
            async with database.engine.begin() as conn:
                await conn.execute(table.delete())

            async def insert(order: list[str]) -> set[str]:
                async with database.transaction() as session:
                    rows = [{"k": k, "n": 1} for k in order]
                    return await insert_ignoring_duplicates(session, table, rows, key="k")

            first, second = await asyncio.gather(insert(keys), insert(keys[::-1]))
            assert first | second == set(keys) and not first & second
    finally:
        async with database.engine.begin() as conn:
            await conn.run_sync(table.drop)
