"""The sandbox, on both databases: cdp wired to the WeChat stand-in on loopback with its demo
apps, a developer walking the mini-program, official-account and website sign-ins as one
person, then sending signed pushes (plaintext and safe mode, and by `cdp wechat
push-sandbox`) that cdp accepts and processes; production refuses the sandbox."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from collections.abc import Iterator
from urllib.parse import urlencode, urlsplit

import httpx
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from cdp.app import create_app
from cdp.cli import app as cli
from cdp.config import ConfigError, Settings, load_settings
from cdp.db import Database
from cdp.devwechat.fake import MINI_APP_ID, OA_APP_ID, WEBSITE_APP_ID, WechatUser
from cdp.devwechat.loopback import LoopbackServer
from cdp.devwechat.pusher import SandboxEvent, event_fields, send_push, signed_push
from cdp.devwechat.sandbox import SANDBOX_APPS, sandboxed, stand_in_url, start_stand_in
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.subscriptions.models import SubscribeGrant
from cdp.wechat.push_processor import PushProcessor
from tests.conftest import TEST_KEYRING, ClientFactory, make_settings
from tests.wechat_push.reading import follows

PERSON = "小王"
STRONG_SECRET = secrets.token_urlsafe(32)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def settings(database_url: str) -> Settings:
    """What `make run` gives cdp: the sandbox on, no apps of the brand's own."""
    raw = make_settings(database_url, wechat_sandbox=True, wechat_sandbox_port=free_port())
    return sandboxed(raw)


@pytest.fixture
def stand_in(settings: Settings) -> Iterator[str]:
    server = start_stand_in(settings)
    yield server.url
    server.stop()


async def walk_to_cdp(
    browser: httpx.AsyncClient, at_wechat: httpx.AsyncClient, path: str, app_id: str
) -> dict[str, str]:
    """Start a sign-in at cdp, answer the stand-in's page as PERSON, come back to cdp."""
    start = await browser.get(path, params={"appId": app_id})
    page = start.headers["location"].split("#")[0]
    asked = await at_wechat.get(page)
    assert asked.status_code == 200 and "Who is signing in?" in asked.text
    # The page's form sends back every parameter with the name given.
    agreed = await at_wechat.get(f"{page}&{urlencode({'person': PERSON})}")
    assert agreed.status_code == 302, agreed.text
    back = urlsplit(agreed.headers["location"])
    done = await browser.get(f"{back.path}?{back.query}")
    assert done.status_code == 303, done.text
    fragment = urlsplit(done.headers["location"]).fragment
    return dict(part.split("=", 1) for part in fragment.split("&"))


async def test_a_developer_signs_in_everywhere_as_one_person_and_pushes_reach_cdp(
    client_for: ClientFactory,
    stand_in: str,
    settings: Settings,
    database: Database,
    keystore: KeyStore,
) -> None:
    browser = client_for(None)
    assert settings.wechat_api_base_url == stand_in
    async with httpx.AsyncClient(base_url=stand_in) as at_wechat:
        login = await at_wechat.get(
            "/sandbox/wx.login", params={"appid": MINI_APP_ID, "person": PERSON}
        )
        mini = await browser.post(
            "/auth/wechat/mini-program", json={"appId": MINI_APP_ID, "code": login.json()["code"]}
        )
        assert mini.status_code == 200, mini.text
        account = await walk_to_cdp(
            browser, at_wechat, "/auth/wechat/official-account/authorize", OA_APP_ID
        )
        website = await walk_to_cdp(
            browser, at_wechat, "/auth/wechat/website/authorize", WEBSITE_APP_ID
        )
    assert account["token"] and website["profileId"] == mini.json()["profileId"]
    apps = settings.wechat_apps
    user = WechatUser.named(PERSON)
    plain = signed_push(
        OA_APP_ID,
        apps[OA_APP_ID],
        event_fields(SandboxEvent.SUBSCRIBE, user.open_id(OA_APP_ID), key="spring_poster"),
        as_json=False,
    )
    assert "encrypt_type" not in plain.params
    safe = signed_push(
        MINI_APP_ID,
        apps[MINI_APP_ID],
        event_fields(SandboxEvent.CLICK, user.open_id(MINI_APP_ID), key="member_card"),
        as_json=True,
    )
    assert safe.params["encrypt_type"] == "aes" and b"member_card" not in safe.body
    for app_id, push in ((OA_APP_ID, plain), (MINI_APP_ID, safe)):
        response = await send_push(browser, app_id, push)
        assert (response.status_code, response.text) == (200, "success")
    processor = PushProcessor(settings, database, KeyringSource.fixed(TEST_KEYRING), keystore)
    assert await processor.drain() == 2
    [follow] = await follows(database)
    assert follow.following and follow.scene == "spring_poster"


