"""Every table of every domain imported in one place, for Alembic's metadata (the merge steps
are an explicit list: cdp.linking.steps)."""

from sqlmodel import SQLModel

from cdp.activation.models import Campaign
from cdp.analytics.releases import AnalyticsRelease
from cdp.audiences.models import Audience, MembershipChange
from cdp.audit.models import AuditEvent
from cdp.consent.models import Consent, ConsentChange, Contact
from cdp.consent.notices import PrivacyNotice
from cdp.documents.registry import TrustedDocument
from cdp.erasure.export_links import DataExportLink
from cdp.events.models import Event
from cdp.lookups.models import LookupMiss
from cdp.loyalty.models import Coupon, PointsEntry, PointsLot
from cdp.orders.models import Order, OrderItem
from cdp.outbox.models import OutboxCursor, OutboxMessage
from cdp.profiles.directory import ProfileKey
from cdp.profiles.models import Identity, IdentityReview, Profile, ProfileMerge
from cdp.rate_stores import RateBudget
from cdp.reevaluation import QueuedProfile
from cdp.retention.leader import RetentionRun
from cdp.sms.models import SmsCode
from cdp.staff.models import (
    ProviderToken,
    ServiceAccount,
    ServiceToken,
    SignInAttempt,
    StaffSession,
)
from cdp.subscriptions.models import SubscribeGrant, WechatFollow
from cdp.suppression.models import ErasureRequest, Suppression
from cdp.tags.models import ProfileTag
from cdp.wechat.app_tokens import WechatAppToken
from cdp.wechat.push_inbox import InboxMessage
from cdp.wechat.website_state import SpentState

metadata = SQLModel.metadata

__all__ = [
    "AnalyticsRelease",
    "Audience",
    "AuditEvent",
    "Campaign",
    "Consent",
    "ConsentChange",
    "Contact",
    "Coupon",
    "DataExportLink",
    "ErasureRequest",
    "Event",
    "Identity",
    "IdentityReview",
    "InboxMessage",
    "LookupMiss",
    "MembershipChange",
    "Order",
    "OrderItem",
    "OutboxCursor",
    "OutboxMessage",
    "PointsEntry",
    "PointsLot",
    "PrivacyNotice",
    "Profile",
    "ProfileKey",
    "ProfileMerge",
    "ProfileTag",
    "ProviderToken",
    "QueuedProfile",
    "RateBudget",
    "RetentionRun",
    "ServiceAccount",
    "ServiceToken",
    "SignInAttempt",
    "SmsCode",
    "SpentState",
    "StaffSession",
    "SubscribeGrant",
    "Suppression",
    "TrustedDocument",
    "WechatAppToken",
    "WechatFollow",
    "metadata",
]
