"""The one send decision: consent, suppression, the caps of a channel and a topic, quiet
hours and the subscription quota, each refusal recorded with its reason, and the same answer
for one person as for many."""

from __future__ import annotations

from datetime import UTC, datetime

from cdp.activation.decision import decide, quiet_until
from cdp.activation.messages import template_named
from cdp.suppression.models import ErasureMode, ErasureRequest, ErasureStatus
from tests.support.activation import Activation


async def reasons(activation: Activation) -> list[tuple[str, str | None]]:
    return [(row.state, row.reason) for row in await activation.rows()]


async def test_marketing_without_an_opt_in_is_refused_and_the_refusal_is_recorded(
    activation: Activation,
) -> None:
    anna = await activation.member(accepts=1, template="spring_sale")
    queued = await activation.queue("spring_sale", [anna], date="2026-12-03")
    assert (queued[0].decision.allowed, queued[0].decision.reason) == (False, "NO_CONSENT")
    assert await reasons(activation) == [("REFUSED", "NO_CONSENT")]
    assert await activation.worker().run_once() == 0


async def test_marketing_to_someone_who_opted_in_is_sent(activation: Activation) -> None:
    anna = await activation.member(accepts=1, template="spring_sale", marketing=True)
    await activation.queue("spring_sale", [anna], date="2026-12-03")
    await activation.worker().run_once()
    assert await reasons(activation) == [("SENT", None)]


async def test_consent_caps_marketing_at_one_a_day_per_channel(activation: Activation) -> None:
    anna = await activation.member(accepts=2, template="spring_sale", marketing=True)
    await activation.queue("spring_sale", [anna], key="a", date="2026-12-03")
    await activation.queue("spring_sale", [anna], key="b", date="2026-12-03")
    assert await reasons(activation) == [("PENDING", None), ("REFUSED", "FREQUENCY_CAP")]


async def test_an_official_account_sends_a_person_at_most_four_pushes_a_month(
    activation: Activation,
) -> None:
    anna = await activation.member(follows=True)
    for n in range(5):
        await activation.queue("order_shipped", [anna], key=f"ship{n}", order_no=f"E{n}")
        activation.clock.advance(days=5)
    assert [r for _, r in await reasons(activation)] == [None] * 4 + ["CHANNEL_CAP"]
    activation.clock.advance(days=11)  # the first push is now more than 30 days old
    await activation.queue("order_shipped", [anna], key="ship5", order_no="E5")
    assert (await reasons(activation))[-1] == ("PENDING", None)


async def test_the_follow_prompt_goes_at_most_once_in_24_hours(activation: Activation) -> None:
    anna = await activation.member(follows=True)
    await activation.queue("follow_prompt", [anna], key="p1")
    activation.clock.advance(hours=23)
    await activation.queue("follow_prompt", [anna], key="p2")
    activation.clock.advance(hours=2)
    await activation.queue("follow_prompt", [anna], key="p3")
    assert [r for _, r in await reasons(activation)] == [None, "TOPIC_CAP", None]


async def test_a_subscribe_message_without_an_acceptance_is_refused_before_wechat_is_asked(
    activation: Activation,
) -> None:
    anna = await activation.member()
    await activation.queue("order_paid", [anna], order_no="E1", amount_yuan="1.00")
    assert await reasons(activation) == [("REFUSED", "NO_SUBSCRIPTION")]
    assert activation.wechat.calls == []


async def test_a_template_message_to_someone_not_following_is_refused(
    activation: Activation,
) -> None:
    anna = await activation.member(follows=False)
    await activation.queue("order_shipped", [anna], order_no="E1")
    assert await reasons(activation) == [("REFUSED", "NOT_FOLLOWING")]


async def test_an_erased_person_is_refused_as_suppressed(activation: Activation) -> None:
    anna = await activation.member(accepts=1)
    async with activation.database.transaction() as session:
        session.add(
            ErasureRequest(
                public_id="er-1",
                profile_id=anna.id,
                mode=ErasureMode.ANONYMIZE,
                reason="asked",
                status=ErasureStatus.COMPLETED,
                requested_by="c1",
                due_at=datetime(2026, 12, 18, tzinfo=UTC),
            )
        )
    await activation.queue("order_paid", [anna], order_no="E1", amount_yuan="1.00")
    assert await reasons(activation) == [("REFUSED", "SUPPRESSED")]


