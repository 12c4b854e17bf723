"""Retention (both databases): events older than 13 months and contacts older than 6 are
deleted, orders finished 3 years ago are de-identified, inactive members are anonymized only
when the policy is on; a dry run changes nothing; every run is audited with its counts and
the audit log still verifies; `cdp retention run` shows what it did."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from cdp.audit.models import AuditEvent
from cdp.audit.verify import verify_chain
from cdp.consent.models import Contact
from cdp.db import Database
from cdp.events.models import Event
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.orders.models import Order
from cdp.profiles.models import Profile
from cdp.retention.policies import Kind, months_before
from cdp.retention.run import run_retention
from tests.conftest import (
    KEYSTORES,
    TEST_JWT_SECRET,
    TEST_KEYRING,
    TEST_KEYRING_PATH,
    error_codes,
    gql,
    make_settings,
)
from tests.support.erasure_people import Person

KEYRING = KeyringSource.fixed(TEST_KEYRING)


async def age(database: Database, profile_id: str) -> None:
    """Make the person's events 14 months old, contacts 7 and orders finished 4 years ago."""
    now = datetime.now(UTC)
    async with database.transaction() as session:
        pid = await session.scalar(sa.select(Profile.id).where(Profile.public_id == profile_id))
        await session.execute(
            sa.update(Event)
            .where(Event.profile_id == pid)
            .values(occurred_at=months_before(now, 14))
        )
        await session.execute(
            sa.update(Contact)
            .where(Contact.profile_id == pid)
            .values(sent_at=months_before(now, 7))
        )
        await session.execute(
            sa.update(Order)
            .where(Order.profile_id == pid)
            .values(status="COMPLETED", updated_at=now - timedelta(days=4 * 366))
        )


async def counts(database: Database) -> dict[str, int]:
    async with database.transaction() as session:

        async def n(query: sa.Select[tuple[int]]) -> int:
            return int(await session.scalar(query) or 0)

        return {
            "events": await n(sa.select(sa.func.count()).select_from(Event)),
            "contacts": await n(sa.select(sa.func.count()).select_from(Contact)),
            "linked_orders": await n(
                sa.select(sa.func.count()).select_from(Order).where(Order.profile_id.is_not(None))  # type: ignore[union-attr]
            ),
        }


async def last_run(database: Database) -> dict[str, object]:
    async with database.transaction() as session:
        detail = await session.scalar(
            sa.select(AuditEvent.detail)
            .where(AuditEvent.action == "retention.run")
            .order_by(AuditEvent.seq.desc())  # type: ignore[attr-defined]
            .limit(1)
        )
    assert isinstance(detail, dict)
    return detail


async def test_expired_events_contacts_and_orders_go_and_the_rest_stays(
    people: tuple[Person, Person], database: Database, keystore: KeyStore
) -> None:
    anna, bystander = people
    before = await counts(database)
    assert before["events"] and before["contacts"] and before["linked_orders"]
    await age(database, anna.id)
    settings = database.settings
    dry = await run_retention(database, KEYRING, settings, keystore=keystore, dry_run=True)
    due = {o.policy.kind: o.due for o in dry}
    assert due[Kind.EVENTS] > 0 and due[Kind.CONTACTS] > 0 and due[Kind.ORDERS] == 2
    assert Kind.INACTIVE_MEMBERS not in due  # off by default
    assert await counts(database) == before
    assert (await last_run(database))["dryRun"] is True

    done = await run_retention(database, KEYRING, settings, keystore=keystore, dry_run=False)
    assert {o.policy.kind: o.done for o in done} == {**due, Kind.EXPORT_LINKS: 0}
    after = await counts(database)
    assert after["events"] == before["events"] - due[Kind.EVENTS]
    assert after["contacts"] == before["contacts"] - due[Kind.CONTACTS]
    assert after["linked_orders"] == before["linked_orders"] - 2
    run = await last_run(database)
    policies = run["policies"]
    assert isinstance(policies, dict)
    assert run["dryRun"] is False and policies["events"]["done"] == due[Kind.EVENTS]
    # The orders stay for accounting, each under a tombstone of its own.
    async with database.transaction() as session:
        tombstones = (
            await session.scalars(
                sa.select(Order.buyer_tombstone).where(Order.profile_id.is_(None))
            )  # type: ignore[union-attr]
        ).all()
    assert len(tombstones) == 2 and len(set(tombstones)) == 2
    # The person and the bystander are still there; the audit log still verifies.
    assert "errors" not in await gql(anna.customer, "query { me { id } }")
    assert "errors" not in await gql(bystander.customer, "query { me { id } }")
    assert (await verify_chain(database, TEST_KEYRING.audit_key)).intact
    again = await run_retention(database, KEYRING, settings, keystore=keystore, dry_run=False)
    assert all(o.done == 0 for o in again)


async def test_inactive_members_are_anonymized_only_when_the_policy_is_on(
    people: tuple[Person, Person], database: Database, keystore: KeyStore
) -> None:
    anna, _ = people
    later = datetime.now(UTC) + timedelta(days=3 * 366)
    off = await run_retention(
        database, KEYRING, database.settings, keystore=keystore, dry_run=False, now=later
    )
    assert Kind.INACTIVE_MEMBERS not in {o.policy.kind for o in off}
    assert "errors" not in await gql(anna.customer, "query { me { id } }")
    on = make_settings(database.settings.database_url, retention_inactive_member_years=2)
    outcomes = await run_retention(
        database, KEYRING, on, keystore=keystore, dry_run=False, now=later
    )
    (inactive,) = [o for o in outcomes if o.policy.kind is Kind.INACTIVE_MEMBERS]
    assert inactive.due == inactive.done == 2  # Anna and the bystander, three years idle
    assert error_codes(await gql(anna.customer, "query { me { id } }")) in (
        ["SUPPRESSED"],
        ["NOT_FOUND"],
    )


async def test_the_command_reports_a_dry_run_and_changes_nothing(
    people: tuple[Person, Person], database: Database, database_url: str
) -> None:
    anna, _ = people
    await age(database, anna.id)
    before = await counts(database)
    env = {
        **os.environ,
        "CDP_DATABASE_URL": database_url,
        "CDP_JWT_SECRET": TEST_JWT_SECRET,
        "CDP_KEYRING": str(TEST_KEYRING_PATH),
        **({"CDP_KEYSTORE_URL": KEYSTORES[database_url]} if database_url in KEYSTORES else {}),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cdp", "retention", "run", "--dry-run", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, err.decode()
    assert "orders: deidentify before" in out.decode() and "2 would expire" in out.decode()
    assert await counts(database) == before
