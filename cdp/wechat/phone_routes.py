"""A mini-program's phone authorisation: `POST /auth/wechat/mini-program/phone` with the signed-in
customer's bearer token and `{appId, code}` (the getPhoneNumber button's code). cdp exchanges
the code at wxa/business/getuserphonenumber with the app's access token (cdp/wechat/
app_tokens.py), checks the watermark names the app, and sets the phone verified (source
WECHAT) on the customer's profile under the identity rules (cdp/linking/phones.py).

Answers: 200 `{profileId, phone, phoneVerified, phoneSource}`; 400 for a bad or used code;
403 for WeChat's exhausted quota (1400001); 409 with `reviewId` when the phone is verified on
another profile and the rules keep the pair for review; 503 with Retry-After when WeChat is
busy or slow. Each outcome but malformed input is audited (`phone.verify`).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cdp.audit.trail import AuditTrail
from cdp.auth import Principal, Role, principal_from_header
from cdp.config_models import WechatApp, WechatAppType
from cdp.errors import CdpError, ErrorCode, forbidden, not_found
from cdp.keys.vault import Vault
from cdp.linking.phones import PhoneOutcome, set_verified_phone
from cdp.outages import outage_of
from cdp.profiles.models import PhoneSource
from cdp.profiles.service import writable_profile
from cdp.profiles.values import display_phone, normalize_phone
from cdp.unit_of_work import audited_transaction
from cdp.wechat.app_tokens import AppTokens
from cdp.wechat.client import PhoneInfo, WechatError, WechatFailure
from cdp.wechat.outcomes import NO_STORE, SignInFailed, failure_of, json_error, unexpected
from cdp.wechat.routes import PREFIX, WechatSignIn, request_id_of
from cdp.wechat.signin import configured_app

PHONE_ACTION = "phone.verify"
# A bad code is the request's fault, not the session's: 400, never 401 (the token is good).
CODE_FAILURES = frozenset({WechatFailure.CODE_INVALID, WechatFailure.CODE_USED})


class WechatPhoneAuthorisation:
    """The phone route, on the WeChat sign-in's client and rate limit."""

    def __init__(self, base: WechatSignIn) -> None:
        self.base, self.settings = base, base.settings
        self.tokens = AppTokens(base.database, base.keyring, base.client)

    def routes(self) -> list[Route]:
        return [Route(f"{PREFIX}/mini-program/phone", self.phone, methods=["POST"])]

    async def phone(self, request: Request) -> Response:
        request_id = request_id_of(request)
        principal: Principal | None = None
        try:
            principal = principal_from_header(self.settings, request.headers.get("authorization"))
            if principal.role is not Role.CUSTOMER:
                raise forbidden("Phone authorisation is for a signed-in customer")
            await self.base.spend_budget(request)
            app_id, code = await self.base.read_login(request)
            app = configured_app(self.settings, app_id, WechatAppType.MINI_PROGRAM)
            info = await self._phone_info(app_id, app, code)
            if info.watermark_app_id != app_id:
                raise SignInFailed(
                    502,
                    ErrorCode.INTERNAL,
                    "WeChat's answer names another app",
                    reason="WECHAT_WATERMARK",
                )
            answer = await self._verify(request_id, principal, info)
        except (CdpError, WechatError, SignInFailed) as exc:
            return await self._refuse(request_id, principal, _failure(exc))
        except Exception as exc:
            if outage_of(exc):
                raise  # 503 (cdp/availability.py)
            return json_error(request_id, unexpected(exc, request_id))
        return answer

    async def _phone_info(self, app_id: str, app: WechatApp, code: str) -> PhoneInfo:
        token = await self.tokens.current(app_id, app)
        try:
            return await self.base.client.phone_number(access_token=token, code=code)
        except WechatError as exc:
            if exc.failure is not WechatFailure.TOKEN_INVALID:
                raise
        token = await self.tokens.replace(app_id, app, token)  # refreshed elsewhere: once more
        return await self.base.client.phone_number(access_token=token, code=code)

    async def _verify(self, request_id: str, principal: Principal, info: PhoneInfo) -> Response:
        trail = self._trail(request_id, principal)
        async with audited_transaction(self.base.database, trail) as session:
            profile = await writable_profile(session=session, public_id=principal.subject)
            if profile is None:
                raise not_found("No profile for this customer")
            outcome = await set_verified_phone(
                session=session,
                vault=Vault(self.base.keyring, self.base.keystore),
                settings=self.settings,
                profile=profile,
                phone=info.phone,
                source=PhoneSource.WECHAT,
            )
            answer = _answer(request_id, outcome, info)
        return answer

    def _trail(self, request_id: str, principal: Principal) -> AuditTrail:
        return AuditTrail.of(
            principal, key=self.base.keyring.keyring.audit_key, request_id=request_id
        )

    async def _refuse(
        self, request_id: str, principal: Principal | None, failed: SignInFailed
    ) -> Response:
        """Audit a refusal as the customer (own transaction: the work was rolled back);
        malformed requests and unauthenticated ones are not audited."""
        if principal is None or failed.code is ErrorCode.BAD_USER_INPUT:
            return json_error(request_id, failed)
        if failed.extensions.get("limit") == "rate":
            return json_error(request_id, failed)
        trail = self._trail(request_id, principal)
        detail = {k: v for k, v in failed.extensions.items() if k in ("reason", "errcode")}
        trail.record(action=PHONE_ACTION, outcome=failed.code.value.lower(), detail=detail)
        try:
            async with audited_transaction(self.base.database, trail):
                pass
        except Exception as exc:
            unexpected(exc, request_id)
        return json_error(request_id, failed)


def _failure(exc: CdpError | WechatError | SignInFailed) -> SignInFailed:
    if isinstance(exc, SignInFailed):
        return exc
    if isinstance(exc, WechatError) and exc.failure in CODE_FAILURES:
        extra: dict[str, Any] = {"reason": exc.failure.value, "field": "code"}
        if exc.errcode is not None:
            extra["errcode"] = exc.errcode
        return SignInFailed(400, ErrorCode.BAD_USER_INPUT, "WeChat rejected the code", **extra)
    return failure_of(exc)


def _answer(request_id: str, outcome: PhoneOutcome, info: PhoneInfo) -> Response:
    headers = {**NO_STORE, "x-request-id": request_id}
    if outcome.review is not None:
        failed = SignInFailed(
            409,
            ErrorCode.CONFLICT,
            "This phone is verified on another profile; kept for review",
            reason="IDENTITY_REVIEW",
            reviewId=outcome.review.public_id,
        )
        return json_error(request_id, failed)
    profile = outcome.profile
    body = {
        "profileId": profile.public_id,
        "phone": display_phone(normalize_phone(info.phone)),
        "phoneVerified": True,
        "phoneSource": PhoneSource.WECHAT.value,
        "merged": bool(outcome.merged_profile_ids),
    }
    return JSONResponse(body, headers=headers)
