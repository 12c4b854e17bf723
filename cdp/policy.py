"""Who sees what and how much: the role x field table of the contract, and each role's limits.

Every field of every GraphQL type has a row (`POLICY[type][field]`); a missing row fails the
schema build. A row maps each role to FULL, DENY, or a mask (`cdp.masks`) computed in memory
from the value. `ROLE_LIMITS` holds what a role may ask for beyond its rows: how it may look
profiles up and how large an operation it may run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from cdp.auth import Role
from cdp.masks import birth_year, mask_address, mask_name, mask_phone


class Access(Enum):
    FULL = "full"
    DENY = "deny"


Mask = Callable[[Any], Any]
Decision = Access | Mask


@dataclass(frozen=True, slots=True)
class Rule:
    """One row of the table: what each role gets. Roles not named are denied."""

    by_role: Mapping[Role, Decision]
    personal: bool = False  # reads are audited (one record per profile per request)

    def decide(self, role: Role) -> Decision:
        return self.by_role.get(role, Access.DENY)

    @property
    def needs_mechanism(self) -> bool:
        """Whether the field pays for a check: gated, masked, or audited."""
        return self.personal or not all(self.decide(role) is Access.FULL for role in Role)


def allow(*roles: Role, **masks: Mask) -> Rule:
    """FULL for `roles`, a mask for each role named in `masks`, DENY for the rest."""
    table: dict[Role, Decision] = dict.fromkeys(roles, Access.FULL)
    table.update({Role(name): mask for name, mask in masks.items()})
    return Rule(table)


def personal(rule: Rule) -> Rule:
    """The same row for a field holding personal data: every read of it is audited."""
    return Rule(rule.by_role, personal=True)


EVERYONE = allow(*Role)
# Nested types are reachable only through a gated parent field; their own rows stay open so
# the mechanism costs nothing per nested item.
REACHABLE = EVERYONE
PERSON = allow(Role.CUSTOMER, Role.SUPPORT, Role.COMPLIANCE, Role.SERVICE)
IDENTIFIERS = allow(Role.CUSTOMER, Role.COMPLIANCE, Role.SERVICE)
LOOKUP = allow(Role.SUPPORT, Role.COMPLIANCE, Role.SERVICE)


def open_fields(*names: str) -> dict[str, Rule]:
    """Rows for a nested type's fields: open, as the type is reached through a gated field."""
    return dict.fromkeys(names, REACHABLE)


