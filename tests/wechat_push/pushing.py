"""WeChat's side of message push in tests: signed requests in plaintext and safe mode, XML or
JSON bodies, and the apps they are for. Keys are made afresh for each test run."""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from cdp.wechat.push_crypto import PushCipher, sign

OA = "wxpush0000000000oa"  # an official account, plaintext mode
MINI = "wxpush0000000000mp"  # a mini-program, plaintext, JSON
SAFE_OA = "wxpush000000000soa"  # an official account, safe mode
SAFE_MINI = "wxpush000000000smp"  # a mini-program, safe mode, JSON
NO_PUSH = "wxpush00000000none"  # sign-in only
TOKEN = "pushToken" + secrets.token_hex(4)
AES_KEY = base64.b64encode(secrets.token_bytes(32)).decode()[:43]
SECRET = "0123456789abcdef0123456789abcdef"
APPS: dict[str, Any] = {
    OA: {"type": "OFFICIAL_ACCOUNT", "secret": SECRET, "token": TOKEN},
    MINI: {"type": "MINI_PROGRAM", "secret": SECRET, "token": TOKEN},
    SAFE_OA: {
        "type": "OFFICIAL_ACCOUNT",
        "secret": SECRET,
        "token": TOKEN,
        "encoding_aes_key": AES_KEY,
    },
    SAFE_MINI: {
        "type": "MINI_PROGRAM",
        "secret": SECRET,
        "token": TOKEN,
        "encoding_aes_key": AES_KEY,
    },
    NO_PUSH: {"type": "OFFICIAL_ACCOUNT", "secret": SECRET},
}
SAFE = {SAFE_OA, SAFE_MINI}
JSON_APPS = {MINI, SAFE_MINI}


def xml_of(fields: dict[str, Any]) -> str:
    """WeChat's XML: text in CDATA, numbers bare, nested dicts as elements, lists repeated."""

    def inner(values: dict[str, Any]) -> str:
        parts = []
        for name, value in values.items():
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, dict):
                    parts.append(f"<{name}>{inner(item)}</{name}>")
                elif isinstance(item, int):
                    parts.append(f"<{name}>{item}</{name}>")
                else:
                    parts.append(f"<{name}><![CDATA[{item}]]></{name}>")
        return "".join(parts)

    return f"<xml>{inner(fields)}</xml>"


def event(open_id: str, name: str, created: int | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "ToUserName": "gh_0123456789ab",
        "FromUserName": open_id,
        "CreateTime": created if created is not None else int(time.time()),
        "MsgType": "event",
        "Event": name,
        **extra,
    }


@dataclass
class WechatSide:
    """Sends what WeChat would send to cdp's push URL."""

    client: httpx.AsyncClient
    sent: list[dict[str, str]] = field(default_factory=list)

    def params(self, *, timestamp: int | None = None, **extra: str) -> dict[str, str]:
        stamp, nonce = str(timestamp or int(time.time())), secrets.token_hex(5)
        return {
            "signature": sign(TOKEN, stamp, nonce),
            "timestamp": stamp,
            "nonce": nonce,
            **extra,
        }

    def body(self, app_id: str, fields: dict[str, Any], params: dict[str, str]) -> bytes:
        """The body for the app's mode; in safe mode, `params` gains msg_signature."""
        text = json.dumps(fields, ensure_ascii=False) if app_id in JSON_APPS else xml_of(fields)
        if app_id not in SAFE:
            return text.encode()
        encrypted = PushCipher(AES_KEY, app_id).encrypt(text.encode())
        params["encrypt_type"] = "aes"
        params["msg_signature"] = sign(TOKEN, params["timestamp"], params["nonce"], encrypted)
        outer = {"ToUserName": "gh_0123456789ab", "Encrypt": encrypted}
        wrapped = json.dumps(outer) if app_id in JSON_APPS else xml_of(outer)
        return wrapped.encode()

    async def push(
        self, app_id: str, fields: dict[str, Any], *, timestamp: int | None = None
    ) -> httpx.Response:
        params = self.params(timestamp=timestamp, openid=str(fields.get("FromUserName", "")))
        body = self.body(app_id, fields, params)
        return await self.post(app_id, body, params)

    async def post(self, app_id: str, body: bytes, params: dict[str, str]) -> httpx.Response:
        kind = "application/json" if body.lstrip()[:1] == b"{" else "text/xml"
        return await self.client.post(
            f"/wechat/push/{app_id}", content=body, params=params, headers={"content-type": kind}
        )

    async def accepted(self, app_id: str, fields: dict[str, Any]) -> None:
        response = await self.push(app_id, fields)
        assert response.status_code == 200, response.text
        assert response.text == "success"


def refused(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == code, error
    return error  # type: ignore[no-any-return]
