"""A stand-in for Tencent Cloud SMS's SendSms (API 2021-01-11) on loopback: it checks the
TC3-HMAC-SHA256 signature and the request's shape, keeps what it sent, and answers as the
documented API does (`Response.SendStatusSet[].Code` "Ok", or `Response.Error`).

Tests script the next answers: {"status": "LimitExceeded.PhoneNumberDailyLimit"} (a send
status), {"error": "AuthFailure.SignatureFailure"}, {"http": 502} or {"delay": seconds}.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cdp.sms import tc3

SECRET_ID = "AKIDsmsfake0000000000000000000000000"
SECRET_KEY = "smsfakesecretkey00000000000000000"
SDK_APP_ID = "1400000001"
TEMPLATE_ID = "100001"
NOTICE_TEMPLATE_ID = "100002"  # an approved notice template (activation's SMS)
SIGN_NAME = "咖啡品牌"
_AUTH = re.compile(
    r"TC3-HMAC-SHA256 Credential=(?P<id>[^/]+)/(?P<scope>\S+), "
    r"SignedHeaders=content-type;host;x-tc-action, Signature=(?P<sig>[0-9a-f]{64})"
)


@dataclass
class FakeTencentSms:
    sent: list[tuple[str, list[str]]] = field(default_factory=list)  # (phone, template params)
    script: list[dict[str, Any]] = field(default_factory=list)
    templates: set[str] = field(default_factory=lambda: {TEMPLATE_ID, NOTICE_TEMPLATE_ID})

    def reset(self) -> None:
        self.sent.clear()
        self.script.clear()

    def last_code(self, phone: str) -> str:
        return next(params[0] for to, params in reversed(self.sent) if to == phone)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/", self.send_sms, methods=["POST"])])

    async def send_sms(self, request: Request) -> Response:
        payload = await request.body()
        request_id = secrets.token_hex(16)
        refusal = self._refusal(request, payload)
        if refusal is not None:
            return _error(refusal, request_id)
        body = json.loads(payload)
        answer = self.script.pop(0) if self.script else {}
        if "delay" in answer:
            await asyncio.sleep(answer["delay"])
        if "http" in answer:
            return Response("<html>bad gateway</html>", status_code=answer["http"])
        if "error" in answer:
            return _error(answer["error"], request_id)
        [phone] = body["PhoneNumberSet"]
        code = answer.get("status", "Ok")
        if code == "Ok":
            self.sent.append((phone, list(body["TemplateParamSet"])))
        status = {
            "SerialNo": f"2028:{secrets.token_hex(8)}",
            "PhoneNumber": phone,
            "Fee": 1 if code == "Ok" else 0,
            "SessionContext": "",
            "Code": code,
            "Message": "send success" if code == "Ok" else code,
            "IsoCode": "CN",
        }
        return JSONResponse({"Response": {"SendStatusSet": [status], "RequestId": request_id}})

    def _refusal(self, request: Request, payload: bytes) -> str | None:
        headers = request.headers
        if headers.get("x-tc-action") != "SendSms" or headers.get("x-tc-version") != "2021-01-11":
            return "InvalidAction"
        match = _AUTH.fullmatch(headers.get("authorization", ""))
        if match is None or match["id"] != SECRET_ID:
            return "AuthFailure.SecretIdNotFound"
        _, expected = tc3.signature(
            secret_key=SECRET_KEY,
            service="sms",
            host=headers.get("host", ""),
            operation="SendSms",
            timestamp=int(headers.get("x-tc-timestamp", "0")),
            payload=payload,
        )
        if not secrets.compare_digest(expected, match["sig"]):
            return "AuthFailure.SignatureFailure"
        body = json.loads(payload)
        if body.get("SmsSdkAppId") != SDK_APP_ID or body.get("TemplateId") not in self.templates:
            return "InvalidParameterValue.TemplateParameterFormatError"
        return None


def _error(code: str, request_id: str) -> Response:
    return JSONResponse(
        {"Response": {"Error": {"Code": code, "Message": code}, "RequestId": request_id}}
    )


def sms_config(base_url: str) -> dict[str, Any]:
    return {
        "secret_id": SECRET_ID,
        "secret_key": SECRET_KEY,
        "sdk_app_id": SDK_APP_ID,
        "sign_name": SIGN_NAME,
        "template_id": TEMPLATE_ID,
        "endpoint": f"{base_url}/",
    }
