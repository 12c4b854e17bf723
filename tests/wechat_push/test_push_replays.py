"""Replays are refused and WeChat's retries (three, on a slow answer) are answered `success`
but processed once, on both databases: by MsgId for messages and sent-job events, by
FromUserName + CreateTime + Event for other events; after processing as well as before."""

from __future__ import annotations

import time

import pytest

from cdp.db import Database
from cdp.keys.vault import Vault
from cdp.wechat.push_processor import PushProcessor
from tests.wechat_push.pushing import MINI, OA, SAFE_OA, WechatSide, event
from tests.wechat_push.reading import events_of, inbox, profile_of

pytestmark = pytest.mark.usefixtures("backend")


@pytest.mark.parametrize("app_id", [OA, SAFE_OA])
async def test_a_retried_event_is_answered_success_and_processed_once(
    wechat: WechatSide, processor: PushProcessor, database: Database, vault: Vault, app_id: str
) -> None:
    open_id, created = "oRetry0000000000000000001", int(time.time())
    push = event(open_id, "CLICK", created, EventKey="MEMBER_CARD")
    for _ in range(3):
        await wechat.accepted(app_id, push)  # a new nonce and signature each time, as WeChat
    assert len(await inbox(database)) == 1
    assert await processor.drain() == 1
    await wechat.accepted(app_id, push)  # a fourth, after processing
    assert await processor.drain() == 0
    assert (
        len(await events_of(database, await profile_of(database, vault, app_id, open_id) or 0)) == 1
    )


async def test_events_of_one_person_differ_by_time_and_by_event(
    wechat: WechatSide, processor: PushProcessor, database: Database, vault: Vault
) -> None:
    open_id, created = "oRetry0000000000000000002", int(time.time())
    await wechat.accepted(OA, event(open_id, "CLICK", created, EventKey="A"))
    await wechat.accepted(OA, event(open_id, "CLICK", created - 1, EventKey="A"))
    await wechat.accepted(OA, event(open_id, "VIEW", created, EventKey="https://x.cn/"))
    assert await processor.drain() == 3


async def test_messages_are_told_apart_by_msg_id(
    wechat: WechatSide, processor: PushProcessor, database: Database, vault: Vault
) -> None:
    open_id, created = "oRetry0000000000000000003", int(time.time())

    def text(msg_id: str) -> dict[str, object]:
        return {
            "ToUserName": "gh_0123456789ab",
            "FromUserName": open_id,
            "CreateTime": created,
            "MsgType": "text",
            "Content": "你好",
            "MsgId": msg_id,
        }

    await wechat.accepted(MINI, text("23456789012345678"))
    await wechat.accepted(MINI, text("23456789012345678"))
    await wechat.accepted(MINI, text("23456789012345679"))  # same second, another message
    assert await processor.drain() == 2
    assert (
        len(await events_of(database, await profile_of(database, vault, MINI, open_id) or 0)) == 2
    )


async def test_a_replayed_request_outside_the_window_is_refused_even_with_a_good_signature(
    wechat: WechatSide, database: Database
) -> None:
    response = await wechat.push(
        OA, event("oReplay000000000000000001", "CLICK"), timestamp=int(time.time()) - 301
    )
    assert response.status_code == 401
    assert await inbox(database) == []