async def test_cdp_wechat_push_sandbox_sends_a_signed_push_that_cdp_accepts(
    settings: Settings, database: Database, keystore: KeyStore
) -> None:
    app = create_app(settings, database, KeyringSource.fixed(TEST_KEYRING), keystore)
    env: dict[str, str | None] = {key: None for key in os.environ if key.startswith("CDP_")}
    with LoopbackServer(app) as cdp_server:
        args = [
            "wechat",
            "push-sandbox",
            "CLICK",
            "--key",
            "coupon_center",
            "--url",
            cdp_server.url,
        ]
        result = await asyncio.to_thread(CliRunner().invoke, cli, args, env=env)
    assert result.exit_code == 0, result.output
    assert "200 success" in result.stdout


@pytest.mark.parametrize("app_id", [MINI_APP_ID, OA_APP_ID])
async def test_push_sandbox_sends_a_subscribe_message_choice_that_fills_the_ledger(
    settings: Settings, database: Database, keystore: KeyStore, app_id: str
) -> None:
    app = create_app(settings, database, KeyringSource.fixed(TEST_KEYRING), keystore)
    env: dict[str, str | None] = {key: None for key in os.environ if key.startswith("CDP_")}
    with LoopbackServer(app) as cdp_server:
        args = ["wechat", "push-sandbox", "subscribe_msg_popup_event", "--app", app_id]
        args += ["--key", "tmpl-order-shipped", "--url", cdp_server.url]
        result = await asyncio.to_thread(CliRunner().invoke, cli, args, env=env)
        assert result.exit_code == 0, result.output
        assert "200 success" in result.stdout
        reader = Database(settings)  # the server's pool lives on the server's loop
        try:
            for _ in range(50):  # processed after the answer, by the push processor
                async with reader.transaction() as session:
                    grants = (await session.execute(sa.select(SubscribeGrant))).scalars().all()
                if grants:
                    break
                await asyncio.sleep(0.1)
        finally:
            await reader.dispose()
    assert [(g.app_id, g.template_id, g.available) for g in grants] == [
        (app_id, "tmpl-order-shipped", 1)
    ]


def test_push_sandbox_refuses_an_app_without_push_and_production() -> None:
    env: dict[str, str | None] = {key: None for key in os.environ if key.startswith("CDP_")}
    result = CliRunner().invoke(
        cli, ["wechat", "push-sandbox", "subscribe", "--app", WEBSITE_APP_ID], env=env
    )
    assert result.exit_code == 2 and "not an app with message push" in result.stderr
    production = {**env, "CDP_ENV": "production", "CDP_JWT_SECRET": STRONG_SECRET}
    result = CliRunner().invoke(cli, ["wechat", "push-sandbox", "subscribe"], env=production)
    assert result.exit_code == 2 and "refused under CDP_ENV=production" in result.stderr


