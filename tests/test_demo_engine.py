"""The seeding command's database: SQLite statements on the loop's thread, same data."""

from __future__ import annotations

import threading
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from cdp.demo import seed_demo_data
from cdp.demo.engine import seeding_database
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.keys.vault import Vault
from cdp.profiles.models import Profile
from cdp.profiles.personal import PERSONAL_FIELDS, read_field
from cdp.unit_of_work import audited_transaction, operator_trail
from tests.conftest import TEST_KEYRING, make_settings


async def test_seeding_runs_sqlite_statements_on_the_loop_thread_and_seals_everything(
    database_url: str, backend: str
) -> None:
    database = seeding_database(make_settings(database_url))
    keystore = KeyStore(database.settings)
    threads: set[int] = set()

    @event.listens_for(database.engine.sync_engine, "before_cursor_execute")
    def _seen(*_args: Any) -> None:
        threads.add(threading.get_ident())

    try:
        ids = await seed_demo_data(
            database, KeyringSource.fixed(TEST_KEYRING), keystore=keystore, profiles=6
        )
        trail = operator_trail(TEST_KEYRING, "test-operator")
        async with audited_transaction(database, trail) as session:
            profiles = (await session.scalars(sa.select(Profile))).all()
            vault = Vault(KeyringSource.fixed(TEST_KEYRING), keystore)
            for profile in profiles:
                for field in PERSONAL_FIELDS:
                    assert await read_field(
                        session=session, vault=vault, profile=profile, field=field
                    )
    finally:
        await database.dispose()
        await keystore.dispose()
    assert sorted(p.public_id for p in profiles) == sorted(ids)
    if backend == "sqlite":
        # aiosqlite routes every call through the method the seed overrides; if a release
        # stops doing so, the seed silently slows down again: this says so instead.
        assert threads == {threading.get_ident()}