POLICY: dict[str, dict[str, Rule]] = {
    "Query": {
        "me": allow(Role.CUSTOMER),
        "profile": LOOKUP,
        "auditEvents": allow(Role.COMPLIANCE),
        "auditLogVerification": allow(Role.COMPLIANCE),
        "auditTreeHead": allow(Role.COMPLIANCE),
        "auditPublicKeys": allow(Role.COMPLIANCE),
        "auditInclusionProof": allow(Role.COMPLIANCE),
        "auditConsistencyProof": allow(Role.COMPLIANCE),
        "suppression": allow(Role.COMPLIANCE),
        "profilesByTag": allow(Role.SERVICE),
        "canContact": allow(Role.SERVICE),
        "erasureRequests": allow(Role.COMPLIANCE),
        "identityReviews": allow(Role.COMPLIANCE),
        "analytics": allow(Role.ANALYST, Role.MARKETER),
        "audiences": allow(Role.MARKETER),
        "audience": allow(Role.MARKETER),
        "audiencePreview": allow(Role.MARKETER),
        "audienceMembers": allow(Role.SERVICE),
        "campaign": allow(Role.MARKETER),
        "campaignForecast": allow(Role.MARKETER),
        "staffSessions": allow(Role.COMPLIANCE),
        "myPrivacy": allow(Role.CUSTOMER),
        # What the brand promises: the person, and the staff and services who act for them.
        "privacyNotices": PERSON,
    },
    "Mutation": {
        "linkIdentity": allow(Role.SERVICE),
        "updateMyProfile": allow(Role.CUSTOMER),
        "earnPoints": allow(Role.SERVICE),
        "spendPoints": allow(Role.SERVICE),
        "adjustPoints": allow(Role.SERVICE),
        "issueCoupon": allow(Role.SERVICE),
        "redeemCoupon": allow(Role.SERVICE),
        "recordOrder": allow(Role.SERVICE),
        "tagProfile": allow(Role.SERVICE),
        "untagProfile": allow(Role.SERVICE),
        "updateMyConsents": allow(Role.CUSTOMER),
        "recordContact": allow(Role.SERVICE),
        "recordEvent": allow(Role.SERVICE),
        "recordEvents": allow(Role.SERVICE),
        "requestErasure": allow(Role.COMPLIANCE),
        "approveErasure": allow(Role.COMPLIANCE),
        "exportProfile": allow(Role.COMPLIANCE),
        "liftSuppression": allow(Role.COMPLIANCE),
        "resolveIdentityReview": allow(Role.COMPLIANCE),
        "revokeStaffSessions": allow(Role.COMPLIANCE),
        "defineAudience": allow(Role.MARKETER),
        "requestMyDataExport": allow(Role.CUSTOMER),
        "cancelMyAccount": allow(Role.CUSTOMER),
        "withdrawMyCancellation": allow(Role.CUSTOMER),
        "holdErasure": allow(Role.COMPLIANCE),
        "releaseErasureHold": allow(Role.COMPLIANCE),
        "scheduleCampaign": allow(Role.MARKETER),
        "cancelCampaign": allow(Role.MARKETER),
        "sendMessage": allow(Role.SERVICE),
    },
    "Profile": {
        "id": PERSON,
        "tier": PERSON,
        "tierProgress": PERSON,
        "canContact": PERSON,
        "createdAt": PERSON,
        "updatedAt": PERSON,
        "unionId": personal(IDENTIFIERS),
        "identities": personal(IDENTIFIERS),
        "phone": personal(allow(Role.CUSTOMER, support=mask_phone, compliance=mask_phone)),
        # Whether and how the phone was verified: not the phone itself (service sees it too).
        "phoneVerified": PERSON,
        "phoneSource": PERSON,
        "name": personal(allow(Role.CUSTOMER, support=mask_name, compliance=mask_name)),
        "address": personal(allow(Role.CUSTOMER, support=mask_address, compliance=mask_address)),
        "birthday": personal(allow(Role.CUSTOMER, compliance=birth_year)),
        "points": PERSON,
        "coupons": PERSON,
        "orders": PERSON,
        "tags": PERSON,
        "consents": PERSON,
        "wechatFollows": PERSON,
    },
    "WechatFollow": open_fields("appId", "following", "since", "scene"),
    "Consents": open_fields("current", "history"),
    "ConsentState": open_fields(
        "purpose", "channel", "granted", "explicit", "noticeVersion", "sourceChannel", "updatedAt"
    ),
    "ConsentHistoryPage": open_fields("items", "pageInfo"),
    "ConsentChange": open_fields(
        "purpose",
        "channel",
        "granted",
        "noticeVersion",
        "sourceChannel",
        "changedBy",
        "changedAt",
    ),
    "ContactDecision": open_fields("allowed", "reason"),
    "TierProgress": open_fields("spendFen", "nextTier", "nextTierFen"),
    "Contact": open_fields("id", "purpose", "channel", "sentAt"),
    "ErasureRequest": open_fields(
        "id",
        "profileSurrogateId",
        "profileId",
        "mode",
        "status",
        "origin",
        "runsAt",
        "holdReason",
        "heldBy",
        "heldAt",
        "withdrawnAt",
        "reason",
        "requestedBy",
        "requestedAt",
        "dueAt",
        "approvedBy",
        "approvedAt",
        "completedAt",
        "step",
        "overdue",
        "receipt",
    ),
    "ErasureRequestPage": open_fields("items", "pageInfo"),
    "PrivacyCentre": open_fields(
        "notice", "acceptedNoticeVersion", "reconsentNeeded", "cancellation", "coolingOffDays"
    ),
    "PrivacyNotice": open_fields("version", "title", "text", "changes", "material", "effectiveAt"),
    "AccountCancellation": open_fields(
        "id", "status", "mode", "requestedAt", "runsAt", "withdrawable", "held"
    ),
    "DataExportLink": open_fields("url", "expiresAt"),
    "IdentityReview": open_fields(
        "id",
        "profileSurrogateId",
        "otherProfileSurrogateId",
        "profileId",
        "otherProfileId",
        "rule",
        "status",
        "detail",
        "createdAt",
        "resolvedAt",
        "resolvedBy",
        "reason",
    ),
    "IdentityReviewPage": open_fields("items", "pageInfo"),
    "ProfileExport": open_fields("generatedAt", "document"),
    "SuppressionLift": open_fields("kind", "lifted"),
    "SuppressionStatus": open_fields("kind", "suppressed", "since", "requestId"),
    "AuditVerification": open_fields(
        "intact",
        "checked",
        "headSeq",
        "brokenAtSeq",
        "problem",
        "checkedAt",
        "unsealed",
        "treeSize",
    ),
    "AuditTreeHead": open_fields("size", "root", "at", "keyVersion", "signature"),
    "AuditPublicKey": open_fields("version", "pem"),
    "AuditInclusionProof": open_fields("seq", "leafIndex", "leafHash", "treeHead", "path"),
    "AuditConsistencyProof": open_fields("older", "newer", "path"),
    "Analytics": open_fields(
        "minimumGroupSize",
        "membersByTier",
        "membersByFirstChannel",
        "tagCounts",
        "consentOptInRates",
        "ordersBySource",
        "conversionByChannel",
        "repurchaseRate",
        "retention",
        "series",
        "funnel",
    ),
    "SeriesPoint": open_fields("starts", "ends", "released", "cells"),
    "SeriesCell": open_fields(
        "key", "people", "did", "rate", "events", "baseEvents", "suppressed", "complete"
    ),
    "Audience": open_fields(
        "name",
        "description",
        "definition",
        "version",
        "createdBy",
        "createdAt",
        "updatedAt",
        "refreshedAt",
        "members",
    ),
    "Campaign": open_fields(
        "name", "template", "audience", "startsAt", "perMinute", "status", "createdBy", "totals"
    ),
    "CampaignTotals": open_fields(
        "queued",
        "sent",
        "delivered",
        "pending",
        "failed",
        "uncertain",
        "refused",
        "orderedWithinSevenDays",
    ),
    "CampaignForecast": open_fields("members", "wouldSend", "refused", "quietHours"),
    "ReasonCount": open_fields("reason", "people"),
    "MessageDecision": open_fields("allowed", "reason", "notBefore", "new"),
    "AudienceCount": open_fields("count", "suppressed", "minimumGroupSize"),
    "AudiencePage": open_fields("items", "pageInfo"),
    "AudienceMember": open_fields("profileId", "since"),
    "AudienceMemberPage": open_fields("items", "pageInfo"),
    "CountBreakdown": open_fields("cells", "total", "totalSuppressed"),
    "CountCell": open_fields("key", "count", "suppressed"),
    "RateCell": open_fields("key", "channel", "numerator", "denominator", "rate", "suppressed"),
    "OrderSourceBreakdown": open_fields(
        "cells", "totalOrders", "totalRevenueFen", "totalSuppressed"
    ),
    "OrderSourceCell": open_fields(
        "source", "channel", "orders", "revenueFen", "buyers", "suppressed"
    ),
    "Retention": open_fields("day7", "day30"),
    "EventResult": open_fields("index", "eventId", "status", "code", "message", "field"),
    # An order's shipping address follows the profile's address row.
    "Order": {
        **open_fields(
            "id",
            "channel",
            "externalId",
            "status",
            "itemsFen",
            "discountFen",
            "shippingFen",
            "totalFen",
            "entryFrom",
            "entryParams",
            "paidAt",
            "updatedAt",
            "items",
        ),
        "shippingAddress": personal(
            allow(Role.CUSTOMER, support=mask_address, compliance=mask_address)
        ),
    },
    "OrderItem": open_fields("sku", "name", "quantity", "unitPriceFen", "amountFen"),
    "OrderPage": open_fields("items", "pageInfo"),
    "Points": open_fields("balance", "history"),
    "PointsHistoryPage": open_fields("items", "pageInfo"),
    "PointsEntry": open_fields(
        "id", "kind", "points", "balanceAfter", "reason", "channel", "createdAt", "expiresAt"
    ),
    "Coupon": open_fields(
        "id",
        "title",
        "kind",
        "discountFen",
        "percentOff",
        "minSpendFen",
        "channels",
        "validFrom",
        "validUntil",
        "status",
        "issuedAt",
        "redeemedAt",
        "redeemedChannel",
    ),
    "CouponPage": open_fields("items", "pageInfo"),
    "Tag": open_fields("name", "source", "taggedAt"),
    "TagPage": open_fields("items", "pageInfo"),
    "ProfilePage": open_fields("items", "pageInfo"),
    "Identity": {
        "channel": REACHABLE,
        "appId": REACHABLE,
        "openId": REACHABLE,
        "linkedAt": REACHABLE,
    },
    "AuditEventPage": open_fields("items", "pageInfo"),
    "PageInfo": open_fields("endCursor", "hasNextPage"),
    "AuditEvent": dict.fromkeys(
        (
            "seq",
            "occurredAt",
            "requestId",
            "actorSubject",
            "actorRole",
            "action",
            "profileSurrogateId",
            "fields",
            "purpose",
            "outcome",
            "detail",
        ),
        REACHABLE,
    ),
    "AuditField": {"field": REACHABLE, "access": REACHABLE},
    "StaffSession": open_fields(
        "id", "person", "provider", "role", "roles", "createdAt", "lastSeenAt", "expiresAt"
    ),
    "StaffSessionPage": open_fields("items", "pageInfo"),
    "Address": {
        "province": REACHABLE,
        "city": REACHABLE,
        "district": REACHABLE,
        "street": REACHABLE,
    },
}


