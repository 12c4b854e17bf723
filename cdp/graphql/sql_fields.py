"""What each field of `me`'s types answers from the rows of one read (cdp.readmodel.person):
`FIELDS[type][field]` is a spec (cdp.graphql.sql_readers) that, given the field's literal
arguments, notes what the read must fetch and returns the reader `(source, run) -> value`,
the value the field's resolver would return. A field not in the table, or arguments a spec
cannot answer exactly (a cursor), raise `NotCompiled`: the executor runs the document.
"""

from __future__ import annotations

from typing import Any

from cdp.channels import Channel
from cdp.graphql import sql_readers as r
from cdp.graphql.sql_readers import Spec
from cdp.loyalty.coupons import status_of
from cdp.profiles.values import display_phone

FIELDS: dict[str, dict[str, Spec]] = {
    "Profile": {
        "id": r.row_of("public_id"),
        "tier": r.needing("spend", lambda s, run: run.thresholds.tier_for(s.spend)),
        "tierProgress": r.needing("spend", r.tier_progress),
        "createdAt": r.row_of("created_at"),
        "updatedAt": r.row_of("updated_at"),
        "unionId": r.sealed("union_id"),
        "identities": r.needing("identities", lambda s, run: s.identities),
        "phone": r.sealed("phone", display_phone),
        "phoneVerified": r.phone_known("phone_verified"),
        "phoneSource": r.phone_known("phone_source"),
        "name": r.sealed("name"),
        "address": r.sealed("address"),
        "birthday": r.sealed("birthday", lambda d: d.isoformat()),
        "points": r.needing("balance", lambda s, run: s),
        "coupons": r.coupons,
        "orders": r.orders,
        "tags": r.tags,
        "consents": r.same,
        "wechatFollows": r.needing("follows", lambda s, run: s.follows),
    },
    "TierProgress": {
        n: r.plain(a)
        for n, a in (
            ("spendFen", "spend_fen"),
            ("nextTier", "next_tier"),
            ("nextTierFen", "next_tier_fen"),
        )
    },
    "Address": {n: r.plain(n) for n in ("province", "city", "district", "street")},
    "Identity": {
        "channel": r.plain("channel"),
        "appId": r.plain("app_id"),
        "openId": lambda arguments, need: r.open_id,
        "linkedAt": r.plain("linked_at"),
    },
    "Points": {"balance": r.plain("balance"), "history": r.history},
    "PointsHistoryPage": r.page_fields(),
    "CouponPage": r.page_fields(),
    "OrderPage": r.page_fields(),
    "TagPage": r.page_fields(),
    "ConsentHistoryPage": r.page_fields(),
    "PageInfo": {"endCursor": r.plain("end_cursor"), "hasNextPage": r.plain("has_next_page")},
    "PointsEntry": {
        "id": lambda arguments, need: lambda source, run: str(source.id),
        **{
            n: r.plain(a)
            for n, a in (
                ("kind", "kind"),
                ("points", "points"),
                ("balanceAfter", "balance_after"),
                ("reason", "reason"),
                ("channel", "channel"),
                ("createdAt", "created_at"),
                ("expiresAt", "expires_at"),
            )
        },
    },
    "Coupon": {
        "id": r.plain("public_id"),
        "channels": lambda arguments, need: (
            lambda source, run: [Channel(c) for c in source.channels]
        ),
        "status": lambda arguments, need: lambda source, run: status_of(source, run.now),
        **{
            n: r.plain(a)
            for n, a in (
                ("title", "title"),
                ("kind", "kind"),
                ("discountFen", "discount_fen"),
                ("percentOff", "percent_off"),
                ("minSpendFen", "min_spend_fen"),
                ("validFrom", "valid_from"),
                ("validUntil", "valid_until"),
                ("issuedAt", "issued_at"),
                ("redeemedAt", "redeemed_at"),
                ("redeemedChannel", "redeemed_channel"),
            )
        },
    },
    "Order": {
        "id": r.plain("public_id"),
        "items": r.items,
        "shippingAddress": lambda arguments, need: r.shipping_address,
        **{
            n: r.plain(a)
            for n, a in (
                ("channel", "channel"),
                ("externalId", "external_id"),
                ("status", "status"),
                ("itemsFen", "items_fen"),
                ("discountFen", "discount_fen"),
                ("shippingFen", "shipping_fen"),
                ("totalFen", "total_fen"),
                ("entryFrom", "entry_from"),
                ("entryParams", "entry_params"),
                ("paidAt", "paid_at"),
                ("updatedAt", "updated_at"),
            )
        },
    },
    "OrderItem": {
        "amountFen": lambda arguments, need: (
            lambda source, run: source.quantity * source.unit_price_fen
        ),
        **{
            n: r.plain(a)
            for n, a in (
                ("sku", "sku"),
                ("name", "name"),
                ("quantity", "quantity"),
                ("unitPriceFen", "unit_price_fen"),
            )
        },
    },
    "Tag": {"name": r.plain("tag"), "source": r.plain("source"), "taggedAt": r.plain("tagged_at")},
    "Consents": {"current": r.needing("consents", r.current), "history": r.consent_history},
    "ConsentState": {
        n: r.plain(a)
        for n, a in (
            ("purpose", "purpose"),
            ("channel", "channel"),
            ("granted", "granted"),
            ("explicit", "explicit"),
            ("noticeVersion", "notice_version"),
            ("sourceChannel", "source_channel"),
            ("updatedAt", "updated_at"),
        )
    },
    "ConsentChange": {
        n: r.plain(a)
        for n, a in (
            ("purpose", "purpose"),
            ("channel", "channel"),
            ("granted", "granted"),
            ("noticeVersion", "notice_version"),
            ("sourceChannel", "source_channel"),
            ("changedBy", "changed_by"),
            ("changedAt", "changed_at"),
        )
    },
    "WechatFollow": {
        n: r.plain(a)
        for n, a in (
            ("appId", "app_id"),
            ("following", "following"),
            ("since", "since"),
            ("scene", "scene"),
        )
    },
}


def audit_profile_id(type_name: str, source: Any) -> int:
    """The profile a personal field's read is recorded against (`audit_profile_id`)."""
    return int(source.profile.id if type_name == "Profile" else source.profile_id)
