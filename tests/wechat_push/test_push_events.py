"""Every kind of push becomes a behaviour event with its entry parameters, attributed to the
identity of FromUserName in that app (created when new), on both databases; follows keep the
official account's follow state and subscribe-message choices feed the ledger. Official
accounts push XML, the mini-programs here JSON; plaintext and safe mode alike."""

from __future__ import annotations

import time
from typing import Any

import pytest

from cdp.db import Database
from cdp.keys.vault import Vault
from cdp.wechat.push_processor import PushProcessor
from tests.wechat_push.pushing import MINI, OA, SAFE_MINI, SAFE_OA, WechatSide, event
from tests.wechat_push.reading import events_of, follows, grants, inbox, profile_of

pytestmark = pytest.mark.usefixtures("backend")
TEMPLATE = "bDmywsp2oEHjwAadTGKkUHpC0RgBVPvfAJz8iyAzs5E"
URL = "https://shop.example.cn/pages/coupon?from=menu&id=" + "9" * 80

CASES: list[tuple[str, dict[str, Any], str, dict[str, str]]] = [
    (
        "subscribe",
        {"Event": "subscribe", "EventKey": "qrscene_store_0731", "Ticket": "gQH47joAAAAAAAAAASx"},
        "wechat.subscribe",
        {"scene": "store_0731", "ticket": "gQH47joAAAAAAAAAASx"},
    ),
    ("subscribe_from_search", {"Event": "subscribe"}, "wechat.subscribe", {}),
    ("unsubscribe", {"Event": "unsubscribe"}, "wechat.unsubscribe", {}),
    (
        "scan",
        {"Event": "SCAN", "EventKey": "store_0731", "Ticket": "gQH47joAAAAAAAAAASx"},
        "wechat.scan",
        {"scene": "store_0731", "ticket": "gQH47joAAAAAAAAAASx"},
    ),
    (
        "click",
        {"Event": "CLICK", "EventKey": "MEMBER_CARD"},
        "wechat.menu_click",
        {"key": "MEMBER_CARD"},
    ),
    (
        "view",
        {"Event": "VIEW", "EventKey": "https://shop.example.cn/m", "MenuId": "208396938"},
        "wechat.menu_view",
        {"url": "https://shop.example.cn/m", "menuId": "208396938"},
    ),
    (
        "template_finished",
        {"Event": "TEMPLATESENDJOBFINISH", "MsgID": "200163836", "Status": "failed:user block"},
        "wechat.template_send_finish",
        {"msgId": "200163836", "status": "failed:user block"},
    ),
]


@pytest.mark.parametrize("app_id", [OA, SAFE_OA])
@pytest.mark.parametrize(("name", "fields", "kind", "params"), CASES, ids=[c[0] for c in CASES])
async def test_an_official_account_event_becomes_a_behaviour_event_with_its_parameters(
    wechat: WechatSide,
    processor: PushProcessor,
    database: Database,
    vault: Vault,
    app_id: str,
    name: str,
    fields: dict[str, Any],
    kind: str,
    params: dict[str, str],
) -> None:
    open_id = f"oEv{name[:10]:_<10}{app_id[-3:]}000000000001"
    await wechat.accepted(app_id, {**event(open_id, fields["Event"]), **fields})
    assert await processor.drain() == 1
    profile_id = await profile_of(database, vault, app_id, open_id)
    assert profile_id is not None, "a new OpenID creates its identity and profile"
    [recorded] = await events_of(database, profile_id)
    assert recorded["type"] == kind
    assert (recorded["channel"], recorded["app_id"]) == ("OFFICIAL_ACCOUNT", app_id)
    assert recorded["from"] == "wechat"
    assert recorded["params"] == params
    [settled] = await inbox(database)
    assert (settled.state.value, settled.message_ct) == ("DONE", None)


async def test_a_long_menu_url_is_kept_in_the_properties(
    wechat: WechatSide, processor: PushProcessor, database: Database, vault: Vault
) -> None:
    open_id = "oLongUrl000000000000000001"
    await wechat.accepted(OA, event(open_id, "VIEW", EventKey=URL))
    await processor.drain()
    [recorded] = await events_of(database, await profile_of(database, vault, OA, open_id) or 0)
    assert "url" not in recorded["params"]
    assert recorded["properties"]["url"] == URL


