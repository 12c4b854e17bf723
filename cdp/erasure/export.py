"""Everything cdp holds on one person, decrypted, as one machine-readable JSON document."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col

from cdp.audiences.models import AUDIENCES, CHANGES
from cdp.audit import trail as audit
from cdp.consent.models import Consent, ConsentChange, Contact
from cdp.db import utcnow
from cdp.events.models import Event
from cdp.keys.vault import Vault
from cdp.loyalty.models import Coupon, PointsEntry
from cdp.loyalty.points import current_balances
from cdp.orders import queries as orders
from cdp.orders.models import Order
from cdp.profiles.models import Identity, IdentityReview, Profile, ProfileMerge
from cdp.profiles.personal import PROFILE_FIELDS, read_field, read_open_id
from cdp.profiles.values import display_phone
from cdp.subscriptions.models import SubscribeGrant, WechatFollow
from cdp.tags.models import ProfileTag

FORMAT = "cdp.export/1"


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "value") and not isinstance(value, (int, str)):
        return value.value
    if isinstance(value, bytes):
        raise TypeError("sealed values are decrypted before export")
    return value


def _row(row: SQLModel, *names: str) -> dict[str, Any]:
    return {name: _plain(getattr(row, name)) for name in names}


async def _all(session: AsyncSession, model: type[SQLModel], profile_id: int) -> list[Any]:
    table = model.__table__  # type: ignore[attr-defined]
    query = sa.select(model).where(table.c.profile_id == profile_id).order_by(table.c.id)
    return list((await session.scalars(query)).all())


# What is exported of each row, in the document's order.
IDENTITY = ("channel", "app_id", "linked_at", "last_seen_at")
ORDER = (
    "public_id",
    "channel",
    "external_id",
    "status",
    "items_fen",
    "discount_fen",
    "shipping_fen",
    "total_fen",
    "entry_from",
    "entry_params",
    "paid_at",
    "updated_at",
)
ORDER_ITEM = ("sku", "name", "quantity", "unit_price_fen")
LEDGER = (
    "id",
    "kind",
    "points",
    "balance_after",
    "reason",
    "channel",
    "created_at",
    "expires_at",
)
COUPON = (
    "public_id",
    "title",
    "kind",
    "discount_fen",
    "percent_off",
    "min_spend_fen",
    "channels",
    "valid_from",
    "valid_until",
    "issued_at",
    "redeemed_at",
    "redeemed_channel",
)
TAG = ("tag", "source", "tagged_by", "tagged_at")
CONSENT = ("purpose", "channel", "granted", "notice_version", "source_channel", "updated_at")
CONSENT_CHANGE = (
    "purpose",
    "channel",
    "granted",
    "notice_version",
    "source_channel",
    "changed_by",
    "changed_at",
)
CONTACT = ("purpose", "channel", "sent_at")
EVENT = (
    "event_id",
    "type",
    "channel",
    "app_id",
    "entry_from",
    "entry_params",
    "properties",
    "occurred_at",
    "received_at",
)

FOLLOW = ("app_id", "following", "since", "scene")
GRANT = ("app_id", "template_id", "available", "choice", "chosen_at")
# A merge kept apart for review: what was decided and when, never the other profile.
REVIEW = ("public_id", "rule", "status", "created_at", "resolved_at", "reason")


async def _rows(
    session: AsyncSession, model: type[SQLModel], profile_id: int, names: tuple[str, ...]
) -> list[dict[str, Any]]:
    return [_row(row, *names) for row in await _all(session, model, profile_id)]


async def export_profile(
    *, session: AsyncSession, vault: Vault, profile: Profile, purpose: str
) -> dict[str, Any]:
    """The person's data (PIPL Art. 45, GDPR Art. 15); the export is audited."""
    assert profile.id is not None
    pid = profile.id
    exported_orders = await _orders(session, vault, pid)
    balance = (await current_balances(session=session, profile_ids=[pid], now=utcnow()))[pid]
    document = {
        "format": FORMAT,
        "generated_at": utcnow().isoformat(),
        "profile": await _profile(session, vault, profile),
        "merged_profile_ids": await _merged_ids(session, pid),
        "identities": await _identities(session, vault, pid),
        "points": {"balance": balance, "ledger": await _rows(session, PointsEntry, pid, LEDGER)},
        "coupons": await _rows(session, Coupon, pid, COUPON),
        "orders": exported_orders,
        "tags": await _rows(session, ProfileTag, pid, TAG),
        "consents": {
            "current": await _rows(session, Consent, pid, CONSENT),
            "history": await _rows(session, ConsentChange, pid, CONSENT_CHANGE),
        },
        "contacts": await _rows(session, Contact, pid, CONTACT),
        "events": await _rows(session, Event, pid, EVENT),
        "wechat_follows": await _rows(session, WechatFollow, pid, FOLLOW),
        "wechat_subscribe_grants": await _rows(session, SubscribeGrant, pid, GRANT),
        "identity_reviews": await _rows(session, IdentityReview, pid, REVIEW),
        "audience_changes": await _audience_changes(session, pid),
    }
    audit.record(
        session,
        action="export",
        profile_id=pid,
        purpose=purpose,
        fields=[{"field": f, "access": "full"} for f in sorted(PROFILE_FIELDS)],
        detail={"orders": len(exported_orders), "events": len(document["events"])},
    )
    return document


