"""What the databases hold as raw bytes: the SQLite file and WAL, every PostgreSQL value."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from cdp.config import Settings
from cdp.db import Database


def raw_sqlite_bytes(settings: Settings) -> bytes:
    path = Path(settings.database_url.split("///", 1)[1])
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


async def stored_postgres_values(database: Database) -> bytes:
    """Every value of every text or binary column of every table, as stored."""
    chunks: list[bytes] = []
    async with database.transaction() as session:
        columns = (
            await session.execute(
                sa.text(
                    "SELECT table_name, column_name FROM information_schema.columns "
                    "WHERE table_schema = 'public' AND data_type IN "
                    "('text', 'character varying', 'bytea', 'json', 'jsonb')"
                )
            )
        ).all()
        for table, column in columns:
            rows = await session.execute(sa.text(f'SELECT "{column}"::text FROM "{table}"'))
            chunks.extend(str(value).encode() for (value,) in rows if value is not None)
    return b"\n".join(chunks)
