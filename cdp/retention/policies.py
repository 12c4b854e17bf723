"""The retention policies, one per kind of data, from the settings: what expires, from when,
and what expiry does (delete, or de-identify)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import col

from cdp.config import Settings
from cdp.consent.models import Contact
from cdp.events.models import Event
from cdp.orders.models import Order, OrderStatus
from cdp.partitions import month_of

# Finished orders: the E-commerce Law's clock runs from completion (or the refund).
FINISHED = (OrderStatus.COMPLETED, OrderStatus.REFUNDED)


class Kind(StrEnum):
    EVENTS = "events"
    CONTACTS = "contacts"
    ORDERS = "orders"
    INACTIVE_MEMBERS = "inactive_members"
    AUDIT = "audit"
    EXPORT_LINKS = "export_links"


class Action(StrEnum):
    DELETE = "delete"
    DEIDENTIFY = "deidentify"  # the row stays for accounting, with no link to the person
    ANONYMIZE = "anonymize"  # an erasure in ANONYMIZE mode
    SUMMARISE = "summarise"  # deleted, summarised into the log's signed `expired` note


@dataclass(frozen=True)
class Policy:
    kind: Kind
    action: Action
    cutoff: datetime  # what is older than this expires

    def describe(self) -> str:
        return f"{self.kind.value}: {self.action.value} before {self.cutoff.date().isoformat()}"


def months_before(now: datetime, months: int) -> datetime:
    """The same day and time `months` calendar months earlier (clamped to the month's end)."""
    year, month = divmod(now.year * 12 + now.month - 1 - months, 12)
    day = min(now.day, _days_in(year, month + 1))
    return now.replace(year=year, month=month + 1, day=day)


def _days_in(year: int, month: int) -> int:
    following = datetime(year + month // 12, month % 12 + 1, 1)
    return (following - timedelta(days=1)).day


def policies(settings: Settings, now: datetime, *, whole_months: bool = False) -> list[Policy]:
    """The policies in force (a setting of 0 keeps that kind for ever). With `whole_months`
    (PostgreSQL, where these tables are partitioned by month: cdp.retention.months) the
    cutoffs of events, contacts and audit records go back to the start of their month."""
    found: list[Policy] = []

    def by_month(cutoff: datetime) -> datetime:
        return month_of(cutoff) if whole_months else cutoff

    if settings.retention_events_months:
        cutoff = by_month(months_before(now, settings.retention_events_months))
        found.append(Policy(Kind.EVENTS, Action.DELETE, cutoff))
    if settings.retention_contacts_months:
        cutoff = by_month(months_before(now, settings.retention_contacts_months))
        found.append(Policy(Kind.CONTACTS, Action.DELETE, cutoff))
    if settings.retention_orders_years:
        cutoff = months_before(now, 12 * settings.retention_orders_years)
        found.append(Policy(Kind.ORDERS, Action.DEIDENTIFY, cutoff))
    if settings.retention_audit_years:
        cutoff = by_month(months_before(now, 12 * settings.retention_audit_years))
        found.append(Policy(Kind.AUDIT, Action.SUMMARISE, cutoff))
    if settings.retention_inactive_member_years:
        cutoff = months_before(now, 12 * settings.retention_inactive_member_years)
        found.append(Policy(Kind.INACTIVE_MEMBERS, Action.ANONYMIZE, cutoff))
    # Used or expired one-use links: nothing but housekeeping, a day after they expired.
    found.append(Policy(Kind.EXPORT_LINKS, Action.DELETE, now - timedelta(days=1)))
    return found


def expired_ids(policy: Policy) -> sa.Select[Any]:
    """The ids of the rows `policy` expires (for the row kinds), oldest first."""
    if policy.kind is Kind.EVENTS:
        return sa.select(col(Event.id)).where(col(Event.occurred_at) < policy.cutoff)
    if policy.kind is Kind.CONTACTS:
        return sa.select(col(Contact.id)).where(col(Contact.sent_at) < policy.cutoff)
    if policy.kind is Kind.ORDERS:
        return sa.select(col(Order.id)).where(
            col(Order.status).in_(FINISHED),
            col(Order.updated_at) < policy.cutoff,
            col(Order.profile_id).is_not(None),
        )
    raise ValueError(f"{policy.kind} is not a row kind")