async def _profile(session: AsyncSession, vault: Vault, profile: Profile) -> dict[str, Any]:
    """The profile row with its personal fields decrypted."""
    personal = {
        field: await read_field(session=session, vault=vault, profile=profile, field=field)
        for field in PROFILE_FIELDS
    }
    address = personal.pop("address")
    if personal["phone"] is not None:  # as the person knows it; E.164 is only how it is stored
        personal["phone"] = display_phone(personal["phone"])
    birthday = personal.pop("birthday")
    return {
        **_row(profile, "public_id", "tier", "created_at", "updated_at"),
        # Whether the phone was verified, and by what (WeChat, an SMS code, or typed in).
        **_row(profile, "phone_verified", "phone_source"),
        **personal,
        "address": None
        if address is None
        else {k: getattr(address, k) for k in ("province", "city", "district", "street")},
        "birthday": None if birthday is None else birthday.isoformat(),
    }


async def _audience_changes(session: AsyncSession, pid: int) -> list[dict[str, Any]]:
    """Each time the person entered or left an audience: which, when and why."""
    rows = await session.execute(
        sa.select(
            AUDIENCES.c.name, CHANGES.c.change, CHANGES.c.why, CHANGES.c.trigger, CHANGES.c.at
        )
        .join(AUDIENCES, AUDIENCES.c.id == CHANGES.c.audience_id)
        .where(CHANGES.c.profile_id == pid)
        .order_by(CHANGES.c.id)
    )
    return [
        {"audience": name, "change": change, "why": why, "trigger": trigger, "at": _plain(at)}
        for name, change, why, trigger, at in rows
    ]


async def _merged_ids(session: AsyncSession, pid: int) -> list[str]:
    """The public ids of the profiles merged into this one."""
    merged = await session.scalars(
        sa.select(col(ProfileMerge.loser_public_id)).where(col(ProfileMerge.survivor_id) == pid)
    )
    return list(merged.all())


async def _identities(session: AsyncSession, vault: Vault, pid: int) -> list[dict[str, Any]]:
    identities = []
    for identity in await _all(session, Identity, pid):
        entry = _row(identity, *IDENTITY)
        entry["open_id"] = await read_open_id(session=session, vault=vault, identity=identity)
        identities.append(entry)
    return identities


async def _orders(session: AsyncSession, vault: Vault, pid: int) -> list[dict[str, Any]]:
    """The person's orders with their items and decrypted shipping addresses."""
    order_rows: list[Order] = await _all(session, Order, pid)
    items = await orders.items_of(session=session, order_ids=[o.id or 0 for o in order_rows])
    exported = []
    for order in order_rows:
        entry = _row(order, *ORDER)
        entry["items"] = [_row(i, *ORDER_ITEM) for i in items[order.id or 0]]
        shipping = await orders.shipping_address(session=session, vault=vault, order=order)
        entry["shipping_address"] = None if shipping is None else asdict(shipping)
        exported.append(entry)
    return exported
