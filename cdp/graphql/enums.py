"""Every domain enum the schema exposes, registered once before any type uses it, each value
described for client developers (`expose` refuses an enum with a value left undescribed)."""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum, StrEnum
from typing import TypeVar

import strawberry

from cdp.audit.actions import AuditAction, AuditOutcome, AuditRole
from cdp.channels import Channel
from cdp.consent.contact import Reason
from cdp.consent.models import ConsentPurpose
from cdp.events.service import EventStatus
from cdp.loyalty.coupons import CouponStatus
from cdp.loyalty.models import CouponKind, EntryKind
from cdp.orders.models import OrderStatus
from cdp.profiles.models import PhoneSource, ReviewDecision, ReviewStatus, Tier
from cdp.suppression.models import ErasureMode, ErasureOrigin, ErasureStatus, SuppressionKind
from cdp.tags.models import TagSource

E = TypeVar("E", bound=Enum)


class ErasureStep(StrEnum):
    """The last step an erasure request has done: `requested`, then the steps of
    cdp.erasure.execution.STEPS in order."""

    REQUESTED = "requested"
    COLLECT = "collect"
    SUPPRESS = "suppress"
    SHRED = "shred"
    PURGE = "purge"
    VERIFY = "verify"
    COMPLETE = "complete"


def expose(enum: type[E], name: str, description: str, values: Mapping[E, str]) -> None:
    """Register `enum` as the GraphQL enum `name`, with a description for every value."""
    missing = [member.name for member in enum if member not in values]
    if missing:
        raise ValueError(f"{name} values without a description: {missing}")
    strawberry.enum(enum, name=name, description=description)
    for value in enum.__strawberry_definition__.values:  # type: ignore[attr-defined]
        value.description = values[enum[value.name]]


def _same_for_all(enum: type[E], text: str) -> dict[E, str]:
    return {member: text.format(value=member.value) for member in enum}


