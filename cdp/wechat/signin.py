"""From a WeChat identity to a customer session: link it as `linkIdentity` does (suppression
included), audit the sign-in, and sign a short-lived customer token.

Keyword-only functions that take the session and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from cdp.audit import trail as audit
from cdp.auth import Principal, Role, issue_token
from cdp.channels import Channel
from cdp.config import Settings
from cdp.config_models import WechatApp, WechatAppType
from cdp.errors import bad_input
from cdp.keys.vault import Vault
from cdp.linking.link import link_identity
from cdp.linking.reviews import LimitBroken, open_review
from cdp.privacy.cancellation import WITHDRAWABLE, open_cancellation

SIGN_IN_ACTION = "auth.wechat"
CHANNEL_OF = {
    WechatAppType.MINI_PROGRAM: Channel.MINI_PROGRAM,
    WechatAppType.OFFICIAL_ACCOUNT: Channel.OFFICIAL_ACCOUNT,
    WechatAppType.WEBSITE: Channel.WEB,
}


@dataclass(frozen=True, slots=True)
class CustomerSession:
    """A signed-in customer: their profile's public id and a bearer token for it."""

    profile_id: str
    token: str
    expires_in: int
    created_profile: bool
    # The person's account cancellation while it cools off (or is held): the page offers to
    # withdraw it. (request public id, status, when it runs)
    cancellation: tuple[str, str, str | None] | None = None


@dataclass(frozen=True, slots=True)
class VouchedIdentity:
    """An identity WeChat vouched for: in which app, the OpenID, the UnionID when WeChat gave
    one, and the OAuth scope granted (official accounts and website apps)."""

    app_id: str
    kind: WechatAppType
    open_id: str
    union_id: str | None
    scope: str | None = None


def configured_app(settings: Settings, app_id: object, kind: WechatAppType) -> WechatApp:
    """The configured app of this kind; BAD_USER_INPUT (field appId) for anything else."""
    app = settings.wechat_apps.get(app_id) if isinstance(app_id, str) else None
    if app is None or app.type is not kind:
        raise bad_input(f"appId is not a configured {kind.value} app", field="appId")
    return app


def session_ttl(settings: Settings) -> int:
    """The customer session's lifetime, never beyond what any token may live."""
    return min(settings.customer_session_ttl_seconds, settings.max_token_ttl_seconds)


def customer_token(settings: Settings, profile_id: str) -> str:
    return issue_token(
        settings, role=Role.CUSTOMER, subject=profile_id, ttl_seconds=session_ttl(settings)
    )


async def sign_in(
    *,
    session: AsyncSession,
    vault: Vault,
    settings: Settings,
    identity: VouchedIdentity,
) -> CustomerSession:
    """Link the identity WeChat vouched for and open a session for its profile.

    SUPPRESSED for an erased person; the audit trail continues as the customer. A link the
    identity rules refuse is kept for review, and the person signs in to the profile their
    OpenID has (a profile of its own when it is new), without the UnionID.
    """
    link = partial(
        link_identity,
        session=session,
        vault=vault,
        settings=settings,
        channel=CHANNEL_OF[identity.kind],
        app_id=identity.app_id,
        open_id=identity.open_id,
    )
    try:
        async with session.begin_nested():
            outcome = await link(union_id=identity.union_id)
    except LimitBroken as refused:
        outcome = await link(union_id=None)
        await open_review(
            session=session, refused=refused, profile=outcome.profile, via="wechat.sign_in"
        )
    profile = outcome.profile
    audit.trail_of(session).continue_as(Principal(subject=profile.public_id, role=Role.CUSTOMER))
    audit.record(
        session,
        action=SIGN_IN_ACTION,
        profile_id=profile.id,
        detail={
            "appId": identity.app_id,
            "channel": CHANNEL_OF[identity.kind].value,
            "scope": identity.scope,
            "createdProfile": outcome.created_profile,
            "ttlSeconds": session_ttl(settings),
        },
    )
    assert profile.id is not None
    pending = await open_cancellation(session, profile.id)
    return CustomerSession(
        profile_id=profile.public_id,
        token=customer_token(settings, profile.public_id),
        expires_in=session_ttl(settings),
        created_profile=outcome.created_profile,
        cancellation=None
        if pending is None or pending.status not in WITHDRAWABLE
        else (
            pending.public_id,
            pending.status.value,
            pending.runs_at.isoformat() if pending.runs_at else None,
        ),
    )