def test_production_refuses_to_start_with_the_sandbox_on() -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(
            {"CDP_ENV": "production", "CDP_JWT_SECRET": STRONG_SECRET, "CDP_WECHAT_SANDBOX": "true"}
        )
    assert "CDP_WECHAT_SANDBOX" in str(refused.value) and "production" in str(refused.value)
    env: dict[str, str | None] = {key: None for key in os.environ if key.startswith("CDP_")}
    env.update(CDP_ENV="production", CDP_JWT_SECRET=STRONG_SECRET, CDP_WECHAT_SANDBOX="1")
    result = CliRunner().invoke(cli, ["serve"], env=env)
    assert result.exit_code == 2
    [line] = [line for line in result.stderr.splitlines() if line.strip()]
    assert line.startswith("cdp: bad configuration: ") and "CDP_WECHAT_SANDBOX" in line


def test_the_sandbox_off_leaves_wechat_alone_and_on_keeps_the_brands_own_apps() -> None:
    plain = load_settings({})
    assert sandboxed(plain) is plain and plain.wechat_api_base_url == "https://api.weixin.qq.com"
    demo = sandboxed(load_settings({}, wechat_sandbox=True, wechat_sandbox_port=9123))
    assert demo.wechat_api_base_url == stand_in_url(demo) == "http://127.0.0.1:9123"
    assert demo.wechat_qrconnect_url == "http://127.0.0.1:9123/connect/qrconnect"
    assert set(demo.wechat_apps) == set(SANDBOX_APPS)
    own = {OA_APP_ID: SANDBOX_APPS[OA_APP_ID]}
    assert set(sandboxed(load_settings({}, wechat_sandbox=True, wechat_apps=own)).wechat_apps) == {
        OA_APP_ID
    }


@pytest.mark.parametrize(
    ("app", "words"),
    [
        ({"type": "WEBSITE", "token": "brandPush"}, "a WEBSITE app has no message push"),
        ({"type": "OFFICIAL_ACCOUNT", "return_url": "/shop/"}, "return_url is for WEBSITE apps"),
        ({"type": "WEBSITE", "return_url": "javascript:alert(1)"}, "a path or an http(s)://"),
        ({"type": "WEBSITE", "return_url": "/shop/#x"}, "must not carry a fragment"),
    ],
)
def test_a_website_app_that_cannot_work_stops_start_up_with_one_line(
    app: dict[str, str], words: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings({}, wechat_apps={WEBSITE_APP_ID: {"secret": "s" * 32, **app}})
    assert words in str(refused.value) and "\n" not in str(refused.value)


def test_production_needs_the_redirect_base_with_a_website_app() -> None:
    apps = {WEBSITE_APP_ID: {"type": "WEBSITE", "secret": "5e6b7a8c9d0e1f2a3b4c5d6e7f809102"}}
    with pytest.raises(ConfigError) as refused:
        load_settings({}, env="production", jwt_secret=STRONG_SECRET, wechat_apps=apps)
    assert "CDP_WECHAT_REDIRECT_BASE_URL" in str(refused.value)


async def test_a_developer_walks_phone_authorisation_in_the_sandbox(
    client_for: ClientFactory, stand_in: str
) -> None:
    browser = client_for(None)
    async with httpx.AsyncClient(base_url=stand_in) as at_wechat:
        login = await at_wechat.get(
            "/sandbox/wx.login", params={"appid": MINI_APP_ID, "person": PERSON}
        )
        mini = await browser.post(
            "/auth/wechat/mini-program", json={"appId": MINI_APP_ID, "code": login.json()["code"]}
        )
        button = await at_wechat.get(
            "/sandbox/getPhoneNumber", params={"appid": MINI_APP_ID, "phone": "13912345678"}
        )
    browser.headers["authorization"] = f"Bearer {mini.json()['token']}"
    phone = await browser.post(
        "/auth/wechat/mini-program/phone",
        json={"appId": MINI_APP_ID, "code": button.json()["code"]},
    )
    assert phone.status_code == 200, phone.text
    assert phone.json()["phoneVerified"] is True and phone.json()["phone"] == "13912345678"
