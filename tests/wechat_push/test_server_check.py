"""WeChat's server check (GET) and the refusals every push meets first, on both databases:
the echo of echostr (plain, or encrypted under msg_signature), bad signatures, a timestamp
outside the window, unknown apps and apps without push, each a coded error."""

from __future__ import annotations

import time

import pytest

from cdp.wechat.push_crypto import PushCipher, sign
from tests.wechat_push.pushing import (
    AES_KEY,
    MINI,
    NO_PUSH,
    OA,
    SAFE_OA,
    TOKEN,
    WechatSide,
    event,
    refused,
)

pytestmark = pytest.mark.usefixtures("backend")


@pytest.mark.parametrize("app_id", [OA, MINI, SAFE_OA])
async def test_the_server_check_echoes_echostr_when_signed_with_the_token(
    wechat: WechatSide, app_id: str
) -> None:
    params = wechat.params(echostr="7419023458102937401")
    response = await wechat.client.get(f"/wechat/push/{app_id}", params=params)
    assert response.status_code == 200
    assert response.text == "7419023458102937401"


async def test_an_encrypted_echostr_is_checked_by_msg_signature_and_answered_decrypted(
    wechat: WechatSide,
) -> None:
    echostr = PushCipher(AES_KEY, SAFE_OA).encrypt(b"5927782489442352469")
    params = wechat.params(echostr=echostr)
    params["msg_signature"] = sign(TOKEN, params["timestamp"], params["nonce"], echostr)
    response = await wechat.client.get(f"/wechat/push/{SAFE_OA}", params=params)
    assert (response.status_code, response.text) == (200, "5927782489442352469")
    params["msg_signature"] = sign(TOKEN, params["timestamp"], params["nonce"], echostr + "x")
    refused(
        await wechat.client.get(f"/wechat/push/{SAFE_OA}", params=params), 401, "UNAUTHENTICATED"
    )


async def test_a_server_check_with_a_wrong_signature_is_unauthenticated(wechat: WechatSide) -> None:
    params = wechat.params(echostr="1")
    params["signature"] = sign("another-token", params["timestamp"], params["nonce"])
    error = refused(
        await wechat.client.get(f"/wechat/push/{OA}", params=params), 401, "UNAUTHENTICATED"
    )
    assert error["extensions"]["reason"] == "SIGNATURE"


@pytest.mark.parametrize("missing", ["signature", "timestamp", "nonce", "echostr"])
async def test_a_server_check_missing_a_parameter_is_bad_user_input(
    wechat: WechatSide, missing: str
) -> None:
    params = wechat.params(echostr="1")
    del params[missing]
    refused(await wechat.client.get(f"/wechat/push/{OA}", params=params), 400, "BAD_USER_INPUT")


@pytest.mark.parametrize("skew", [-3600, 3600])
async def test_a_push_signed_outside_the_window_is_refused_as_a_replay(
    wechat: WechatSide, skew: int
) -> None:
    stale = int(time.time()) + skew
    response = await wechat.push(OA, event("oStale000000000000000000001", "CLICK"), timestamp=stale)
    error = refused(response, 401, "UNAUTHENTICATED")
    assert error["extensions"]["reason"] == "STALE"


async def test_an_unknown_app_and_an_app_without_push_are_not_found(wechat: WechatSide) -> None:
    unknown = await wechat.push("wx9999999999999999", event("oNobody0000000000000000001", "CLICK"))
    assert refused(unknown, 404, "NOT_FOUND")["extensions"]["reason"] == "UNKNOWN_APP"
    unset = await wechat.push(NO_PUSH, event("oNobody0000000000000000001", "CLICK"))
    assert refused(unset, 404, "NOT_FOUND")["extensions"]["reason"] == "NO_PUSH"


async def test_a_post_with_a_wrong_signature_is_unauthenticated(wechat: WechatSide) -> None:
    params = wechat.params()
    params["signature"] = "0" * 40
    body = b"<xml><ToUserName>gh</ToUserName></xml>"
    refused(await wechat.post(OA, body, params), 401, "UNAUTHENTICATED")


async def test_a_safe_mode_app_refuses_a_plaintext_push(wechat: WechatSide) -> None:
    params = wechat.params()
    body = b"<xml><ToUserName>gh</ToUserName></xml>"
    error = refused(await wechat.post(SAFE_OA, body, params), 401, "UNAUTHENTICATED")
    assert error["extensions"]["reason"] == "MODE"


async def test_a_safe_mode_push_with_a_wrong_msg_signature_is_unauthenticated(
    wechat: WechatSide,
) -> None:
    params = wechat.params()
    body = wechat.body(SAFE_OA, event("oSafe0000000000000000000001", "CLICK"), params)
    params["msg_signature"] = "f" * 40
    refused(await wechat.post(SAFE_OA, body, params), 401, "UNAUTHENTICATED")


async def test_a_message_encrypted_for_another_app_is_unauthenticated(wechat: WechatSide) -> None:
    params = wechat.params(encrypt_type="aes")
    encrypted = PushCipher(AES_KEY, OA).encrypt(b"<xml><ToUserName>gh</ToUserName></xml>")
    params["msg_signature"] = sign(TOKEN, params["timestamp"], params["nonce"], encrypted)
    body = f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>".encode()
    error = refused(await wechat.post(SAFE_OA, body, params), 401, "UNAUTHENTICATED")
    assert error["extensions"]["reason"] == "APP_ID"


async def test_a_safe_mode_push_is_taken_on_msg_signature_alone(wechat: WechatSide) -> None:
    params = wechat.params()
    body = wechat.body(SAFE_OA, event("oSafe0000000000000000000002", "CLICK"), params)
    del params["signature"]
    response = await wechat.post(SAFE_OA, body, params)
    assert (response.status_code, response.text) == (200, "success")
