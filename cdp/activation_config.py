"""Activation's structured settings, each given as JSON in its `CDP_` variable: the message
templates (`CDP_ACTIVATION_TEMPLATES`), the caps beyond consent's per-purpose ones
(`CDP_ACTIVATION_CAPS`) and the brand's webhook endpoints (`CDP_WEBHOOKS`)."""

from __future__ import annotations

import re
import string
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, SecretStr, model_validator

# What a template may show: what the trigger knows that is not personal (never a name, a
# phone or an address). A campaign passes none; its text is the brand's own.
VARIABLES = frozenset(
    {
        "order_no",  # the brand's order number
        "amount_yuan",  # the order's total, e.g. 128.00
        "status",  # the order's status, in the template's language
        "points",  # points expiring
        "coupon_title",
        "expires_on",  # a date, YYYY-MM-DD
        "tier",
        "audience",
        "date",  # today, YYYY-MM-DD in the quiet-hours time zone
    }
)
CHANNELS = ("MINI_PROGRAM", "OFFICIAL_ACCOUNT", "SMS")
PURPOSES = ("MARKETING", "ACTIVITY_NOTIFICATIONS")
EVENTS = (
    "profile.merged",
    "consent.changed",
    "order.status_changed",
    "erasure.completed",
    "audience.entered",
    "audience.left",
)


class MessageTemplate(BaseModel):
    """One message the brand sends: the channel and app, WeChat's template id (or the SMS
    template's), what it is for (consent purpose, and the cap group `topic`), and its fields:
    a WeChat keyword (or an SMS parameter's position) to the brand's text, in which
    `{variable}` stands for one of VARIABLES."""

    model_config = {"frozen": True, "extra": "forbid"}

    channel: str = Field(pattern="^(" + "|".join(CHANNELS) + ")$")
    app_id: str | None = Field(default=None, pattern=r"^wx[A-Za-z0-9]{16}$")
    template_id: str = Field(min_length=1, max_length=128)
    purpose: str = Field(pattern="^(" + "|".join(PURPOSES) + ")$")
    topic: str | None = Field(default=None, max_length=64, pattern=r"^[a-z0-9_.-]+$")
    fields: dict[str, str] = Field(min_length=1, max_length=20)
    page: str | None = Field(default=None, max_length=500)  # mini-program page or OA URL
    quiet_hours: bool = True  # deferred out of quiet hours (an order's own notice: false)

    @model_validator(mode="after")
    def _fits(self) -> MessageTemplate:
        if (self.channel == "SMS") != (self.app_id is None):
            raise ValueError("a WeChat template names its app_id; an SMS template none")
        for name, text in self.fields.items():
            if not re.fullmatch(r"[A-Za-z0-9_]{1,32}", name):
                raise ValueError(f"field {name!r} is not a template keyword")
            try:
                used = {n for _, n, _, _ in string.Formatter().parse(text) if n is not None}
            except ValueError:
                raise ValueError(f"field {name!r}: unbalanced braces") from None
            unknown = used - VARIABLES
            if unknown:
                raise ValueError(f"field {name!r} uses {sorted(unknown)}; use {sorted(VARIABLES)}")
        return self


class CapRule(BaseModel):
    """At most `limit` messages within `hours` to one person, counting those of `channel`
    (every purpose), or of `topic` (a template's cap group, e.g. the follow prompt)."""

    model_config = {"frozen": True, "extra": "forbid"}

    channel: str | None = Field(default=None, pattern="^(" + "|".join(CHANNELS) + ")$")
    topic: str | None = Field(default=None, max_length=64)
    limit: int = Field(ge=1, le=1000)
    hours: float = Field(gt=0, le=24 * 366)

    @model_validator(mode="after")
    def _one_scope(self) -> CapRule:
        if (self.channel is None) == (self.topic is None):
            raise ValueError("a cap names a channel or a topic")
        return self


class WebhookEvent(StrEnum):
    PROFILE_MERGED = "profile.merged"
    CONSENT_CHANGED = "consent.changed"
    ORDER_STATUS_CHANGED = "order.status_changed"
    ERASURE_COMPLETED = "erasure.completed"
    AUDIENCE_ENTERED = "audience.entered"
    AUDIENCE_LEFT = "audience.left"


class Webhook(BaseModel):
    """One of the brand's endpoints: its URL, the events it takes, and the secret its
    deliveries are signed with (HMAC-SHA256)."""

    model_config = {"frozen": True, "extra": "forbid"}

    url: str = Field(pattern=r"^https?://", max_length=2000)
    events: list[WebhookEvent] = Field(min_length=1)
    secret: SecretStr = Field(min_length=16)


class TriggerOn(StrEnum):
    ORDER_PAID = "order.paid"
    ORDER_SHIPPED = "order.shipped"
    ORDER_COMPLETED = "order.completed"  # with `days`: after-sales care N days later
    TIER_CHANGED = "tier.changed"
    AUDIENCE_ENTERED = "audience.entered"  # `audience` names which
    POINTS_EXPIRING = "points.expiring"  # `days` ahead of the points' expiry
    COUPON_EXPIRING = "coupon.expiring"  # `days` ahead of the coupon's end


class Trigger(BaseModel):
    """Send `template` when `on` happens: `days` later for an order's status (0: at once),
    `days` ahead for an expiry; for audience.entered, the `audience` entered."""

    model_config = {"frozen": True, "extra": "forbid"}

    on: TriggerOn
    template: str = Field(min_length=1, max_length=64)
    days: int = Field(default=0, ge=0, le=365)
    audience: str | None = Field(default=None, max_length=64)

    @model_validator(mode="after")
    def _audience_for_audiences(self) -> Trigger:
        if (self.on is TriggerOn.AUDIENCE_ENTERED) != (self.audience is not None):
            raise ValueError("audience.entered names its audience (and only it does)")
        return self


def _names(value: dict[str, MessageTemplate]) -> dict[str, MessageTemplate]:
    for name in value:
        if not re.fullmatch(r"[a-z0-9_.-]{1,64}", name):
            raise ValueError(f"template name {name!r}: 1-64 of a-z 0-9 _ . -")
    return value


def _webhook_names(value: dict[str, Webhook]) -> dict[str, Webhook]:
    for name in value:
        if not re.fullmatch(r"[a-z0-9_.-]{1,32}", name):
            raise ValueError(f"webhook name {name!r}: 1-32 of a-z 0-9 _ . -")
    return value


def _quiet(value: str) -> str:
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d", value):
        raise ValueError("quiet hours are HH:MM-HH:MM, e.g. 22:00-08:00")
    return value


MessageTemplates = Annotated[dict[str, MessageTemplate], AfterValidator(_names)]
Webhooks = Annotated[dict[str, Webhook], AfterValidator(_webhook_names)]
QuietHours = Annotated[str, AfterValidator(_quiet)]
DEFAULT_CAPS = (
    # An official account's four pushes a month (服务号每月4条), and the follow prompt once a day.
    CapRule(channel="OFFICIAL_ACCOUNT", limit=4, hours=24 * 30),
    CapRule(topic="follow_prompt", limit=1, hours=24),
)
