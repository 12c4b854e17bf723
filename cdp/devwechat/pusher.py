"""What WeChat's server sends to cdp's message push URL, for the sandbox: an event's fields,
in XML (official accounts) or JSON (a mini-program's choice), signed with the app's Token and,
in safe mode, encrypted with its EncodingAESKey, as `POST /wechat/push/{appId}`."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import httpx

from cdp.config_models import WechatApp
from cdp.wechat.push_crypto import PushCipher, sign

ACCOUNT = "gh_000000sandbox"  # the ToUserName: the account's original id


class SandboxEvent(StrEnum):
    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"
    SCAN = "SCAN"
    CLICK = "CLICK"
    VIEW = "VIEW"
    SUBSCRIBE_MSG = "subscribe_msg_popup_event"  # the person's choice in a subscribe popup


def event_fields(
    event: SandboxEvent,
    open_id: str,
    *,
    key: str | None = None,
    now: int | None = None,
    as_json: bool = False,
) -> dict[str, Any]:
    """The event as WeChat words it; `key` is the menu key (CLICK), the URL (VIEW), the QR
    scene (subscribe becomes `qrscene_<key>` with a Ticket, as does SCAN) or the accepted
    template id (subscribe_msg_popup_event: a mini-program's JSON puts `List` at the top, an
    official account's XML wraps it in `SubscribeMsgPopupEvent`)."""
    fields: dict[str, Any] = {
        "ToUserName": ACCOUNT,
        "FromUserName": open_id,
        "CreateTime": now if now is not None else int(time.time()),
        "MsgType": "event",
        "Event": event.value,
    }
    if event is SandboxEvent.SUBSCRIBE_MSG:
        choice = {"TemplateId": key or "sandbox-template", "SubscribeStatusString": "accept"}
        choice["PopupScene"] = "0"
        if as_json:
            fields["List"] = [choice]
        else:
            fields["SubscribeMsgPopupEvent"] = {"List": [choice]}
        return fields
    if key is not None and event is not SandboxEvent.UNSUBSCRIBE:
        scanned = event in (SandboxEvent.SUBSCRIBE, SandboxEvent.SCAN)
        prefix = "qrscene_" if event is SandboxEvent.SUBSCRIBE else ""
        fields["EventKey"] = prefix + key
        if scanned:
            fields["Ticket"] = "gQsandbox" + secrets.token_hex(8)
    return fields


def xml_of(fields: dict[str, Any]) -> str:
    """WeChat's XML: text in CDATA, numbers bare, a dict nested, a list as repeated elements."""
    return f"<xml>{_elements(fields)}</xml>"


def _elements(fields: dict[str, Any]) -> str:
    parts = []
    for name, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict):
                parts.append(f"<{name}>{_elements(item)}</{name}>")
            elif isinstance(item, int):
                parts.append(f"<{name}>{item}</{name}>")
            else:
                parts.append(f"<{name}><![CDATA[{item}]]></{name}>")
    return "".join(parts)


@dataclass(frozen=True, slots=True)
class SignedPush:
    params: dict[str, str]
    body: bytes
    content_type: str


def signed_push(
    app_id: str, app: WechatApp, fields: dict[str, Any], *, as_json: bool
) -> SignedPush:
    """The query and body WeChat would send: plaintext without an EncodingAESKey, safe mode
    (encrypt_type=aes, msg_signature) with one."""
    if app.token is None:
        raise ValueError(f"{app_id} has no message push token")
    token = app.token.get_secret_value()
    stamp, nonce = str(int(time.time())), secrets.token_hex(5)
    params = {
        "signature": sign(token, stamp, nonce),
        "timestamp": stamp,
        "nonce": nonce,
        "openid": str(fields.get("FromUserName", "")),
    }
    text = json.dumps(fields, ensure_ascii=False) if as_json else xml_of(fields)
    if app.encoding_aes_key is not None:
        encrypted = PushCipher(app.encoding_aes_key.get_secret_value(), app_id).encrypt(
            text.encode()
        )
        params["encrypt_type"] = "aes"
        params["msg_signature"] = sign(token, stamp, nonce, encrypted)
        outer = {"ToUserName": ACCOUNT, "Encrypt": encrypted}
        text = json.dumps(outer) if as_json else xml_of(outer)
    kind = "application/json" if as_json else "text/xml"
    return SignedPush(params, text.encode(), kind)


async def send_push(client: httpx.AsyncClient, app_id: str, push: SignedPush) -> httpx.Response:
    """POST the push to `client`'s cdp, as WeChat's server would."""
    return await client.post(
        f"/wechat/push/{app_id}",
        params=push.params,
        content=push.body,
        headers={"content-type": push.content_type},
    )