async def test_following_unfollowing_and_following_again_keep_the_state_and_first_scene(
    wechat: WechatSide, processor: PushProcessor, database: Database
) -> None:
    open_id, now = "oFollow0000000000000000001", int(time.time())
    await wechat.accepted(OA, event(open_id, "subscribe", now - 30, EventKey="qrscene_poster"))
    await processor.drain()
    [row] = await follows(database)
    assert (row.following, row.scene, int(row.since.timestamp())) == (True, "poster", now - 30)
    await wechat.accepted(OA, event(open_id, "unsubscribe", now - 20))
    await processor.drain()
    [row] = await follows(database)
    assert (row.following, row.scene, int(row.since.timestamp())) == (False, "poster", now - 20)
    # WeChat's late retry of the first follow changes nothing: it is older than the state.
    await wechat.accepted(OA, event(open_id, "subscribe", now - 25, EventKey="qrscene_late"))
    await processor.drain()
    [row] = await follows(database)
    assert (row.following, row.scene) == (False, "poster")
    await wechat.accepted(OA, event(open_id, "subscribe", now - 10))
    await processor.drain()
    [row] = await follows(database)
    assert (row.following, row.scene, int(row.since.timestamp())) == (True, None, now - 10)


def popup(
    open_id: str, created: int, *choices: tuple[str, str], json_shape: bool
) -> dict[str, Any]:
    items = [
        {"TemplateId": template, "SubscribeStatusString": status, "PopupScene": "0"}
        for template, status in choices
    ]
    if json_shape:  # a mini-program's JSON: List at the top
        return event(open_id, "subscribe_msg_popup_event", created, List=items)
    return event(
        open_id, "subscribe_msg_popup_event", created, SubscribeMsgPopupEvent={"List": items}
    )


@pytest.mark.parametrize("app_id", [OA, MINI, SAFE_MINI])
async def test_subscribe_message_choices_feed_the_ledger_per_template(
    wechat: WechatSide, processor: PushProcessor, database: Database, vault: Vault, app_id: str
) -> None:
    open_id, now, other = "oLedger000000000000000001", int(time.time()), "T" * 43
    shape = app_id != OA
    await wechat.accepted(
        app_id, popup(open_id, now - 30, (TEMPLATE, "accept"), (other, "reject"), json_shape=shape)
    )
    await wechat.accepted(app_id, popup(open_id, now - 20, (TEMPLATE, "accept"), json_shape=shape))
    change = event(
        open_id,
        "subscribe_msg_change_event",
        now - 10,
        SubscribeMsgChangeEvent={
            "List": {"TemplateId": TEMPLATE, "SubscribeStatusString": "reject"}
        },
    )
    await wechat.accepted(app_id, change)
    assert await processor.drain() == 3
    ledger = {(g.template_id, g.available, g.choice) for g in await grants(database)}
    assert ledger == {(TEMPLATE, 2, "reject"), (other, 0, "reject")}
    profile_id = await profile_of(database, vault, app_id, open_id)
    kinds = [
        (e["type"], e["params"].get("status")) for e in await events_of(database, profile_id or 0)
    ]
    assert kinds == [
        ("wechat.subscribe_msg_popup", "accept"),
        ("wechat.subscribe_msg_popup", "reject"),
        ("wechat.subscribe_msg_popup", "accept"),
        ("wechat.subscribe_msg_change", "reject"),
    ]


async def test_a_subscribe_message_sent_event_is_recorded_with_its_outcome(
    wechat: WechatSide, processor: PushProcessor, database: Database, vault: Vault
) -> None:
    open_id = "oSent0000000000000000000001"
    sent = event(
        open_id,
        "subscribe_msg_sent_event",
        SubscribeMsgSentEvent={
            "List": {
                "TemplateId": TEMPLATE,
                "MsgID": "1700827132819554304",
                "ErrorCode": "0",
                "ErrorStatus": "success",
            }
        },
    )
    await wechat.accepted(SAFE_OA, sent)
    await processor.drain()
    [recorded] = await events_of(database, await profile_of(database, vault, SAFE_OA, open_id) or 0)
    assert recorded["type"] == "wechat.subscribe_msg_sent"
    assert recorded["params"] == {
        "templateId": TEMPLATE,
        "msgId": "1700827132819554304",
        "errorCode": "0",
        "errorStatus": "success",
    }
    assert await grants(database) == []  # a sending spends nothing here: a later issue does


async def test_a_message_is_recorded_by_its_type_without_what_the_person_wrote(
    wechat: WechatSide, processor: PushProcessor, database: Database, vault: Vault
) -> None:
    open_id = "oText0000000000000000000001"
    text = {
        "ToUserName": "gh_0123456789ab",
        "FromUserName": open_id,
        "CreateTime": int(time.time()),
        "MsgType": "text",
        "Content": "我的手机号是13800138000",
        "MsgId": "23456789012345678",
    }
    await wechat.accepted(MINI, text)
    await processor.drain()
    [recorded] = await events_of(database, await profile_of(database, vault, MINI, open_id) or 0)
    assert (recorded["type"], recorded["channel"]) == ("wechat.message", "MINI_PROGRAM")
    assert "13800138000" not in repr(recorded)
