"""Every domain enum the schema exposes, registered once before any type uses it."""

from __future__ import annotations

import strawberry

from cdp.channels import Channel
from cdp.consent.models import ConsentPurpose
from cdp.events.service import EventStatus
from cdp.loyalty.coupons import CouponStatus
from cdp.loyalty.models import CouponKind, EntryKind
from cdp.orders.models import OrderStatus
from cdp.profiles.models import Tier
from cdp.suppression.models import ErasureMode, ErasureStatus, SuppressionKind
from cdp.tags.models import TagSource

strawberry.enum(Channel, name="Channel", description="Where a person shows up.")
strawberry.enum(Tier, name="Tier", description="Membership tier from paid spend.")
strawberry.enum(EntryKind, name="PointsEntryKind")
strawberry.enum(CouponKind, name="CouponKind")
strawberry.enum(CouponStatus, name="CouponStatus")
strawberry.enum(OrderStatus, name="OrderStatus")
strawberry.enum(TagSource, name="TagSource")
strawberry.enum(ConsentPurpose, name="ConsentPurpose")
strawberry.enum(EventStatus, name="EventStatus")
strawberry.enum(ErasureMode, name="ErasureMode")
strawberry.enum(ErasureStatus, name="ErasureStatus")
strawberry.enum(SuppressionKind, name="SuppressionKind")

__all__ = [
    "Channel",
    "ConsentPurpose",
    "CouponKind",
    "CouponStatus",
    "EntryKind",
    "ErasureMode",
    "ErasureStatus",
    "EventStatus",
    "OrderStatus",
    "SuppressionKind",
    "TagSource",
    "Tier",
]
