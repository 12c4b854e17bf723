"""The sandbox (`CDP_WECHAT_SANDBOX=true`, what `make run` sets): a demo mini-program (safe
mode push, JSON), official account (plaintext push, snsapi_userinfo) and website app, and
WeChat's URLs pointed at the stand-in that `cdp serve` starts on 127.0.0.1. Their secrets,
Token and EncodingAESKey are public, as the development JWT secret is; production refuses
the sandbox (cdp/config.py).
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from cdp.config import Settings
from cdp.config_models import WechatApp
from cdp.devwechat.fake import (
    MINI_APP_ID,
    MINI_SECRET,
    OA_APP_ID,
    OA_SECRET,
    WEBSITE_APP_ID,
    WEBSITE_SECRET,
    FakeWechat,
)
from cdp.devwechat.loopback import LoopbackServer

SANDBOX_TOKEN = "cdpSandboxPushToken"
SANDBOX_AES_KEY = base64.b64encode(hashlib.sha256(b"cdp sandbox").digest()).decode()[:43]
SANDBOX_APPS: dict[str, dict[str, Any]] = {
    MINI_APP_ID: {
        "type": "MINI_PROGRAM",
        "secret": MINI_SECRET,
        "token": SANDBOX_TOKEN,
        "encoding_aes_key": SANDBOX_AES_KEY,
    },
    OA_APP_ID: {
        "type": "OFFICIAL_ACCOUNT",
        "secret": OA_SECRET,
        "oauth_scope": "snsapi_userinfo",
        "token": SANDBOX_TOKEN,
    },
    WEBSITE_APP_ID: {"type": "WEBSITE", "secret": WEBSITE_SECRET},
}


def stand_in_url(settings: Settings) -> str:
    return f"http://127.0.0.1:{settings.wechat_sandbox_port}"


def sandbox_apps(settings: Settings) -> dict[str, WechatApp]:
    """The configured apps, or the sandbox's demo apps when none are."""
    if settings.wechat_apps:
        return dict(settings.wechat_apps)
    return {app_id: WechatApp.model_validate(app) for app_id, app in SANDBOX_APPS.items()}


def sandboxed(settings: Settings) -> Settings:
    """`settings` as the sandbox runs them: WeChat is the stand-in, the apps its demo apps
    unless CDP_WECHAT_APPS names some. Unchanged when the sandbox is off."""
    if not settings.wechat_sandbox:
        return settings
    base = stand_in_url(settings)
    return settings.model_copy(
        update={
            "wechat_api_base_url": base,
            "wechat_authorize_url": f"{base}/connect/oauth2/authorize",
            "wechat_qrconnect_url": f"{base}/connect/qrconnect",
            "wechat_apps": sandbox_apps(settings),
        }
    )


def start_stand_in(settings: Settings) -> LoopbackServer:
    """The stand-in, answering for the sandbox's apps on its port, in a thread."""
    apps = sandboxed(settings).wechat_apps
    fake = FakeWechat(
        apps={app_id: app.secret.get_secret_value() for app_id, app in apps.items()},
        sandbox=True,
    )
    server = LoopbackServer(fake.app(), lifespan="off", port=settings.wechat_sandbox_port)
    fake.base_url = server.url
    return server.start()
