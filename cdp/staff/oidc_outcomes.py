"""What a refused OpenID Connect sign-in looks like to the client: an HTTP status and one
coded error, as WeChat's (cdp/wechat/outcomes.py), `extensions.reason` naming the outcome,
`field` the check that failed and `providerError` the provider's registered error value."""

from __future__ import annotations

from cdp.errors import ErrorCode
from cdp.staff.oidc import OidcError, OidcFailure, log
from cdp.wechat.outcomes import SignInFailed

RETRY_AFTER_SECONDS = 5
# The provider's outcome -> (HTTP status, contract code, message), as WeChat's (wechat/outcomes).
OUTCOMES: dict[OidcFailure, tuple[int, ErrorCode, str]] = {
    OidcFailure.DENIED: (403, ErrorCode.FORBIDDEN, "The identity provider declined the sign-in"),
    OidcFailure.REFUSED: (502, ErrorCode.INTERNAL, "The identity provider refused cdp's request"),
    OidcFailure.CODE_INVALID: (
        401,
        ErrorCode.UNAUTHENTICATED,
        "The identity provider rejected the code; sign in again",
    ),
    OidcFailure.ID_TOKEN: (
        401,
        ErrorCode.UNAUTHENTICATED,
        "The identity provider's ID token failed verification",
    ),
    OidcFailure.ANSWER: (502, ErrorCode.INTERNAL, "The identity provider's answer was unusable"),
    OidcFailure.UNAVAILABLE: (503, ErrorCode.INTERNAL, "The identity provider is unavailable"),
    OidcFailure.TIMEOUT: (503, ErrorCode.INTERNAL, "The identity provider did not answer in time"),
    OidcFailure.GONE: (403, ErrorCode.FORBIDDEN, "The identity provider no longer knows you"),
}


def failure_of_oidc(exc: OidcError) -> SignInFailed:
    """The coded refusal of a failure, logged by reason and the name of the check only."""
    status, code, message = OUTCOMES[exc.failure]
    log.warning(
        "an OpenID Connect sign-in was refused",
        extra={
            "reason": exc.failure.value,
            "check": exc.check,
            "provider_error": exc.provider_error,
        },
    )
    extra: dict[str, str | int] = {"reason": exc.failure.value}
    if exc.check is not None:
        extra["field"] = exc.check
    if exc.provider_error is not None:
        extra["providerError"] = exc.provider_error
    if status == 503:
        extra["retryAfter"] = RETRY_AFTER_SECONDS
    return SignInFailed(status, code, message, **extra)
