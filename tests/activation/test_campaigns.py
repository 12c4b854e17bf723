"""Campaigns: a dry run counts who would receive the message and who would be refused by
which rule, through the same decision; the run queues members throttled, resumes without
queueing anyone twice, and totals what happened."""

from __future__ import annotations

from datetime import timedelta

from cdp.activation.campaigns import forecast, schedule_campaign, totals
from cdp.activation.models import Campaign
from cdp.tags.models import ProfileTag, TagSource
from tests.conftest import audited
from tests.support.activation import Activation, Member


async def tagged(activation: Activation, members: list[Member], audience: str) -> None:
    async with activation.database.transaction() as session:
        for m in members:
            session.add(
                ProfileTag(profile_id=m.id, tag=audience, source=TagSource.RULE, tagged_by="rule")
            )


async def people(activation: Activation) -> list[Member]:
    consenting = [
        await activation.member(accepts=1, template="spring_sale", marketing=True) for _ in range(4)
    ]
    silent = [await activation.member(accepts=1, template="spring_sale") for _ in range(2)]
    unsubscribed = [await activation.member(marketing=True)]
    everyone = consenting + silent + unsubscribed
    await tagged(activation, everyone, "vip_2026")
    return everyone


async def test_a_dry_run_counts_recipients_and_refusals_by_rule_and_writes_nothing(
    activation: Activation,
) -> None:
    await people(activation)
    async with activation.database.transaction() as session:
        found = await forecast(
            session=session,
            settings=activation.settings,
            template="spring_sale",
            audience="vip_2026",
            now=activation.clock(),
        )
    assert (found.members, found.would_send) == (7, 4)
    assert dict(found.refused) == {"NO_CONSENT": 2, "NO_SUBSCRIPTION": 1}
    assert await activation.rows() == []


async def test_a_campaign_queues_its_members_throttled_once_and_totals_what_happened(
    activation: Activation,
) -> None:
    await people(activation)
    async with audited(activation.database) as session:
        campaign = await schedule_campaign(
            session=session,
            settings=activation.settings,
            actor="marketer-1",
            name="年终回馈",
            template="spring_sale",
            audience="vip_2026",
            starts_at=activation.clock() + timedelta(minutes=5),
            per_minute=2,
        )
    built = activation.whole_worker()
    activation_worker = built.worker
    assert await built.round(activation.clock()) == 0  # not yet
    activation.clock.advance(minutes=5)
    assert await built.round(activation.clock()) == 7
    assert await built.round(activation.clock()) == 0  # every member queued: none again
    rows = [r for r in await activation.rows() if r.campaign_id == campaign.id]
    assert len(rows) == 7
    due = sorted(r.due_at for r in rows if r.state == "PENDING")
    assert [(d - due[0]).total_seconds() for d in due] == [0, 30, 60, 90]  # two a minute
    assert await activation_worker.run_once() == 1
    activation.clock.advance(minutes=2)
    while await activation_worker.run_once():
        pass
    async with activation.database.transaction() as session:
        row = await session.get(Campaign, campaign.id)
        assert row is not None and row.status == "QUEUED"
        found = await totals(session=session, campaign=row)
    assert (found.queued, found.sent, found.pending) == (7, 4, 0)
    assert dict(found.refused) == {"NO_CONSENT": 2, "NO_SUBSCRIPTION": 1}
    assert len(activation.wechat.messages.sent) == 4
