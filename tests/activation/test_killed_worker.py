"""A `cdp worker` process killed (SIGKILL) after WeChat sent its subscribe message and
before the answer was recorded: the next worker finds the lease expired and never sends it
again; both databases."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys

from cdp.config import Settings
from cdp.devwechat.fake_messages import SUBSCRIBE_SEND
from tests.conftest import KEYSTORES, TEST_JWT_SECRET, TEST_KEYRING_PATH
from tests.support.activation import Activation


def worker_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDP_")}
    apps = {
        app_id: {"type": app.type.value, "secret": app.secret.get_secret_value()}
        for app_id, app in settings.wechat_apps.items()
    }
    templates = {
        name: t.model_dump(exclude_none=True) for name, t in settings.activation_templates.items()
    }
    env.update(
        CDP_DATABASE_URL=settings.database_url,
        CDP_KEYSTORE_URL=KEYSTORES[settings.database_url],
        CDP_JWT_SECRET=TEST_JWT_SECRET,
        CDP_KEYRING=str(TEST_KEYRING_PATH),
        CDP_WECHAT_APPS=json.dumps(apps),
        CDP_WECHAT_API_BASE_URL=settings.wechat_api_base_url,
        CDP_WECHAT_TIMEOUT_SECONDS="20",
        CDP_ACTIVATION_TEMPLATES=json.dumps(templates),
        CDP_OUTBOX_LEASE_SECONDS="5",
        CDP_OUTBOX_POLL_SECONDS="0.2",
        CDP_LOG_LEVEL="WARNING",
    )
    return env


async def test_a_worker_process_killed_after_wechat_sent_never_makes_it_send_twice(
    activation: Activation,
) -> None:
    anna = await activation.member(accepts=2)
    await activation.queue("order_paid", [anna], order_no="E77", amount_yuan="7.70")
    activation.wechat.messages.lingers.append(30.0)  # sent, then no answer for half a minute
    env = worker_env(activation.settings)
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cdp",
        "worker",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        for _ in range(600):  # until WeChat has sent it
            if activation.wechat.messages.sent:
                break
            await asyncio.sleep(0.05)
        assert len(activation.wechat.messages.sent) == 1
    finally:
        child.send_signal(signal.SIGKILL)
        await child.wait()
    (row,) = await activation.rows()
    assert row.state == "SENDING"
    await asyncio.sleep(5.5)  # the lease runs out
    survivor = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cdp",
        "worker",
        "--once",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(survivor.communicate(), timeout=120)
    assert survivor.returncode == 0, out.decode()
    (row,) = await activation.rows()
    assert row.state == "UNCERTAIN"
    assert len(activation.wechat.messages.sent) == 1
    assert [p for p, _at, _q in activation.wechat.calls if p == SUBSCRIBE_SEND] == [SUBSCRIBE_SEND]
    status = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cdp",
        "outbox",
        "status",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    shown, _ = await asyncio.wait_for(status.communicate(), timeout=120)
    assert status.returncode == 0, shown.decode()
    assert f"#{row.id} wechat.subscribe UNCERTAIN tries=1" in shown.decode()
    assert "not sent again" in shown.decode()