async def test_marketing_in_quiet_hours_waits_until_eight_in_shanghai(
    activation: Activation,
) -> None:
    anna = await activation.member(accepts=1, template="spring_sale", marketing=True)
    activation.clock.now = datetime(2026, 12, 3, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai
    await activation.queue("spring_sale", [anna], date="2026-12-03")
    (row,) = await activation.rows()
    assert row.state == "PENDING" and row.due_at == datetime(2026, 12, 4, 0, 0, tzinfo=UTC)
    assert await activation.worker().run_once() == 0
    activation.clock.now = datetime(2026, 12, 4, 0, 0, 1, tzinfo=UTC)
    assert await activation.worker().run_once() == 1


def test_quiet_hours_span_midnight_in_the_configured_zone(activation: Activation) -> None:
    settings = activation.settings
    assert quiet_until(datetime(2026, 12, 3, 13, 59, tzinfo=UTC), settings) is None  # 21:59
    assert quiet_until(datetime(2026, 12, 3, 14, 0, tzinfo=UTC), settings) == datetime(
        2026, 12, 4, 0, 0, tzinfo=UTC
    )
    assert quiet_until(datetime(2026, 12, 3, 23, 0, tzinfo=UTC), settings) == datetime(
        2026, 12, 4, 0, 0, tzinfo=UTC
    )  # 07:00
    assert quiet_until(datetime(2026, 12, 4, 0, 0, tzinfo=UTC), settings) is None  # 08:00


async def test_the_decision_for_one_person_is_the_decision_for_them_among_many(
    activation: Activation,
) -> None:
    people = [
        await activation.member(accepts=1, template="spring_sale", marketing=True),
        await activation.member(accepts=1, template="spring_sale"),
        await activation.member(template="spring_sale", marketing=True),
        await activation.member(accepts=1, template="spring_sale", marketing=False),
    ]
    template = template_named(activation.settings, "spring_sale")
    async with activation.database.transaction() as session:
        together = await decide(
            session=session,
            profile_ids=[p.id for p in people] + [10**9],
            name="spring_sale",
            template=template,
            settings=activation.settings,
            now=activation.clock(),
        )
        alone = {
            p.id: (
                await decide(
                    session=session,
                    profile_ids=[p.id],
                    name="spring_sale",
                    template=template,
                    settings=activation.settings,
                    now=activation.clock(),
                )
            )[p.id]
            for p in people
        }
    assert [together[p.id].reason for p in people] == [
        "CONSENTED",
        "NO_CONSENT",
        "NO_SUBSCRIPTION",
        "OPTED_OUT",
    ]
    assert {p.id: together[p.id] for p in people} == alone
    assert together[10**9].reason == "SUPPRESSED"  # no such person (erased outright)


async def test_consent_withdrawn_after_queueing_refuses_the_send_and_gives_the_acceptance_back(
    activation: Activation,
) -> None:
    import sqlalchemy as sa

    from cdp.consent.models import Consent, Contact
    from cdp.subscriptions.models import SubscribeGrant

    anna = await activation.member(accepts=1, template="spring_sale", marketing=True)
    await activation.queue("spring_sale", [anna], date="2026-12-03")
    async with activation.database.transaction() as session:
        await session.execute(sa.update(Consent).values(granted=False))
    await activation.worker().run_once()
    assert await reasons(activation) == [("REFUSED", "OPTED_OUT")]
    async with activation.database.transaction() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(Contact)) == 0
        assert await session.scalar(sa.select(SubscribeGrant.available)) == 1  # type: ignore[arg-type]
    assert activation.wechat.messages.sent == []


def test_settings_refuse_a_trigger_naming_no_template_and_a_plain_http_webhook_in_production() -> (
    None
):
    import pytest

    from cdp.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match="activation_triggers"):
        load_settings({"CDP_ACTIVATION_TRIGGERS": '[{"on": "order.paid", "template": "nope"}]'})
    with pytest.raises(ConfigError, match="quiet hours"):
        load_settings({"CDP_ACTIVATION_QUIET_HOURS": "10pm-8am"})
    hooks = '{"crm": {"url": "http://crm.local/h", "events": ["consent.changed"], "secret": "%s"}}'
    settings = load_settings({"CDP_WEBHOOKS": hooks % ("s" * 20)})
    assert settings.webhooks["crm"].secret.get_secret_value() not in repr(settings)
    with pytest.raises(ConfigError):
        load_settings({"CDP_ENV": "production", "CDP_WEBHOOKS": hooks % ("s" * 20)})
