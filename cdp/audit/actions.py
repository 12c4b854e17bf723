"""The vocabulary of an audit record: every action, outcome and actor role one can carry.

The values are what the chain stores (and hashes); GraphQL shows the member names
(`pii.read` is `PII_READ`). `AuditTrail.record` refuses an action that is not a member.
"""

from __future__ import annotations

from enum import StrEnum


class AuditAction(StrEnum):
    """What was done. A refused root field is recorded as `query.<field>` / `mutation.<field>`."""

    PII_READ = "pii.read"
    PROFILE_LOOKUP = "profile.lookup"
    PROFILE_LIST = "profile.list"
    PROFILE_UPDATE = "profile.update"
    PROFILE_MERGE = "profile.merge"
    IDENTITY_LINK = "identity.link"
    IDENTITY_REVIEW = "identity.review"  # a merge the identity rules refused, kept for review
    IDENTITY_REVIEW_LIST = "identity.review_list"
    IDENTITY_REVIEW_RESOLVE = "identity.review_resolve"
    PROFILE_ALIAS = "profile.alias"  # a merged-away id resolved to its survivor
    PHONE_VERIFY = "phone.verify"  # a phone verified (WeChat or SMS) set on a profile
    TIER_CHANGE = "tier.change"
    POINTS_EARN = "points.earn"
    POINTS_SPEND = "points.spend"
    POINTS_ADJUST = "points.adjust"
    POINTS_EXPIRE = "points.expire"
    COUPON_ISSUE = "coupon.issue"
    COUPON_REDEEM = "coupon.redeem"
    ORDER_RECORD = "order.record"
    ORDER_STATUS = "order.status"
    TAG_ADD = "tag.add"
    TAG_REMOVE = "tag.remove"
    CONSENT_UPDATE = "consent.update"
    CONTACT_RECORD = "contact.record"
    EVENT_RECORD = "event.record"
    EXPORT = "export"
    EXPORT_LINK = "export.link"  # a person asked for a one-use link to their own data
    ACCOUNT_CANCEL = "account.cancel"  # a person cancelled their account (cooling-off starts)
    ACCOUNT_WITHDRAW = "account.withdraw"  # ... and withdrew it while cooling off
    ERASURE_HOLD = "erasure.hold"  # compliance held a cancellation, for a legal reason
    ERASURE_RELEASE = "erasure.release"
    NOTICE_PUBLISH = "notice.publish"
    DOCUMENT_REGISTER = "document.register"  # a trusted document registered, or its roles changed
    # A request refused for its document: an unknown id, a role the document is not registered
    # for, or text from a principal that runs trusted documents only (cdp.graphql.trusted).
    DOCUMENT_REFUSED = "document.refused"
    RETENTION_RUN = "retention.run"
    ERASURE_REQUEST = "erasure.request"
    ERASURE_APPROVE = "erasure.approve"
    ERASURE_RESUME = "erasure.resume"
    ERASURE_LIST = "erasure.list"
    ERASURE_COLLECT = "erasure.collect"
    ERASURE_SUPPRESS = "erasure.suppress"
    ERASURE_SHRED = "erasure.shred"
    ERASURE_PURGE = "erasure.purge"
    ERASURE_VERIFY = "erasure.verify"
    ERASURE_EXECUTE = "erasure.execute"
    ERASURE_REPLAY = "erasure.replay"
    SUPPRESSION_LIFT = "suppression.lift"
    SUPPRESSION_READ = "suppression.read"
    ANALYTICS_READ = "analytics.read"
    AUDIENCE_DEFINE = "audience.define"
    AUDIENCE_PREVIEW = "audience.preview"  # a count of a definition not saved
    AUDIENCE_READ = "audience.read"
    AUDIENCE_REFRESH = "audience.refresh"  # an audience's members computed in full
    AUDIENCE_UPDATE = "audience.update"  # queued people re-evaluated against every audience
    AUDIENCE_MEMBERS = "audience.members"  # a service listed members it may contact
    MESSAGE_SEND = "message.send"  # a service queued a template's message for a person
    CAMPAIGN_SCHEDULE = "campaign.schedule"
    CAMPAIGN_CANCEL = "campaign.cancel"
    CAMPAIGN_READ = "campaign.read"  # a forecast or totals read (counts only)
    AUDIT_READ = "audit.read"
    AUDIT_VERIFY = "audit.verify"
    AUDIT_CHECKPOINT = "audit.checkpoint"
    AUDIT_GAP = "audit.gap"  # a number the sealer found never committed (a rolled-back write)
    AUDIT_NOTE = "audit.note"
    AUDIT_PROVE = "audit.prove"
    AUDIT_KEY_ROTATE = "audit.key_rotate"
    KEY_ROTATE = "key.rotate"
    KEY_REWRAP = "key.rewrap"
    KEY_RETIRE = "key.retire"
    AUTH_TOKEN = "auth.token"
    AUTH_WECHAT = "auth.wechat"
    AUTH_SMS = "auth.sms"  # a website sign-in by phone and SMS code
    WECHAT_PUSH = "wechat.push"
    STAFF_SIGN_IN = "staff.sign_in"
    STAFF_ROLE = "staff.role"
    STAFF_SIGN_OUT = "staff.sign_out"
    STAFF_REVOKE = "staff.revoke"
    STAFF_SESSION_END = "staff.session_end"
    SERVICE_TOKEN = "service.token"
    SERVICE_ACCOUNT_CREATE = "service_account.create"
    SERVICE_ACCOUNT_ROTATE = "service_account.rotate"
    SERVICE_ACCOUNT_REVOKE = "service_account.revoke"
    LOOKUP_THROTTLED = "lookup.throttled"
    LOOKUP_ENUMERATION_SUSPECTED = "lookup.enumeration_suspected"
    # A root field refused by the policy (cdp.graphql.permissions), one per root field.
    QUERY_ME = "query.me"
    QUERY_PROFILE = "query.profile"
    QUERY_PROFILES_BY_TAG = "query.profilesByTag"
    QUERY_CAN_CONTACT = "query.canContact"
    QUERY_AUDIT_EVENTS = "query.auditEvents"
    QUERY_ERASURE_REQUESTS = "query.erasureRequests"
    QUERY_ANALYTICS = "query.analytics"
    QUERY_AUDIT_LOG_VERIFICATION = "query.auditLogVerification"
    QUERY_AUDIT_TREE_HEAD = "query.auditTreeHead"
    QUERY_AUDIT_PUBLIC_KEYS = "query.auditPublicKeys"
    QUERY_AUDIT_INCLUSION_PROOF = "query.auditInclusionProof"
    QUERY_AUDIT_CONSISTENCY_PROOF = "query.auditConsistencyProof"
    QUERY_SUPPRESSION = "query.suppression"
    QUERY_IDENTITY_REVIEWS = "query.identityReviews"
    MUTATION_LINK_IDENTITY = "mutation.linkIdentity"
    MUTATION_UPDATE_MY_PROFILE = "mutation.updateMyProfile"
    MUTATION_EARN_POINTS = "mutation.earnPoints"
    MUTATION_SPEND_POINTS = "mutation.spendPoints"
    MUTATION_ADJUST_POINTS = "mutation.adjustPoints"
    MUTATION_ISSUE_COUPON = "mutation.issueCoupon"
    MUTATION_REDEEM_COUPON = "mutation.redeemCoupon"
    MUTATION_RECORD_ORDER = "mutation.recordOrder"
    MUTATION_TAG_PROFILE = "mutation.tagProfile"
    MUTATION_UNTAG_PROFILE = "mutation.untagProfile"
    MUTATION_UPDATE_MY_CONSENTS = "mutation.updateMyConsents"
    MUTATION_RECORD_CONTACT = "mutation.recordContact"
    MUTATION_RECORD_EVENT = "mutation.recordEvent"
    MUTATION_RECORD_EVENTS = "mutation.recordEvents"
    MUTATION_REQUEST_ERASURE = "mutation.requestErasure"
    MUTATION_APPROVE_ERASURE = "mutation.approveErasure"
    MUTATION_EXPORT_PROFILE = "mutation.exportProfile"
    MUTATION_LIFT_SUPPRESSION = "mutation.liftSuppression"
    MUTATION_RESOLVE_IDENTITY_REVIEW = "mutation.resolveIdentityReview"
    # Staff sessions once they exist (issue 18, the desk: console, compliance, cdp staff).
    STAFF_LIST = "staff.list"
    QUERY_STAFF_SESSIONS = "query.staffSessions"
    MUTATION_REVOKE_STAFF_SESSIONS = "mutation.revokeStaffSessions"
    # Audiences (issue 22).
    QUERY_AUDIENCES = "query.audiences"
    QUERY_AUDIENCE = "query.audience"
    QUERY_AUDIENCE_PREVIEW = "query.audiencePreview"
    QUERY_AUDIENCE_MEMBERS = "query.audienceMembers"
    MUTATION_DEFINE_AUDIENCE = "mutation.defineAudience"
    # The privacy centre (issue 25).
    QUERY_MY_PRIVACY = "query.myPrivacy"
    QUERY_PRIVACY_NOTICES = "query.privacyNotices"
    MUTATION_REQUEST_MY_DATA_EXPORT = "mutation.requestMyDataExport"
    MUTATION_CANCEL_MY_ACCOUNT = "mutation.cancelMyAccount"
    MUTATION_WITHDRAW_MY_CANCELLATION = "mutation.withdrawMyCancellation"
    MUTATION_HOLD_ERASURE = "mutation.holdErasure"
    MUTATION_RELEASE_ERASURE_HOLD = "mutation.releaseErasureHold"
    # Activation.
    QUERY_CAMPAIGN = "query.campaign"
    QUERY_CAMPAIGN_FORECAST = "query.campaignForecast"
    MUTATION_SEND_MESSAGE = "mutation.sendMessage"
    MUTATION_SCHEDULE_CAMPAIGN = "mutation.scheduleCampaign"
    MUTATION_CANCEL_CAMPAIGN = "mutation.cancelCampaign"


class AuditOutcome(StrEnum):
    """How it ended: `ok`, a particular of the action, or a refusal's error code in lower case."""

    OK = "ok"
    REPLAYED = "replayed"
    NOT_TAGGED = "not_tagged"
    REFUSED = "refused"
    THROTTLED = "throttled"  # recorded, and the like after it this minute counted only
    FLAGGED = "flagged"
    BROKEN = "broken"
    ERROR = "error"
    UNAUTHENTICATED = "unauthenticated"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    BAD_USER_INPUT = "bad_user_input"
    CONFLICT = "conflict"
    SUPPRESSED = "suppressed"
    QUERY_TOO_COMPLEX = "query_too_complex"
    INTERNAL = "internal"


class AuditRole(StrEnum):
    """Who acted: a token's role, the operator at the command line, or an unverified token."""

    CUSTOMER = "customer"
    SUPPORT = "support"
    ANALYST = "analyst"
    MARKETER = "marketer"
    COMPLIANCE = "compliance"
    SERVICE = "service"
    OPERATOR = "operator"
    UNVERIFIED = "unverified"
    STAFF = "staff"  # a staff sign-in, before the person has chosen a role
