"""Retention by the month on PostgreSQL: events, contacts and audit records are partitioned by
month (cdp.partitions), and a month whose partition ends before a policy's cutoff is dropped
whole, a transaction each, instead of its rows being deleted. The cutoff is taken back to
the start of its month (`policies(..., whole_months=True)`), so a row is kept up to a month
longer than its policy says and never less; rows of that age outside a month's partition
(in the DEFAULT one) are deleted row by row afterwards, as on SQLite.

Events take their ids with them (`event_keys`, cdp.events.keys). Audit records go only once
summarised into the signed `expired` note, in the transaction that drops their month
(`cdp.audit.expiry.expire_partition`); a month the note cannot cover yet (records not
sealed) stops the audit expiry until the next run.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from cdp import partitions
from cdp.audit import expiry
from cdp.audit.trail import AuditTrail
from cdp.db import Database
from cdp.events.keys import forget_keys_between
from cdp.keys.source import KeyringSource
from cdp.partitions import Partition, Spec
from cdp.retention.policies import Kind, Policy
from cdp.unit_of_work import audited_transaction

SPECS = {Kind.EVENTS: partitions.EVENTS, Kind.CONTACTS: partitions.CONTACTS}


def spec_of(kind: Kind) -> Spec | None:
    return partitions.AUDIT if kind is Kind.AUDIT else SPECS.get(kind)


async def expired_months(database: Database, policy: Policy) -> list[Partition]:
    """The months of the policy's table that end at or before its cutoff, oldest first."""
    spec = spec_of(policy.kind)
    if spec is None or database.dialect != "postgresql":
        return []
    async with database.transaction() as session:
        found = await partitions.partitions(session, spec)
    return [p for p in found if p.end <= policy.cutoff]


async def count_in(database: Database, months: list[Partition]) -> int:
    async with database.transaction() as session:
        return sum([await partitions.rows_in(session, p) for p in months])


async def drop_months(
    database: Database,
    keyring: KeyringSource,
    trail: Callable[[], AuditTrail],
    policy: Policy,
    progress: Callable[[int], Awaitable[None]],
) -> int:
    """Drop every expired month of the policy's table; how many rows went with them."""
    done = 0
    for part in await expired_months(database, policy):
        async with audited_transaction(database, trail()) as session:
            if policy.kind is Kind.AUDIT:
                went = await expiry.expire_partition(session, keyring.keyring, part)
                if went is None:
                    break  # not sealed yet: this month and the later ones wait
            else:
                went = await partitions.rows_in(session, part)
                if policy.kind is Kind.EVENTS:
                    await forget_keys_between(session, part.start, part.end)
                await partitions.drop(session, part)
        done += went
        await progress(went)
    return done
