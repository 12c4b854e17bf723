"""One call to an API in Tencent's style (WeChat's and WeCom's): a GET (or a POST of JSON)
answered with JSON whose `errcode` is 0 or absent on success, -1 for "system busy", anything
else a refusal.

"System busy", a 5xx and a refused connection are retried with doubling backoff; a timeout
is not (the service may have used a one-time code already). The query string carries
secrets and codes, so only the path is ever logged. Each client names its own errors.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar

import httpx

from cdp.config import Settings

F = TypeVar("F", bound=StrEnum)


class ServiceError(Exception, Generic[F]):
    """A service refused or failed: `failure` names the outcome, `errcode` is the service's
    code when it gave one."""

    def __init__(self, failure: F, errcode: int | None = None) -> None:
        super().__init__(failure.value if errcode is None else f"{failure.value} ({errcode})")
        self.failure = failure
        self.errcode = errcode


class Failures(Protocol):
    """The exceptions a client raises for each way a call fails."""

    def timed_out(self) -> Exception: ...

    def busy(self, errcode: int | None) -> Exception:
        """Busy (-1, when the service said so), a 5xx or unreachable on every try."""
        ...

    def refused(self, path: str, body: dict[str, Any]) -> Exception:
        """An errcode other than 0 and -1."""
        ...

    def unusable(self, path: str, status: int | None) -> Exception:
        """Not a JSON object, or an error status."""
        ...


@dataclass(frozen=True, slots=True)
class Patience:
    """How long one try may take, how many more tries after "busy", and the first wait."""

    timeout: float
    retries: int
    backoff: float

    @classmethod
    def of(cls, settings: Settings) -> Patience:
        """The settings' patience, which WeChat and WeCom share."""
        return cls(
            settings.wechat_timeout_seconds,
            settings.wechat_busy_retries,
            settings.wechat_backoff_seconds,
        )


async def get_json(
    http: httpx.AsyncClient,
    path: str,
    params: dict[str, str],
    *,
    patience: Patience,
    failures: Failures,
    log: logging.Logger,
    service: str,
) -> dict[str, Any]:
    """The answer's JSON object when its errcode is 0 (or absent); one of `failures`."""
    return await call_json(
        http, path, params, patience=patience, failures=failures, log=log, service=service
    )


async def call_json(
    http: httpx.AsyncClient,
    path: str,
    params: dict[str, str],
    *,
    patience: Patience,
    failures: Failures,
    log: logging.Logger,
    service: str,
    payload: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """`get_json`, or with `payload` a POST of it as JSON (WeChat's newer APIs take one)."""
    for attempt in range(patience.retries + 1):
        busy_code: int | None = None
        where = {"path": path, "attempt": attempt + 1}
        try:
            async with asyncio.timeout(patience.timeout):
                if payload is None:
                    response = await http.get(path, params=params)
                else:
                    response = await http.post(path, params=params, json=payload)
        except (TimeoutError, httpx.TimeoutException):
            log.warning(f"{service} timed out", extra=where)
            raise failures.timed_out() from None
        except httpx.TransportError as exc:
            log.warning(f"{service} unreachable", extra={**where, "error": type(exc).__name__})
        else:
            if response.status_code < 500:
                body = _decoded(response)
                if body is None:
                    raise failures.unusable(path, response.status_code)
                errcode = body.get("errcode", 0)
                if errcode in (0, None):
                    return body
                if errcode != -1:
                    raise failures.refused(path, body)
                busy_code = -1
            log.warning(f"{service} busy", extra={**where, "status": response.status_code})
        if attempt < patience.retries:
            await asyncio.sleep(patience.backoff * 2**attempt)
    raise failures.busy(busy_code)


def _decoded(response: httpx.Response) -> dict[str, Any] | None:
    # Both answer JSON, sometimes labelled text/plain: decode by content, not by label.
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    return body if isinstance(body, dict) and response.is_success else None
