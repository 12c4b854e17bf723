"""The merge steps, one per table that holds a profile's rows, in the order a merge runs them.

An explicit list, not a registry filled on import: a test checks that every table with a
`profile_id` column is moved here (or named in NOT_MOVED) and purged by erasure.
"""

from __future__ import annotations

from cdp.audiences import membership as audiences
from cdp.consent import service as consent
from cdp.erasure import service as erasure
from cdp.events import service as events
from cdp.loyalty import coupons, points
from cdp.orders import service as orders
from cdp.outbox.models import OUTBOX
from cdp.profiles import merge
from cdp.profiles.merge import Merge, Step, reassign_rows
from cdp.subscriptions import service as subscriptions
from cdp.tags import service as tags


async def move_messages(merge: Merge) -> int:
    """The loser's messages go with it (those sent count against the survivor's caps)."""
    return await reassign_rows(merge, OUTBOX)


MERGE_STEPS: tuple[Step, ...] = (
    Step("identities", ("identities",), merge.move_identities),
    Step("profile_keys", ("profile_keys",), merge.move_keys),  # the identities' lookup keys
    Step("data_keys", ("data_keys",), merge.move_data_keys),  # in the key store
    Step("identity_reviews", ("identity_reviews",), merge.move_reviews),
    Step("consents", ("consents", "consent_history"), consent.merge_consents),
    Step("contacts", ("contacts",), consent.move_contacts),
    Step("erasure_requests", ("erasure_requests",), erasure.follow_the_person),
    Step("events", ("events",), events.move_events),
    Step("coupons", ("coupons",), coupons.move_coupons),
    Step("points", ("points_lots", "points_ledger"), points.move_points),
    Step("orders", ("orders",), orders.move_orders),
    Step("profile_tags", ("profile_tags",), tags.merge_tags),
    Step("audiences", ("audience_membership_changes",), audiences.move_history),
    Step(
        "wechat_subscriptions",
        ("wechat_follows", "wechat_subscribe_grants"),
        subscriptions.move_subscriptions,
    ),
    Step("outbox", ("outbox",), move_messages),
)

# Tables that hold a profile's id and stay as they are: the audit log records what happened
# to the profile it names (the merge record links the loser's id to the survivor); the
# loser's queued re-evaluations go with it (the audiences step queues the survivor); a
# loser's one-use export links expire within minutes (the survivor asks for another).
NOT_MOVED = ("audit_events", "audience_queue", "data_export_links")
