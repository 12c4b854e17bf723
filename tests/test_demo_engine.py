"""The seeding command's database: SQLite statements on the loop's thread, same data."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from cdp.db import utcnow
from cdp.demo import seed_demo_data
from cdp.demo.engine import seeding_database
from cdp.demo.known import KNOWN_PEOPLE
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.keys.vault import Vault
from cdp.profiles.models import Profile
from cdp.profiles.personal import PERSONAL_FIELDS, read_field
from cdp.profiles.values import normalize_phone
from cdp.tags.models import ProfileTag
from cdp.unit_of_work import audited_transaction, operator_trail
from tests.conftest import TEST_KEYRING, make_settings

pytestmark = pytest.mark.slow


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


async def test_the_documented_demo_people_come_first_whatever_the_seed_with_a_dated_past(
    database_url: str,
) -> None:
    database = seeding_database(make_settings(database_url))
    keystore = KeyStore(database.settings)
    vault = Vault(KeyringSource.fixed(TEST_KEYRING), keystore)
    try:
        ids = await seed_demo_data(
            database, KeyringSource.fixed(TEST_KEYRING), keystore=keystore, profiles=40, seed=7
        )
        async with audited_transaction(database, operator_trail(TEST_KEYRING, "t")) as session:
            known = [
                await session.scalar(sa.select(Profile).where(Profile.public_id == p.public_id))
                for p in KNOWN_PEOPLE
            ]
            phones = [
                await read_field(session=session, vault=vault, profile=p, field="phone")
                for p in known
                if p is not None
            ]
            tagged = (await session.scalars(sa.select(ProfileTag.tagged_at))).all()
            verified = (await session.scalars(sa.select(Profile.phone_verified))).all()
            first_seen = (await session.scalars(sa.select(Profile.created_at))).all()
    finally:
        await database.dispose()
        await keystore.dispose()
    assert ids[: len(KNOWN_PEOPLE)] == [p.public_id for p in KNOWN_PEOPLE]
    assert phones == [normalize_phone(p.phone) for p in KNOWN_PEOPLE]
    # The documented people authorised their phones; most others did, some typed theirs in.
    assert all(p is not None and p.phone_verified for p in known)
    assert 0.4 * len(verified) < sum(verified) < len(verified)
    # Tags, like first sightings, are spread over the past year, not dated when seeded.
    now = utcnow()
    for moments in (tagged, first_seen):
        assert all(now - timedelta(days=366) <= at <= now for at in moments)
        assert min(moments) < now - timedelta(days=90)