expose(
    Channel,
    "Channel",
    "Where a person shows up: an app of the brand, or a contact channel.",
    {
        Channel.MINI_PROGRAM: "A WeChat mini-program (小程序).",
        Channel.OFFICIAL_ACCOUNT: "A WeChat official account (公众号) and its H5 pages.",
        Channel.CHANNELS: "The WeChat video account (视频号).",
        Channel.WEB: "The brand's website.",
        Channel.SMS: "Text messages: a contact channel, not an app (no OpenID).",
    },
)
expose(
    Tier,
    "Tier",
    "Membership tier from paid spend over the last 12 months.",
    {
        Tier.STANDARD: "Below the VIP threshold.",
        Tier.VIP: "Paid spend from CDP_TIER_VIP_FEN (100000 fen = ¥1,000).",
        Tier.SUPREME: "Paid spend from CDP_TIER_SUPREME_FEN (500000 fen = ¥5,000).",
    },
)
expose(
    EntryKind,
    "PointsEntryKind",
    "What moved points in the ledger.",
    {
        EntryKind.EARN: "Points added (earnPoints).",
        EntryKind.SPEND: "Points taken (spendPoints).",
        EntryKind.EXPIRE: "Earned points that stopped counting after CDP_POINTS_LIFETIME_DAYS.",
        EntryKind.ADJUST: "A correction up or down (adjustPoints).",
    },
)
expose(
    CouponKind,
    "CouponKind",
    "How a coupon takes money off.",
    {
        CouponKind.AMOUNT: "discountFen off the order.",
        CouponKind.PERCENT: "percentOff percent off, at most discountFen.",
    },
)
expose(
    CouponStatus,
    "CouponStatus",
    "A coupon's state as of when it is read.",
    {
        CouponStatus.AVAILABLE: "Usable now.",
        CouponStatus.UPCOMING: "Not usable yet (before validFrom).",
        CouponStatus.REDEEMED: "Used.",
        CouponStatus.EXPIRED: "Past validUntil, unused.",
    },
)
expose(
    OrderStatus,
    "OrderStatus",
    "Where an order stands: PAID, then SHIPPED, then COMPLETED; or REFUNDED.",
    {
        OrderStatus.PAID: "Paid; counts towards the tier.",
        OrderStatus.SHIPPED: "On its way; counts towards the tier.",
        OrderStatus.COMPLETED: "Received; counts towards the tier.",
        OrderStatus.REFUNDED: "Refunded: no longer counts towards the tier.",
    },
)
expose(
    TagSource,
    "TagSource",
    "Who gave a tag.",
    {
        TagSource.MANUAL: "Staff, by hand.",
        TagSource.RULE: "A rule of a backend service.",
        TagSource.IMPORT: "A bulk import.",
    },
)
expose(
    ConsentPurpose,
    "ConsentPurpose",
    "What the brand may use a person's data or contact them for.",
    {
        ConsentPurpose.MARKETING: "Promotional messages; off until the person opts in.",
        ConsentPurpose.ACTIVITY_NOTIFICATIONS: "Notices about their activity; on until "
        "switched off.",
        ConsentPurpose.PERSONALIZATION: "Personalised content; off until the person opts in.",
        ConsentPurpose.ANALYTICS: "Counting them in aggregates; on until switched off.",
    },
)
expose(
    Reason,
    "ContactReason",
    "Why canContact allows or refuses a contact.",
    {
        Reason.CONSENTED: "Allowed: the person said yes.",
        Reason.DEFAULT: "Allowed: no choice recorded, and the purpose is on by default.",
        Reason.NO_CONSENT: "Refused: no choice recorded, and the purpose needs an opt-in.",
        Reason.OPTED_OUT: "Refused: the person said no.",
        Reason.FREQUENCY_CAP: "Refused: the purpose's cap (CDP_CONTACT_CAPS) is reached.",
        Reason.SUPPRESSED: "Refused: the person was erased.",
        Reason.CHANNEL_CAP: "Refused: the channel's cap (CDP_ACTIVATION_CAPS) is reached.",
        Reason.TOPIC_CAP: "Refused: the template's topic cap (e.g. the follow prompt's).",
        Reason.NO_RECIPIENT: "Refused: no OpenID in the template's app, or no phone.",
        Reason.NOT_FOLLOWING: "Refused: the person does not follow the official account.",
        Reason.NO_SUBSCRIPTION: "Refused: no subscribe-message acceptance left to spend.",
    },
)
expose(
    EventStatus,
    "EventStatus",
    "What became of a recorded event.",
    {
        EventStatus.ACCEPTED: "Recorded.",
        EventStatus.DUPLICATE: "This eventId was recorded before: counted once.",
        EventStatus.REJECTED: "Refused; code, message and field say why.",
    },
)
expose(
    ErasureMode,
    "ErasureMode",
    "How a person is erased (both shred their data keys and suppress their identifiers).",
    {
        ErasureMode.DELETE: "Remove the person; orders stay for accounting under a tombstone.",
        ErasureMode.ANONYMIZE: "Keep a de-identified profile (tier, orders) for aggregates.",
    },
)
expose(
    ErasureStatus,
    "ErasureStatus",
    "Where an erasure request stands.",
    {
        ErasureStatus.PENDING: "Waiting for a second compliance officer's approval.",
        ErasureStatus.COOLING_OFF: "The person cancelled their account; runs when the "
        "cooling-off ends (runsAt) unless they withdraw.",
        ErasureStatus.HELD: "A cancellation compliance holds, for the legal reason recorded.",
        ErasureStatus.EXECUTING: "Approved; its steps run until they converge.",
        ErasureStatus.COMPLETED: "Done; the receipt says what was removed.",
        ErasureStatus.WITHDRAWN: "The person withdrew their cancellation; nothing was erased.",
    },
)
expose(
    ErasureOrigin,
    "ErasureOrigin",
    "Whose request an erasure is.",
    {
        ErasureOrigin.STAFF: "A compliance officer's, approved by a second officer.",
        ErasureOrigin.SELF: "The person's own: they cancelled their account (注销账号).",
        ErasureOrigin.RETENTION: "The inactive-member retention policy (anonymizes).",
    },
)
expose(
    ErasureStep,
    "ErasureStep",
    "The last step an erasure has done, in order: REQUESTED, COLLECT, SUPPRESS, SHRED, "
    "PURGE, VERIFY, COMPLETE.",
    {
        ErasureStep.REQUESTED: "Requested; nothing done yet.",
        ErasureStep.COLLECT: "The person's rows are found and counted.",
        ErasureStep.SUPPRESS: "Their identifiers' hashes are on the suppression list.",
        ErasureStep.SHRED: "Their data keys are destroyed (after the erasure journal).",
        ErasureStep.PURGE: "Their rows are deleted or de-identified.",
        ErasureStep.VERIFY: "A scan found nothing left.",
        ErasureStep.COMPLETE: "Done.",
    },
)
expose(
    SuppressionKind,
    "SuppressionKind",
    "The kind of identifier on the suppression list.",
    {
        SuppressionKind.UNION_ID: "A WeChat UnionID.",
        SuppressionKind.OPEN_ID: "An OpenID of one of the brand's apps.",
        SuppressionKind.PHONE: "A phone number.",
        SuppressionKind.PROFILE: "The erased profile's public id.",
    },
)
expose(
    ReviewStatus,
    "IdentityReviewStatus",
    "Where an identity review stands.",
    {
        ReviewStatus.OPEN: "Refused and waiting for compliance's decision.",
        ReviewStatus.MERGED: "The two profiles were merged (by the decision or another link).",
        ReviewStatus.KEPT_APART: "Compliance decided they stay apart.",
    },
)
expose(
    PhoneSource,
    "PhoneSource",
    "Where a profile's phone came from; only WeChat's and an SMS code's are verified.",
    {
        PhoneSource.SELF_ENTERED: "Typed in by the person (updateMyProfile): unverified.",
        PhoneSource.WECHAT: "WeChat's phone authorisation (a mini-program's getPhoneNumber).",
        PhoneSource.SMS: "An SMS code sent to the phone and typed back (website sign-in).",
    },
)
expose(
    ReviewDecision,
    "IdentityReviewDecision",
    "What compliance decides on a refused merge.",
    {
        ReviewDecision.MERGE: "Merge the two profiles into the older, beyond the limit.",
        ReviewDecision.KEEP_APART: "Keep them apart; later links of the pair stay refused.",
    },
)
expose(
    AuditAction,
    "AuditAction",
    "What an audit record says was done (stored as the dotted name in the description).",
    _same_for_all(AuditAction, "The action `{value}`."),
)
expose(
    AuditOutcome,
    "AuditOutcome",
    "How an audited action ended: OK, a particular of the action, or a refusal's error code.",
    _same_for_all(AuditOutcome, "The outcome `{value}`."),
)
expose(
    AuditRole,
    "AuditRole",
    "The role an audited actor acted in.",
    {
        AuditRole.CUSTOMER: "The person, from a mini-program or an official-account page.",
        AuditRole.SUPPORT: "Customer-service staff.",
        AuditRole.ANALYST: "A data analyst.",
        AuditRole.MARKETER: "A brand operator: audiences and their counts, never one person.",
        AuditRole.COMPLIANCE: "Privacy or legal staff.",
        AuditRole.SERVICE: "A backend integration.",
        AuditRole.OPERATOR: "An operator at the command line (cdp keys, cdp audit, ...).",
        AuditRole.UNVERIFIED: "A refused token whose claims could not be trusted.",
        AuditRole.STAFF: "A staff member signing in, before choosing the role to act in.",
    },
)

__all__ = [
    "AuditAction",
    "AuditOutcome",
    "AuditRole",
    "Channel",
    "ConsentPurpose",
    "CouponKind",
    "CouponStatus",
    "EntryKind",
    "ErasureMode",
    "ErasureStatus",
    "ErasureStep",
    "EventStatus",
    "OrderStatus",
    "PhoneSource",
    "Reason",
    "ReviewDecision",
    "ReviewStatus",
    "SuppressionKind",
    "TagSource",
    "Tier",
]
