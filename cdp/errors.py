"""The error contract: every error a client sees carries one of these codes."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    CONFLICT = "CONFLICT"
    SUPPRESSED = "SUPPRESSED"
    QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
    INTERNAL = "INTERNAL"


class CdpError(Exception):
    """An expected failure with a client-facing message; never carries a personal value."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        field: str | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.reason = reason  # a machine-readable particular of the code, e.g. UNMAPPED

    def extensions(self) -> dict[str, str]:
        ext = {"code": self.code.value}
        if self.field is not None:
            ext["field"] = self.field
        if self.reason is not None:
            ext["reason"] = self.reason
        return ext


def bad_input(message: str, *, field: str | None = None) -> CdpError:
    return CdpError(ErrorCode.BAD_USER_INPUT, message, field=field)


def forbidden(message: str = "Not allowed for this role") -> CdpError:
    return CdpError(ErrorCode.FORBIDDEN, message)


def not_found(message: str) -> CdpError:
    return CdpError(ErrorCode.NOT_FOUND, message)


def conflict(message: str, *, reason: str | None = None) -> CdpError:
    return CdpError(ErrorCode.CONFLICT, message, reason=reason)


class Throttled(CdpError):
    """A budget is spent: QUERY_TOO_COMPLEX naming the `limit`, answered over HTTP with 429 and
    Retry-After (`retry_after` seconds)."""

    def __init__(self, message: str, *, limit: str, retry_after: float) -> None:
        super().__init__(ErrorCode.QUERY_TOO_COMPLEX, message)
        self.limit = limit
        self.retry_after = retry_after

    def extensions(self) -> dict[str, str]:
        return {**super().extensions(), "limit": self.limit}
