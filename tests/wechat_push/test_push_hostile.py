"""Hostile input never gets a 5xx, on both databases: random bytes, huge bodies, XML bombs
and external entities, malformed or deep JSON, broken ciphertext, hostile query parameters,
each a coded 400/401/404 that stores nothing; and an unreachable database is 503 with
Retry-After."""

from __future__ import annotations

import json
import random

import httpx
import pytest

from cdp.app import create_app
from cdp.db import Database
from cdp.keys.source import KeyringSource
from cdp.wechat.push_crypto import sign
from tests.conftest import TEST_KEYRING, make_settings
from tests.pg_cluster import free_port
from tests.wechat_push.pushing import APPS, MINI, OA, SAFE_MINI, SAFE_OA, TOKEN, WechatSide, event
from tests.wechat_push.reading import inbox

BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<xml><ToUserName>&lol3;</ToUserName></xml>"""
EXTERNAL = b"""<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>
<xml><ToUserName>&e;</ToUserName></xml>"""
GOOD = event("oHostile00000000000000001", "CLICK", EventKey="K")
rng = random.Random(21)
BODIES = {
    "empty": b"",
    "random": bytes(rng.randrange(256) for _ in range(2048)),
    "bomb": BOMB,
    "external_entity": EXTERNAL,
    "utf16_bomb": BOMB.decode()
    .replace('version="1.0"', 'version="1.0" encoding="UTF-16"')
    .encode("utf-16"),
    "unclosed": b"<xml><ToUserName>gh",
    "no_fields": b"<xml></xml>",
    "deep": b"<xml>" + b"<a>" * 50 + b"</a>" * 50 + b"</xml>",
    "wide": b"<xml>" + b"<a>1</a>" * 5000 + b"</xml>",
    "bad_time": b"<xml><ToUserName>g</ToUserName><FromUserName>o</FromUserName>"
    b"<CreateTime>soon</CreateTime><MsgType>event</MsgType></xml>",
    "json_array": b"[1, 2]",
    "json_deep": b'{"a":' * 100 + b"1" + b"}" * 100,
    "json_duplicate": b'{"ToUserName": "a", "ToUserName": "b"}',
    "json_broken": b'{"ToUserName": ',
    "json_types": json.dumps({**GOOD, "FromUserName": {"x": [1]}}).encode(),
    "not_utf8_json": b'{"ToUserName": "\xff\xfe"}',
}


@pytest.mark.usefixtures("backend")
@pytest.mark.parametrize("app_id", [OA, MINI])
@pytest.mark.parametrize("name", list(BODIES))
async def test_a_hostile_body_in_plaintext_mode_is_a_coded_400(
    wechat: WechatSide, name: str, app_id: str
) -> None:
    response = await wechat.post(app_id, BODIES[name], wechat.params())
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.mark.usefixtures("backend")
@pytest.mark.parametrize("app_id", [SAFE_OA, SAFE_MINI])
@pytest.mark.parametrize("name", list(BODIES))
async def test_a_hostile_body_in_safe_mode_is_refused_before_anything_is_stored(
    wechat: WechatSide, name: str, app_id: str
) -> None:
    params = wechat.params(encrypt_type="aes")
    params["msg_signature"] = "0" * 40
    response = await wechat.post(app_id, BODIES[name], params)
    assert response.status_code in (400, 401), response.text


@pytest.mark.usefixtures("backend")
@pytest.mark.parametrize("name", ["random", "bomb", "unclosed", "json_deep", "no_fields"])
async def test_a_hostile_message_inside_good_encryption_is_a_coded_400(
    wechat: WechatSide, name: str
) -> None:
    from cdp.wechat.push_crypto import PushCipher
    from tests.wechat_push.pushing import AES_KEY

    params = wechat.params(encrypt_type="aes")
    encrypted = PushCipher(AES_KEY, SAFE_OA).encrypt(BODIES[name])
    params["msg_signature"] = sign(TOKEN, params["timestamp"], params["nonce"], encrypted)
    body = f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>".encode()
    response = await wechat.post(SAFE_OA, body, params)
    assert response.status_code == 400, response.text


@pytest.mark.usefixtures("backend")
async def test_a_huge_body_is_refused_unread(wechat: WechatSide) -> None:
    huge = b"<xml>" + b"x" * (2 * 1024 * 1024) + b"</xml>"
    response = await wechat.post(OA, huge, wechat.params())
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["reason"] == "BODY_TOO_LARGE"


@pytest.mark.usefixtures("backend")
@pytest.mark.parametrize(
    "params",
    [
        {"timestamp": "x" * 10_000, "nonce": "1", "signature": "1"},
        {"timestamp": "-1", "nonce": "1", "signature": "1"},
        {"timestamp": "99999999999999999999", "nonce": "1", "signature": "1"},
        {"timestamp": "１２３", "nonce": "1", "signature": "1"},
        {},
    ],
)
async def test_hostile_query_parameters_are_coded_errors(
    wechat: WechatSide, params: dict[str, str]
) -> None:
    for method in ("GET", "POST"):
        response = await wechat.client.request(method, f"/wechat/push/{OA}", params=params)
        assert response.status_code in (400, 401), response.text


@pytest.mark.usefixtures("backend")
async def test_a_refused_push_stores_nothing(wechat: WechatSide, database: Database) -> None:
    for name in ("bomb", "random", "json_types"):
        await wechat.post(OA, BODIES[name], wechat.params())
    assert await inbox(database) == []


async def test_with_the_database_unreachable_a_push_is_503_with_retry_after() -> None:
    settings = make_settings(
        f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/cdp", wechat_apps=APPS
    )
    database = Database(settings)
    app = create_app(settings, database, KeyringSource.fixed(TEST_KEYRING))
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://cdp.test") as client:
            response = await WechatSide(client).push(OA, GOOD)
        assert response.status_code == 503, response.text
        assert int(response.headers["retry-after"]) >= 1
        assert response.json()["errors"][0]["extensions"]["code"] == "INTERNAL"
    finally:
        await database.dispose()
