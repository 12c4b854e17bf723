"""The directory of lookup keys (cdp/profiles/directory.py): a lookup by public id, UnionID,
OpenID or phone reads one shard of the directory and then the person's shard on Citus (EXPLAIN
shows one task each), a unique key is unique across shards, and the directory follows links,
phone changes, merges and erasure on every database."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.exc import IntegrityError

from cdp.channels import Channel
from cdp.config import Settings
from cdp.db import Database
from cdp.keys.vault import Vault
from cdp.linking.link import link_identity
from cdp.migrations import alembic_config
from cdp.profiles import service
from cdp.profiles.directory import KEYS, KeyKind
from cdp.profiles.models import Profile
from cdp.profiles.values import ProfileKeys
from tests.conftest import audited
from tests.support.people import MINI, OFFICIAL

pytestmark = pytest.mark.citus

UNION = "oUnion_directory_0000000001"
OPEN = "oMini_directory_00000000001"


async def _link(
    database: Database, vault: Vault, settings: Settings, open_id: str, union: str | None
) -> Profile:
    async with audited(database) as session:
        outcome = await link_identity(
            session=session,
            vault=vault,
            settings=settings,
            channel=Channel.MINI_PROGRAM,
            app_id=MINI,
            open_id=open_id,
            union_id=union,
        )
        return outcome.profile


async def _set_phone(database: Database, vault: Vault, public_id: str, phone: str | None) -> None:
    async with audited(database) as session:
        profile = await service.get_profile(session=session, public_id=public_id)
        assert profile is not None
        await service.update_personal_fields(
            session=session, vault=vault, profile=profile, phone=phone
        )


async def _keys(database: Database) -> list[tuple[str, int]]:
    async with database.transaction() as session:
        rows = await session.execute(sa.select(KEYS.c.kind, KEYS.c.profile_id))
        return sorted((kind, owner) for kind, owner in rows)


@pytest.fixture
def statements(database: Database) -> Iterator[list[tuple[str, Any]]]:
    """Every statement the database runs while the test looks."""
    seen: list[tuple[str, Any]] = []

    def note(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        seen.append((statement, params))

    engine = database.engine.sync_engine
    sa.event.listen(engine, "before_cursor_execute", note)
    yield seen
    sa.event.remove(engine, "before_cursor_execute", note)


async def test_each_lookup_reads_one_shard_of_each_table_on_the_cluster(
    backend: str,
    database: Database,
    vault: Vault,
    settings: Settings,
    statements: list[tuple[str, Any]],
) -> None:
    if backend != "citus":
        pytest.skip("the shards of a Citus cluster")
    person = await _link(database, vault, settings, OPEN, UNION)
    await _set_phone(database, vault, person.public_id, "13812345678")
    lookups = [
        ProfileKeys(public_id=person.public_id),
        ProfileKeys(union_id=UNION),
        ProfileKeys(open_id=OPEN),
        ProfileKeys(open_id=OPEN, app_id=MINI),
        ProfileKeys(phone="13812345678"),
    ]
    for keys in lookups:
        statements.clear()
        async with audited(database) as session:
            found = await service.find_profile(session=session, vault=vault, keys=keys)
            assert found is not None and found.id == person.id, keys
        reads = [(s, p) for s, p in statements if s.lstrip().upper().startswith("SELECT")]
        assert reads, keys
        routed = 0
        async with database.engine.connect() as conn:
            for statement, params in reads:
                plan = "\n".join(
                    row[0]
                    for row in await conn.exec_driver_sql(f"EXPLAIN {statement}", params or ())
                )
                counts = [
                    line.split(":")[1].strip() for line in plan.splitlines() if "Task Count" in line
                ]
                assert counts in ([], ["1"]), (keys, statement, plan)
                routed += counts == ["1"]
        assert routed >= 2, "the directory's shard, then the person's"
        shown = [s for s, _ in reads if "profile_keys" in s]
        assert shown, "the lookup goes through the directory"


async def test_a_union_id_cannot_be_held_by_two_people_even_on_two_shards(
    database: Database, vault: Vault, settings: Settings
) -> None:
    first = await _link(database, vault, settings, OPEN, UNION)
    # Profile ids 1..20 spread over every shard: some other profile is on another shard.
    others = [
        await _link(database, vault, settings, f"oMini_other_{n:016d}", None) for n in range(3)
    ]
    union_bidx = vault.blind_index("union", UNION)
    for other in others:
        with pytest.raises(IntegrityError):
            async with database.transaction() as session:
                await session.execute(
                    sa.insert(KEYS).values(
                        key_hash=union_bidx, kind=KeyKind.UNION_ID.value, profile_id=other.id
                    )
                )
    async with audited(database) as session:
        again = await link_identity(
            session=session,
            vault=vault,
            settings=settings,
            channel=Channel.OFFICIAL_ACCOUNT,
            app_id=OFFICIAL,
            open_id="oOffi_directory_00000000001",
            union_id=UNION,
        )
    assert again.profile.id == first.id, "another app's OpenID with the UnionID joins its person"


async def test_the_directory_follows_a_phone_change_and_its_verification(
    database: Database, vault: Vault, settings: Settings
) -> None:
    person = await _link(database, vault, settings, OPEN, None)
    assert person.id is not None
    await _set_phone(database, vault, person.public_id, "13812345678")
    assert (KeyKind.PHONE.value, person.id) in await _keys(database)
    await _set_phone(database, vault, person.public_id, "13912345678")
    async with audited(database) as session:
        gone = await service.find_by_phone(session=session, vault=vault, phone="13812345678")
        now = await service.find_by_phone(session=session, vault=vault, phone="13912345678")
    assert gone is None and now is not None and now.id == person.id
    await _set_phone(database, vault, person.public_id, None)
    assert KeyKind.PHONE.value not in {kind for kind, _ in await _keys(database)}


async def test_a_merge_hands_the_losers_keys_to_the_survivor(
    database: Database, vault: Vault, settings: Settings
) -> None:
    older = await _link(database, vault, settings, OPEN, UNION)
    async with audited(database) as session:
        newer = (
            await link_identity(
                session=session,
                vault=vault,
                settings=settings,
                channel=Channel.OFFICIAL_ACCOUNT,
                app_id=OFFICIAL,
                open_id="oOffi_directory_00000000001",
            )
        ).profile
    assert newer.id != older.id
    async with audited(database) as session:
        merged = await link_identity(
            session=session,
            vault=vault,
            settings=settings,
            channel=Channel.OFFICIAL_ACCOUNT,
            app_id=OFFICIAL,
            open_id="oOffi_directory_00000000001",
            union_id=UNION,
        )
    assert merged.merged_profile_ids == (newer.id,)
    keys = await _keys(database)
    assert {owner for _, owner in keys} == {older.id}
    assert sorted(kind for kind, _ in keys) == sorted(
        ["public_id", "union_id", "open_id", "app_open_id", "open_id", "app_open_id"]
    )
    async with audited(database) as session:
        alias = await service.get_profile(session=session, public_id=newer.public_id)
    assert alias is not None and alias.id == older.id


async def test_the_migration_fills_the_directory_from_the_rows_there_are(
    database: Database, vault: Vault, settings: Settings
) -> None:
    person = await _link(database, vault, settings, OPEN, UNION)
    await _set_phone(database, vault, person.public_id, "13812345678")
    before = await _keys(database)
    config = alembic_config(settings)
    await asyncio.to_thread(command.downgrade, config, "0026_citus_distribution")
    await asyncio.to_thread(command.upgrade, config, "head")
    assert await _keys(database) == before
    async with audited(database) as session:
        found = await service.find_profile(
            session=session, vault=vault, keys=ProfileKeys(phone="13812345678")
        )
    assert found is not None and found.id == person.id