def rule_for(type_name: str, field_name: str) -> Rule | None:
    return POLICY.get(type_name, {}).get(field_name)


@dataclass(frozen=True, slots=True)
class LookupRule:
    """How a role may use the `profile(...)` root field, beyond its row in POLICY.

    `per_operation`: distinct `profile` selections one operation may make (None: only the
    document limits). `misses_capped`: its not-found lookups count against the per-actor cap
    (`CDP_LOOKUP_MISS_LIMIT` in `CDP_LOOKUP_MISS_WINDOW_SECONDS`).
    """

    per_operation: int | None = None
    misses_capped: bool = False


@dataclass(frozen=True, slots=True)
class RoleLimits:
    """A role's row of limits, read by their mechanisms: `lookups` by the `profile(...)`
    root field and the lookup limit (cdp.graphql.lookup_limit, cdp.graphql.lookups);
    `query_cost_factor` by the cost limit (cdp.graphql.limits), whose `CDP_MAX_QUERY_COST`
    it multiplies."""

    lookups: LookupRule = LookupRule()
    query_cost_factor: int = 1


# Staff see masked personal data one profile at a time (the contract); the service role sees
# no personal field and keeps the general rate limit, and backends page through up to 100
# profiles at a time (everyone else reads one profile, one page of audit records or erasure
# requests, or aggregates). Roles not named cannot call `profile` and get the defaults.
ROLE_LIMITS: dict[Role, RoleLimits] = {
    Role.SUPPORT: RoleLimits(lookups=LookupRule(per_operation=1, misses_capped=True)),
    Role.COMPLIANCE: RoleLimits(lookups=LookupRule(per_operation=1, misses_capped=True)),
    Role.SERVICE: RoleLimits(query_cost_factor=10),
}


def role_limits(role: Role) -> RoleLimits:
    return ROLE_LIMITS.get(role, RoleLimits())


def lookup_rule(role: Role) -> LookupRule:
    return role_limits(role).lookups
