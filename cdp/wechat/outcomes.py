"""What a refused sign-in looks like to the client: an HTTP status and one coded error, as
everywhere in cdp, with `extensions.reason` naming WeChat's outcome and `errcode` its code."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cdp.errors import CdpError, ErrorCode
from cdp.rate_limit import retry_after_header
from cdp.rate_stores import Budget
from cdp.wechat.client import WechatError, WechatFailure

if TYPE_CHECKING:
    from cdp.wechat.signin import CustomerSession

log = logging.getLogger("cdp.wechat")
NO_STORE = {"cache-control": "no-store", "referrer-policy": "no-referrer"}


def session_response(request_id: str, session: CustomerSession) -> JSONResponse:
    """What every customer sign-in answers (WeChat's and the SMS code's): the token, never
    cached."""
    return JSONResponse(
        {
            "token": session.token,
            "tokenType": "Bearer",
            "expiresIn": session.expires_in,
            "profileId": session.profile_id,
            # Signing in while the account's cancellation cools off: the app offers to
            # withdraw it (withdrawMyCancellation with this id).
            "accountCancellation": None
            if session.cancellation is None
            else dict(zip(("id", "status", "runsAt"), session.cancellation, strict=True)),
        },
        headers={**NO_STORE, "x-request-id": request_id},
    )


STATUS = {
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.SUPPRESSED: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    ErrorCode.BAD_USER_INPUT: 400,
}
# WeChat's outcome -> (HTTP status, contract code, message, Retry-After seconds).
WECHAT_OUTCOMES: dict[WechatFailure, tuple[int, ErrorCode, str, int | None]] = {
    WechatFailure.CODE_INVALID: (401, ErrorCode.UNAUTHENTICATED, "WeChat rejected the code", None),
    WechatFailure.CODE_USED: (401, ErrorCode.UNAUTHENTICATED, "The code was already used", None),
    WechatFailure.RISKY_USER: (403, ErrorCode.FORBIDDEN, "WeChat blocked this sign-in", None),
    # As cdp's own rate limit answers (graphql/view.py): 429, QUERY_TOO_COMPLEX, Retry-After.
    WechatFailure.RATE_LIMITED: (
        429,
        ErrorCode.QUERY_TOO_COMPLEX,
        "Too many sign-ins; try again in a minute",
        60,
    ),
    # The mini-program's phone authorisations are used up (WeChat's quota): not a retry.
    WechatFailure.QUOTA_EXHAUSTED: (
        403,
        ErrorCode.FORBIDDEN,
        "WeChat's phone authorisation quota for this app is used up",
        None,
    ),
    WechatFailure.TOKEN_INVALID: (
        503,
        ErrorCode.INTERNAL,
        "WeChat refused the app's access token; try again shortly",
        5,
    ),
    # A message's refusals (cdp/activation/), never a sign-in's.
    WechatFailure.NO_ACCEPTANCE: (502, ErrorCode.INTERNAL, "WeChat refused the message", None),
    WechatFailure.NOT_FOLLOWING: (502, ErrorCode.INTERNAL, "WeChat refused the message", None),
    WechatFailure.DAILY_LIMIT: (503, ErrorCode.INTERNAL, "WeChat's daily limit is reached", 3600),
    WechatFailure.BUSY: (503, ErrorCode.INTERNAL, "WeChat is busy; try again shortly", 5),
    WechatFailure.TIMEOUT: (503, ErrorCode.INTERNAL, "WeChat did not answer in time", 5),
    WechatFailure.UPSTREAM: (502, ErrorCode.INTERNAL, "WeChat's answer could not be used", None),
}


class SignInFailed(Exception):
    def __init__(self, status: int, code: ErrorCode, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extensions = status, code, message, extensions


def failure_of(exc: CdpError | WechatError) -> SignInFailed:
    if isinstance(exc, WechatError):
        status, code, message, retry_after = WECHAT_OUTCOMES[exc.failure]
        extra: dict[str, Any] = {"reason": exc.failure.value}
        if exc.errcode is not None:
            extra["errcode"] = exc.errcode
        if retry_after is not None:
            extra["retryAfter"] = retry_after
        return SignInFailed(status, code, message, **extra)
    extensions = {k: v for k, v in exc.extensions().items() if k != "code"}
    return SignInFailed(STATUS.get(exc.code, 500), exc.code, exc.message, **extensions)


def unexpected(exc: Exception, request_id: str) -> SignInFailed:
    # The type and place only: an exception's message may carry the values that failed.
    log.error(
        "sign-in failed unexpectedly",
        extra={"request_id": request_id, "error_type": type(exc).__qualname__},
    )
    return SignInFailed(500, ErrorCode.INTERNAL, "Internal server error")


def json_error(request_id: str, failed: SignInFailed) -> Response:
    extensions = {"code": failed.code.value, **failed.extensions, "requestId": request_id}
    headers = {**NO_STORE, "x-request-id": request_id}
    if "retryAfter" in failed.extensions:
        headers["retry-after"] = str(failed.extensions["retryAfter"])
    if failed.status == 401:
        headers["www-authenticate"] = "Bearer"
    return JSONResponse(
        {"errors": [{"message": failed.message, "extensions": extensions}]},
        status_code=failed.status,
        headers=headers,
    )


async def spend_address_budget(limiter: Budget, request: Request, prefix: str = "") -> None:
    """One sign-in attempt from the client's address (sign-in comes before any principal,
    and each attempt may call WeChat or a directory and write an audit record); SignInFailed
    (429 with `retryAfter`) when the address's budget is spent."""
    address = request.client.host if request.client else "unknown"
    wait = await limiter.take(prefix + address)
    if wait:
        raise SignInFailed(
            429,
            ErrorCode.QUERY_TOO_COMPLEX,
            "Too many sign-in attempts from this address; try again shortly",
            limit="rate",
            retryAfter=int(retry_after_header(wait)),
        )
