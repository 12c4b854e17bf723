"""Everything cdp holds on one person, decrypted, as one machine-readable JSON document."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col

from cdp.audit import trail as audit
from cdp.auth import Principal
from cdp.consent.models import Consent, ConsentChange, Contact
from cdp.db import utcnow
from cdp.events.models import Event
from cdp.keys.vault import Vault
from cdp.loyalty.models import Coupon, PointsEntry
from cdp.loyalty.points import current_balances
from cdp.orders import queries as orders
from cdp.orders.models import Order
from cdp.profiles.models import Identity, Profile, ProfileMerge
from cdp.profiles.personal import PROFILE_FIELDS, read_field, read_open_id
from cdp.profiles.values import display_phone
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


async def export_profile(
    *, session: AsyncSession, vault: Vault, actor: Principal, profile: Profile, purpose: str
) -> dict[str, Any]:
    """The person's data (PIPL Art. 45, GDPR Art. 15); the export is audited."""
    del actor
    assert profile.id is not None
    pid = profile.id
    personal = {
        field: await read_field(session=session, vault=vault, profile=profile, field=field)
        for field in PROFILE_FIELDS
    }
    address = personal.pop("address")
    if personal["phone"] is not None:  # as the person knows it; E.164 is only how it is stored
        personal["phone"] = display_phone(personal["phone"])
    birthday = personal.pop("birthday")
    identities = []
    for identity in await _all(session, Identity, pid):
        entry = _row(identity, "channel", "app_id", "linked_at", "last_seen_at")
        entry["open_id"] = await read_open_id(session=session, vault=vault, identity=identity)
        identities.append(entry)
    order_rows: list[Order] = await _all(session, Order, pid)
    items = await orders.items_of(session=session, order_ids=[o.id or 0 for o in order_rows])
    exported_orders = []
    for order in order_rows:
        entry = _row(
            order,
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
        entry["items"] = [
            _row(i, "sku", "name", "quantity", "unit_price_fen") for i in items[order.id or 0]
        ]
        shipping = await orders.shipping_address(session=session, vault=vault, order=order)
        entry["shipping_address"] = None if shipping is None else asdict(shipping)
        exported_orders.append(entry)
    balance = (await current_balances(session=session, profile_ids=[pid], now=utcnow()))[pid]
    merged = (
        await session.scalars(
            sa.select(col(ProfileMerge.loser_public_id)).where(col(ProfileMerge.survivor_id) == pid)
        )
    ).all()
    document = {
        "format": FORMAT,
        "generated_at": utcnow().isoformat(),
        "profile": {
            **_row(profile, "public_id", "tier", "created_at", "updated_at"),
            **personal,
            "address": None
            if address is None
            else {k: getattr(address, k) for k in ("province", "city", "district", "street")},
            "birthday": None if birthday is None else birthday.isoformat(),
        },
        "merged_profile_ids": list(merged),
        "identities": identities,
        "points": {
            "balance": balance,
            "ledger": [
                _row(
                    e,
                    "id",
                    "kind",
                    "points",
                    "balance_after",
                    "reason",
                    "channel",
                    "created_at",
                    "expires_at",
                )
                for e in await _all(session, PointsEntry, pid)
            ],
        },
        "coupons": [
            _row(
                c,
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
            for c in await _all(session, Coupon, pid)
        ],
        "orders": exported_orders,
        "tags": [
            _row(t, "tag", "source", "tagged_by", "tagged_at")
            for t in await _all(session, ProfileTag, pid)
        ],
        "consents": {
            "current": [
                _row(
                    c,
                    "purpose",
                    "channel",
                    "granted",
                    "notice_version",
                    "source_channel",
                    "updated_at",
                )
                for c in await _all(session, Consent, pid)
            ],
            "history": [
                _row(
                    c,
                    "purpose",
                    "channel",
                    "granted",
                    "notice_version",
                    "source_channel",
                    "changed_by",
                    "changed_at",
                )
                for c in await _all(session, ConsentChange, pid)
            ],
        },
        "contacts": [
            _row(c, "purpose", "channel", "sent_at") for c in await _all(session, Contact, pid)
        ],
        "events": [
            _row(
                e,
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
            for e in await _all(session, Event, pid)
        ],
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
