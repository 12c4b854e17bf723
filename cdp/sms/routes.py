"""Website sign-in by phone and SMS code: `POST /auth/sms/code` `{phone}` sends a six-digit
code (202 `{expiresIn, resendAfter}`), `POST /auth/sms/sign-in` `{phone, code}` answers
`{token, tokenType, expiresIn, profileId}` as the WeChat sign-ins do.

Neither answer tells whether a profile holds the phone: a code is sent to any valid number,
and a wrong code is the same 401 for every phone. Both are rate-limited per client address
(in-process, cdp/rate_limit.py) and codes per phone (in the database, cdp/sms/codes.py).
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cdp.audit.trail import AuditTrail
from cdp.auth import Principal, Role
from cdp.config import Settings
from cdp.db import Database, utcnow
from cdp.errors import CdpError, ErrorCode, Throttled, bad_input
from cdp.json_body import RequestRefused, read_json
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.keys.vault import Vault
from cdp.outages import outage_of
from cdp.profiles.values import normalize_phone
from cdp.rate_stores import Budget, store_for
from cdp.sms import codes
from cdp.sms.provider import SmsError, SmsFailure, SmsProvider, TencentSmsProvider
from cdp.sms.signin import SIGN_IN_ACTION, sign_in_by_phone
from cdp.unit_of_work import audited_transaction
from cdp.wechat.outcomes import (
    NO_STORE,
    SignInFailed,
    failure_of,
    json_error,
    session_response,
    spend_address_budget,
    unexpected,
)
from cdp.wechat.routes import request_id_of

PREFIX = "/auth/sms"
MAX_BODY_BYTES = 1024
_CODE = re.compile(r"\d{6}")
# The provider's outcome -> (HTTP status, contract code, message, Retry-After seconds).
SMS_OUTCOMES: dict[SmsFailure, tuple[int, ErrorCode, str, int | None]] = {
    SmsFailure.BAD_PHONE: (
        400,
        ErrorCode.BAD_USER_INPUT,
        "No SMS can be sent to this number",
        None,
    ),
    SmsFailure.RATE_LIMITED: (429, ErrorCode.QUERY_TOO_COMPLEX, "Too many codes; try later", 60),
    SmsFailure.BUSY: (503, ErrorCode.INTERNAL, "The SMS provider is unavailable; try shortly", 5),
    SmsFailure.UPSTREAM: (502, ErrorCode.INTERNAL, "The SMS provider refused to send", None),
}


class SmsSignIn:
    def __init__(
        self,
        settings: Settings,
        database: Database,
        keyring: KeyringSource,
        keystore: KeyStore,
        provider: SmsProvider | None = None,
    ) -> None:
        self.settings, self.database, self.keyring, self.keystore = (
            settings,
            database,
            keyring,
            keystore,
        )
        config = settings.sms_tencent
        self._owned = (
            TencentSmsProvider(config, timeout=settings.sms_timeout_seconds)
            if provider is None and config
            else None
        )
        self.provider = provider or self._owned
        self.code_limiter = Budget(
            settings.sms_codes_per_address_per_minute,
            name="sms_code",
            store=store_for(settings, database),
        )
        self.sign_in_limiter = Budget(
            2 * settings.sms_codes_per_address_per_minute,
            name="sms_sign_in",
            store=store_for(settings, database),
        )

    async def aclose(self) -> None:
        if self._owned is not None:
            await self._owned.aclose()

    def routes(self) -> list[Route]:
        return [
            Route(f"{PREFIX}/code", self.request_code, methods=["POST"]),
            Route(f"{PREFIX}/sign-in", self.sign_in, methods=["POST"]),
        ]

    async def request_code(self, request: Request) -> Response:
        request_id = request_id_of(request)
        try:
            provider = self._provider()
            await spend_address_budget(self.code_limiter, request, prefix="sms-code:")
            phone = normalize_phone(_text(await self._body(request), "phone"))
            bidx = self.keyring.keyring.blind_index("phone", phone)
            async with self.database.transaction() as session:
                code_id, code = await codes.reserve_code(
                    session=session, keyring=self.keyring.keyring, phone_bidx=bidx, now=utcnow()
                )
            try:
                await provider.send_code(phone=phone, code=code, minutes=_minutes())
            except SmsError:
                async with self.database.transaction() as session:
                    await codes.withdraw_code(session=session, code_id=code_id)
                raise
        except (CdpError, SmsError, SignInFailed) as exc:
            return json_error(request_id, _failure(exc))
        except Exception as exc:
            if outage_of(exc):
                raise  # 503 (cdp/availability.py)
            return json_error(request_id, unexpected(exc, request_id))
        body = {"expiresIn": _minutes() * 60, "resendAfter": int(codes.RESEND_AFTER.seconds)}
        return JSONResponse(body, status_code=202, headers={**NO_STORE, "x-request-id": request_id})

    async def sign_in(self, request: Request) -> Response:
        request_id = request_id_of(request)
        try:
            self._provider()
            await spend_address_budget(self.sign_in_limiter, request, prefix="sms-sign-in:")
            body = await self._body(request)
            phone, code = normalize_phone(_text(body, "phone")), _text(body, "code")
            if not _CODE.fullmatch(code):
                raise bad_input("code is six digits", field="code")
            bidx = self.keyring.keyring.blind_index("phone", phone)
            async with self.database.transaction() as session:
                right = await codes.spend_code(
                    session=session,
                    keyring=self.keyring.keyring,
                    phone_bidx=bidx,
                    code=code,
                    now=utcnow(),
                )
            if not right:
                raise SignInFailed(
                    401,
                    ErrorCode.UNAUTHENTICATED,
                    "The code is wrong, used or expired",
                    reason="SMS_CODE_INVALID",
                )
            async with audited_transaction(self.database, self._trail(request_id)) as session:
                signed_in = await sign_in_by_phone(
                    session=session,
                    vault=Vault(self.keyring, self.keystore),
                    settings=self.settings,
                    phone=phone,
                )
        except (CdpError, SmsError, SignInFailed) as exc:
            return await self._refuse(request_id, _failure(exc))
        except Exception as exc:
            if outage_of(exc):
                raise
            return json_error(request_id, unexpected(exc, request_id))
        return session_response(request_id, signed_in)

    def _provider(self) -> SmsProvider:
        if self.provider is None:
            raise SignInFailed(404, ErrorCode.NOT_FOUND, "SMS sign-in is not configured")
        return self.provider

    async def _body(self, request: Request) -> dict[str, Any]:
        try:
            body = await read_json(
                request, limit=MAX_BODY_BYTES, max_depth=self.settings.max_json_depth
            )
        except RequestRefused as exc:
            message = "The request body is too large" if exc.limit == "body" else exc.message
            raise bad_input(message, field=exc.field) from None
        if not isinstance(body, dict):
            raise bad_input("The request body must be a JSON object")
        return body

    def _trail(self, request_id: str) -> AuditTrail:
        # "sms" acts until the sign-in names the customer (never the phone).
        return AuditTrail.of(
            Principal(subject="sms", role=Role.CUSTOMER),
            key=self.keyring.keyring.audit_key,
            request_id=request_id,
        )

    async def _refuse(self, request_id: str, failed: SignInFailed) -> Response:
        """Audit a refused sign-in (own transaction); malformed and rate-limited ones not."""
        if failed.code in (ErrorCode.BAD_USER_INPUT, ErrorCode.NOT_FOUND) or failed.status == 429:
            return json_error(request_id, failed)
        trail = self._trail(request_id)
        detail = {k: v for k, v in failed.extensions.items() if k == "reason"}
        trail.record(action=SIGN_IN_ACTION, outcome=failed.code.value.lower(), detail=detail)
        try:
            async with audited_transaction(self.database, trail):
                pass
        except Exception as exc:
            unexpected(exc, request_id)
        return json_error(request_id, failed)


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise bad_input(f"{key} is required", field=key)
    return value


def _minutes() -> int:
    return int(codes.CODE_TTL.total_seconds() // 60)


def _failure(exc: CdpError | SmsError | SignInFailed) -> SignInFailed:
    if isinstance(exc, SignInFailed):
        return exc
    if isinstance(exc, Throttled):
        return SignInFailed(
            429,
            ErrorCode.QUERY_TOO_COMPLEX,
            exc.message,
            limit=exc.limit,
            retryAfter=max(1, int(exc.retry_after + 0.999)),
        )
    if isinstance(exc, SmsError):
        status, code, message, retry_after = SMS_OUTCOMES[exc.failure]
        extra: dict[str, Any] = {"reason": exc.failure.value}
        if exc.failure is SmsFailure.BAD_PHONE:
            extra["field"] = "phone"
        if retry_after is not None:
            extra["retryAfter"] = retry_after
        return SignInFailed(status, code, message, **extra)
    return failure_of(exc)
