"""Every root field for the role tests: the queries that reach one person (or the system), and
one call of every mutation, each as a document a forbidden role sends."""

from __future__ import annotations

from tests.support.people import MINI

# Queries of de-identified aggregates: `analytics`, and audiences with their counts.
AGGREGATE_QUERIES = frozenset(
    {"analytics", "audiences", "audience", "audiencePreview", "campaign", "campaignForecast"}
)


def individual_queries(profile_id: str) -> dict[str, list[str]]:
    return {
        "me": ["{ me { id } }"],
        "profile": [
            f'{{ profile(purpose: "analysis", id: "{profile_id}") {{ id tier }} }}',
            '{ profile(purpose: "analysis", unionId: "u_person") { id } }',
            f'{{ profile(purpose: "analysis", appId: "{MINI}", openId: "oMINI_person") {{ id }} }}',
            '{ profile(purpose: "analysis", phone: "13812345678") { id } }',
        ],
        "profilesByTag": ['{ profilesByTag(tag: "club") { items { id } } }'],
        "canContact": [
            f'{{ canContact(profileId: "{profile_id}", purpose: MARKETING, channel: SMS) '
            "{ allowed reason } }"
        ],
        "auditEvents": ["{ auditEvents { items { seq action } } }"],
        "erasureRequests": ["{ erasureRequests { items { id } } }"],
        "identityReviews": ["{ identityReviews { items { id status } } }"],
        "staffSessions": ["{ staffSessions { items { id person } } }"],
        "auditLogVerification": ["{ auditLogVerification { intact checked } }"],
        "auditTreeHead": ["{ auditTreeHead { size root } }"],
        "auditPublicKeys": ["{ auditPublicKeys { version pem } }"],
        "auditInclusionProof": ["{ auditInclusionProof(seq: 1) { leafHash path } }"],
        "auditConsistencyProof": ["{ auditConsistencyProof(fromSize: 0, toSize: 1) { path } }"],
        "suppression": ['{ suppression(phone: "13800000000") { suppressed kind } }'],
        "myPrivacy": ["{ myPrivacy { reconsentNeeded } }"],
        "privacyNotices": ["{ privacyNotices { version } }"],
        "audienceMembers": [
            '{ audienceMembers(audience: "club", purpose: MARKETING, channel: SMS) '
            "{ items { profileId } } }"
        ],
    }


def every_mutation(profile_id: str) -> dict[str, str]:
    p = f'profileId: "{profile_id}"'
    item = '{sku: "S", name: "N", quantity: 1, unitPriceFen: 100}'
    event = (
        f'{{eventId: "ev-1", type: "page_view", channel: WEB, '
        f'occurredAt: "2026-03-01T00:00:00Z", {p}}}'
    )
    return {
        "linkIdentity": f'linkIdentity(input: {{channel: MINI_PROGRAM, appId: "{MINI}", '
        'openId: "oAnalystMade"}) { id }',
        "updateMyProfile": 'updateMyProfile(input: {name: "X"}) { id }',
        "earnPoints": f'earnPoints(input: {{{p}, points: 10, idempotencyKey: "k1"}}) {{ id }}',
        "spendPoints": f'spendPoints(input: {{{p}, points: 1, idempotencyKey: "k2"}}) {{ id }}',
        "adjustPoints": f'adjustPoints(input: {{{p}, points: 5, idempotencyKey: "k3"}}) {{ id }}',
        "issueCoupon": f'issueCoupon(input: {{{p}, title: "T", discountFen: 100, '
        'idempotencyKey: "k4"}) { id }',
        "redeemCoupon": 'redeemCoupon(input: {couponId: "c-1"}) { id }',
        "recordOrder": f'recordOrder(input: {{{p}, channel: MINI_PROGRAM, externalId: "X-1", '
        f"status: PAID, items: [{item}]}}) {{ id }}",
        "tagProfile": f'tagProfile(input: {{{p}, tag: "analyst-made"}}) {{ id }}',
        "untagProfile": f'untagProfile(input: {{{p}, tag: "club"}}) {{ id }}',
        "updateMyConsents": "updateMyConsents(input: {consents: "
        "[{purpose: ANALYTICS, granted: false}]}) { id }",
        "recordContact": f"recordContact(input: {{{p}, purpose: MARKETING, channel: SMS}}) "
        "{ id }",
        "recordEvent": f"recordEvent(input: {event}) {{ status }}",
        "recordEvents": f"recordEvents(input: {{events: [{event}]}}) {{ status }}",
        "requestErasure": f'requestErasure(input: {{{p}, mode: DELETE, reason: "T-1"}}) {{ id }}',
        "approveErasure": 'approveErasure(input: {requestId: "r-1"}) { id }',
        "exportProfile": f'exportProfile(input: {{{p}, purpose: "analysis"}}) {{ generatedAt }}',
        "liftSuppression": 'liftSuppression(input: {reason: "T-2", openId: "oMINI_person"}) '
        "{ lifted }",
        "revokeStaffSessions": 'revokeStaffSessions(input: {person: "wecom:zhangsan"})',
        "resolveIdentityReview": 'resolveIdentityReview(input: {reviewId: "r-1", '
        'decision: KEEP_APART, reason: "T-3"}) { id }',
        "defineAudience": 'defineAudience(input: {name: "club", '
        'definition: {tier: {in: ["VIP"]}}}) { name }',
        "requestMyDataExport": "requestMyDataExport(input: {format: JSON}) { url }",
        "cancelMyAccount": "cancelMyAccount(input: {confirm: true}) { id }",
        "withdrawMyCancellation": 'withdrawMyCancellation(input: {requestId: "r-1"}) { id }',
        "holdErasure": 'holdErasure(input: {requestId: "r-1", legalReason: "T-4"}) { id }',
        "releaseErasureHold": 'releaseErasureHold(input: {requestId: "r-1", reason: "T-5"}) { id }',
        "sendMessage": f'sendMessage(input: {{{p}, template: "t", idempotencyKey: "k"}}) '
        "{ allowed }",
        "scheduleCampaign": 'scheduleCampaign(input: {name: "c", template: "t", '
        'audience: "club"}) { name }',
        "cancelCampaign": 'cancelCampaign(input: {name: "c"}) { name }',
    }
