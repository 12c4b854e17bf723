"""The SMS provider interface, and Tencent Cloud SMS behind it (SendSms, API 2021-01-11,
signed with TC3-HMAC-SHA256). Its answers become `SmsError`s naming what a caller can do.

The phone and the code are never logged; the answer's codes and request id are.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from enum import StrEnum
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from cdp.config_models import TencentSms
from cdp.sms import tc3

log = logging.getLogger("cdp.sms")
ACTION = "SendSms"
VERSION = "2021-01-11"
SERVICE = "sms"


class SmsFailure(StrEnum):
    BAD_PHONE = "SMS_BAD_PHONE"  # the provider cannot send to this number
    RATE_LIMITED = "SMS_RATE_LIMITED"  # the provider's own per-number limits
    BUSY = "SMS_BUSY"  # unreachable, a 5xx, an internal error or a timeout
    UPSTREAM = "SMS_UPSTREAM"  # refused for a reason of the account (key, balance, template)


class SmsError(Exception):
    def __init__(self, failure: SmsFailure, code: str | None = None) -> None:
        super().__init__(failure.value if code is None else f"{failure.value} ({code})")
        self.failure, self.code = failure, code


class SmsProvider(Protocol):
    """Sends a sign-in code to a phone (E.164); SmsError when it cannot."""

    async def send_code(self, *, phone: str, code: str, minutes: int) -> None: ...

    async def send_template(self, *, phone: str, template_id: str, params: list[str]) -> None:
        """A message of an approved template with its parameters (activation's SMS)."""
        ...


_BAD_PHONE = frozenset(
    {
        "InvalidParameterValue.IncorrectPhoneNumber",
        "UnsupportedOperation.ChineseMainlandTemplateToGlobalPhone",
        "UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber",
    }
)


def failure_of(code: str) -> SmsFailure:
    """A Tencent Cloud error or send-status code, as what a caller can do about it."""
    if code.startswith(("LimitExceeded.", "RequestLimitExceeded")):
        return SmsFailure.RATE_LIMITED
    if code in _BAD_PHONE:
        return SmsFailure.BAD_PHONE
    if code.startswith(("InternalError", "FailedOperation.FailResolvePacket")):
        return SmsFailure.BUSY
    return SmsFailure.UPSTREAM


class TencentSmsProvider:
    """One HTTP client for the process; `timeout` seconds per send, never retried (a retry
    could send a second message)."""

    def __init__(
        self,
        config: TencentSms,
        *,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config, self.timeout = config, timeout
        self.host = urlsplit(config.endpoint).netloc
        self._http = httpx.AsyncClient(timeout=timeout, transport=transport)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send_code(self, *, phone: str, code: str, minutes: int) -> None:
        await self.send_template(
            phone=phone, template_id=self.config.template_id, params=[code, str(minutes)]
        )

    async def send_template(self, *, phone: str, template_id: str, params: list[str]) -> None:
        body = {
            "PhoneNumberSet": [phone],
            "SmsSdkAppId": self.config.sdk_app_id,
            "SignName": self.config.sign_name,
            "TemplateId": template_id,
            "TemplateParamSet": params,
        }
        answer = await self._post(json.dumps(body, ensure_ascii=False).encode())
        response = answer.get("Response")
        if not isinstance(response, dict):
            raise self._failed("unusable", SmsFailure.UPSTREAM)
        error = response.get("Error")
        if isinstance(error, dict):
            raise self._failed(str(error.get("Code", "")), None, response.get("RequestId"))
        statuses = response.get("SendStatusSet")
        status = statuses[0] if isinstance(statuses, list) and statuses else None
        if not isinstance(status, dict):
            raise self._failed("unusable", SmsFailure.UPSTREAM)
        if status.get("Code") != "Ok":
            raise self._failed(str(status.get("Code", "")), None, response.get("RequestId"))

    async def _post(self, payload: bytes) -> dict[str, Any]:
        timestamp = int(time.time())
        scope, signature = tc3.signature(
            secret_key=self.config.secret_key.get_secret_value(),
            service=SERVICE,
            host=self.host,
            operation=ACTION,
            timestamp=timestamp,
            payload=payload,
        )
        headers = {
            "Authorization": tc3.authorization(
                secret_id=self.config.secret_id, scope=scope, signature=signature
            ),
            "Content-Type": tc3.CONTENT_TYPE,
            "Host": self.host,
            "X-TC-Action": ACTION,
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Version": VERSION,
            "X-TC-Region": self.config.region,
        }
        try:
            async with asyncio.timeout(self.timeout):
                response = await self._http.post(
                    self.config.endpoint, content=payload, headers=headers
                )
        except (TimeoutError, httpx.TimeoutException):
            raise self._failed("timeout", SmsFailure.BUSY) from None
        except httpx.TransportError as exc:
            raise self._failed(type(exc).__name__, SmsFailure.BUSY) from None
        if response.status_code >= 500:
            raise self._failed(f"http {response.status_code}", SmsFailure.BUSY)
        try:
            decoded = json.loads(response.content)
        except ValueError:
            decoded = None
        if not isinstance(decoded, dict):
            raise self._failed("unusable", SmsFailure.UPSTREAM)
        return decoded

    def _failed(self, code: str, failure: SmsFailure | None, request_id: object = None) -> SmsError:
        failure = failure or failure_of(code)
        level = logging.ERROR if failure is SmsFailure.UPSTREAM else logging.WARNING
        log.log(level, "sms not sent", extra={"sms_code": code[:100], "request": request_id})
        return SmsError(failure, code if failure is not SmsFailure.BUSY else None)
