"""Retention by the month on PostgreSQL: an expired month's partition of events, contacts and
audit records is dropped whole while newer months stay; event ids stay unique across months
(a resend is a duplicate, whatever month it names); the audit log still verifies with the
keyring and with the public keys, and proves a kept record, once an old month is gone; the
migration converts a database with data (and back).
SQLite keeps one table per kind (tests/test_retention.py covers both databases)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic import command

from cdp.audit.models import AuditEvent
from cdp.audit.signing import load_public_keys, public_keys_document
from cdp.audit.tree import inclusion, verify_tree
from cdp.audit.verify import verify_chain
from cdp.channels import Channel
from cdp.consent.models import Contact
from cdp.db import Database
from cdp.events.keys import EVENT_KEYS
from cdp.events.models import Event
from cdp.events.service import EventInput, EventStatus, record_events
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.keys.vault import Vault
from cdp.migrations import alembic_config
from cdp.partitions import month_of, next_month
from cdp.retention.policies import Kind, months_before
from cdp.retention.run import run_retention
from tests.conftest import TEST_KEYRING, audited, make_settings
from tests.support.erasure_people import Person
from tests.support.sealing import inclusion_holds, sealed

PUBLIC = load_public_keys(json.dumps(public_keys_document(TEST_KEYRING)))
KEYRING = KeyringSource.fixed(TEST_KEYRING)


@pytest.fixture(autouse=True)
def postgresql_only(backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite has no partitions: retention deletes rows there")


async def tables(database: Database, like: str) -> set[str]:
    async with database.transaction() as session:
        found = await session.scalars(
            sa.text("SELECT relname FROM pg_class WHERE relkind = 'r' AND relname LIKE :p"),
            {"p": like},
        )
        return set(found)


async def one_event(
    vault: Vault,
    database: Database,
    person: Person,
    event_id: str,
    at: datetime,
    received: datetime | None = None,
) -> EventStatus:
    """Record an event of the person's as the service would, received at `received` (a
    minute after it happened unless given)."""
    async with audited(database) as session:
        event = EventInput(event_id, "page.view", Channel.MINI_PROGRAM, at, profile_id=person.id)
        [outcome] = await record_events(
            session=session, vault=vault, events=[event], now=received or at + timedelta(minutes=1)
        )
    return outcome.status


async def test_an_expired_month_of_events_and_contacts_is_dropped_and_newer_ones_stay(
    people: tuple[Person, Person], database: Database, keystore: KeyStore, vault: Vault
) -> None:
    _, bystander = people
    now = datetime.now(UTC)
    this_month, later_month = month_of(now), next_month(month_of(now))
    later = later_month + timedelta(days=3)
    assert (
        await one_event(vault, database, bystander, "evt-months-kept", later)
        is EventStatus.ACCEPTED
    )
    # The same id again, naming another month: still one event (event_keys spans the months).
    assert (
        await one_event(vault, database, bystander, "evt-months-kept", now) is EventStatus.DUPLICATE
    )
    async with database.transaction() as session:
        old_ids = list(
            await session.scalars(sa.select(Event.event_id).where(Event.occurred_at < later_month))
        )
        contacts = await session.scalar(sa.select(sa.func.count()).select_from(Contact))
    assert old_ids and contacts

    # Fourteen months after next month began: this month is past 13 months, next month not.
    future = months_before(later, -13)
    settings = make_settings(database.settings.database_url, retention_audit_years=0)
    dry = await run_retention(
        database, KEYRING, settings, keystore=keystore, dry_run=True, now=future
    )
    due = {o.policy.kind: o for o in dry}
    assert due[Kind.EVENTS].policy.cutoff == later_month  # whole months
    assert due[Kind.EVENTS].due == len(old_ids)
    done = await run_retention(
        database, KEYRING, settings, keystore=keystore, dry_run=False, now=future
    )
    outcome = {o.policy.kind: o for o in done}
    assert outcome[Kind.EVENTS].done == len(old_ids)
    assert outcome[Kind.CONTACTS].done == contacts

    assert f"events_p{this_month:%Y%m}" not in await tables(database, "events_p%")
    assert f"events_p{later_month:%Y%m}" in await tables(database, "events_p%")
    assert f"contacts_p{this_month:%Y%m}" not in await tables(database, "contacts_p%")
    # The months ahead of the run's own time were created by it.
    assert f"events_p{month_of(future):%Y%m}" in await tables(database, "events_p%")
    async with database.transaction() as session:
        kept = list(await session.scalars(sa.select(Event.event_id)))
        keys = set(await session.scalars(sa.select(EVENT_KEYS.c.event_id)))
    assert kept == ["evt-months-kept"] and keys == {"evt-months-kept"}
    # A resend of the kept event is still a duplicate; one of a dropped event (its id gone
    # with its month) is refused by its age, never recorded again.
    assert await one_event(vault, database, bystander, "evt-months-kept", later) is (
        EventStatus.DUPLICATE
    )
    replay = await one_event(vault, database, bystander, old_ids[0], now, received=future)
    assert replay is EventStatus.REJECTED


async def test_an_expired_month_of_audit_records_is_dropped_once_summarised_and_the_log_verifies(
    people: tuple[Person, Person], database: Database, keystore: KeyStore
) -> None:
    now = datetime.now(UTC)
    this_month = month_of(now)
    kept_month = next_month(next_month(this_month))  # created ahead by the migration
    # Records of a later month (as the log would hold a year on), sealed after this month's.
    async with database.transaction() as session:
        for n in range(3):
            await session.execute(
                sa.insert(AuditEvent).values(
                    seq=sa.func.nextval("audit_seq"),
                    occurred_at=kept_month + timedelta(days=1, minutes=n),
                    actor_subject="test-operator",
                    actor_role="operator",
                    action="pii.read",
                    outcome="ok",
                    fields=[],
                    detail={},
                )
            )
    await sealed(database)
    async with database.transaction() as session:
        old = list(
            await session.scalars(
                sa.select(AuditEvent.seq).where(AuditEvent.occurred_at < next_month(this_month))
            )
        )
        newer = list(
            await session.scalars(
                sa.select(AuditEvent.seq).where(AuditEvent.occurred_at >= kept_month)
            )
        )
    only_audit = make_settings(
        database.settings.database_url,
        retention_events_months=0,
        retention_contacts_months=0,
        retention_orders_years=0,
        retention_audit_years=1,
    )
    # A year after the kept month began: this month and the next are past, the kept one not.
    future = months_before(kept_month + timedelta(days=2), -12)
    done = await run_retention(
        database, KEYRING, only_audit, keystore=keystore, dry_run=False, now=future
    )
    (outcome,) = [o for o in done if o.policy.kind is Kind.AUDIT]
    assert outcome.policy.cutoff == kept_month and outcome.done == len(old)
    assert f"audit_events_p{this_month:%Y%m}" not in await tables(database, "audit_events_p%")
    assert f"audit_events_p{kept_month:%Y%m}" in await tables(database, "audit_events_p%")
    await sealed(database)
    async with database.transaction() as session:
        left = list(await session.scalars(sa.select(AuditEvent.seq).order_by(AuditEvent.seq)))
    assert left[: len(newer)] == newer and min(left) == max(old) + 1
    chain = await verify_chain(database, TEST_KEYRING.audit_key)
    assert chain.intact, chain.problem
    tree = await verify_tree(database, PUBLIC)
    assert tree.intact, tree.problem
    assert inclusion_holds(await inclusion(database, newer[0]))


async def test_the_migration_moves_a_database_with_data_into_months_and_back(
    people: tuple[Person, Person], database: Database, vault: Vault
) -> None:
    anna, _ = people
    await sealed(database)
    config = alembic_config(database.settings)
    await database.dispose()
    await asyncio.to_thread(command.downgrade, config, "0024_trusted_documents")
    before = await sizes(database)
    assert set(await tables(database, "events_p%")) == set()
    # Five months old, in the table as it was: the migration makes that month's partition.
    async with database.transaction() as session:
        await session.execute(
            sa.text(
                "UPDATE events SET occurred_at = occurred_at - interval '150 days' "
                "WHERE profile_id = (SELECT id FROM profiles WHERE public_id = :p)"
            ),
            {"p": anna.id},
        )
        aged = await session.scalar(sa.select(sa.func.min(Event.occurred_at)))
        replayed = await session.scalar(
            sa.select(Event.event_id).where(Event.occurred_at == aged).limit(1)
        )
    await database.dispose()
    await asyncio.to_thread(command.upgrade, config, "head")
    await database.dispose()
    assert await sizes(database) == before
    assert f"events_p{month_of(aged):%Y%m}" in await tables(database, "events_p%")
    async with database.transaction() as session:
        kinds = dict(
            (
                await session.execute(
                    sa.text(
                        "SELECT relname, CAST(relkind AS text) FROM pg_class WHERE relname IN "
                        "('events', 'contacts', 'audit_events')"
                    )
                )
            ).all()
        )
        keys = await session.scalar(sa.select(sa.func.count()).select_from(EVENT_KEYS))
    assert kinds == {"events": "p", "contacts": "p", "audit_events": "p"}
    assert keys == before["events"]
    # Ingest still knows the ids recorded before the migration, whatever month they are in.
    assert await one_event(vault, database, anna, str(replayed), aged) is EventStatus.DUPLICATE
    assert (await verify_chain(database, TEST_KEYRING.audit_key)).intact
    assert (await verify_tree(database, PUBLIC)).intact


async def sizes(database: Database) -> dict[str, int]:
    async with database.transaction() as session:
        return {
            table: int(await session.scalar(sa.text(f"SELECT count(*) FROM {table}")) or 0)
            for table in ("events", "contacts", "audit_events")
        }
