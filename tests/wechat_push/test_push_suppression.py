"""An erased person is never recreated by a push, on both databases: their follow state and
ledger go with the erasure, and a later push from their OpenID is dropped, audited without a
personal value, its content cleared from the inbox."""

from __future__ import annotations

import time

import pytest

from cdp.auth import Role
from cdp.db import Database
from cdp.keys.vault import Vault
from cdp.wechat.push_processor import PushProcessor
from tests.conftest import ClientFactory, gql
from tests.wechat_push.pushing import OA, WechatSide, event
from tests.wechat_push.reading import follows, grants, inbox, profile_of

pytestmark = pytest.mark.usefixtures("backend")
AUDIT = """query { auditEvents(first: 50, action: WECHAT_PUSH) {
  items { actorSubject actorRole outcome profileSurrogateId } } }"""


async def erase(client_for: ClientFactory, profile_id: str) -> None:
    opened = await gql(
        client_for(Role.COMPLIANCE, subject="officer-a"),
        "mutation($p: ID!) { requestErasure(input: {profileId: $p, mode: DELETE, "
        'reason: "PIPL 删除请求 #21"}) { id } }',
        {"p": profile_id},
    )
    approved = await gql(
        client_for(Role.COMPLIANCE, subject="officer-b"),
        "mutation($r: ID!) { approveErasure(input: {requestId: $r}) { status } }",
        {"r": opened["data"]["requestErasure"]["id"]},
    )
    assert approved["data"]["approveErasure"]["status"] == "COMPLETED", approved


async def test_a_push_from_an_erased_person_is_dropped_and_audited_without_recreating_them(
    wechat: WechatSide,
    processor: PushProcessor,
    database: Database,
    vault: Vault,
    client_for: ClientFactory,
) -> None:
    open_id, now = "oErased00000000000000000001", int(time.time())
    await wechat.accepted(OA, event(open_id, "subscribe", now - 60, EventKey="qrscene_x"))
    popup = {"List": {"TemplateId": "tmpl-1", "SubscribeStatusString": "accept"}}
    await wechat.accepted(
        OA, event(open_id, "subscribe_msg_popup_event", now - 50, SubscribeMsgPopupEvent=popup)
    )
    await processor.drain()
    found = await gql(
        client_for(Role.SERVICE),
        'query($o: String!) { profile(openId: $o, purpose: "erasure test") { id } }',
        {"o": open_id},
    )
    await erase(client_for, found["data"]["profile"]["id"])
    assert (await follows(database), await grants(database)) == ([], [])

    await wechat.accepted(OA, event(open_id, "CLICK", now - 10, EventKey="MENU"))
    assert await processor.drain() == 1
    assert await profile_of(database, vault, OA, open_id) is None
    dropped = (await inbox(database))[-1]
    assert (dropped.state.value, dropped.outcome, dropped.message_ct) == (
        "DROPPED",
        "suppressed",
        None,
    )
    body = await gql(client_for(Role.COMPLIANCE), AUDIT)
    items = body["data"]["auditEvents"]["items"]
    refusal = {
        "actorSubject": f"wechat:{OA}",
        "actorRole": "SERVICE",
        "outcome": "SUPPRESSED",
        "profileSurrogateId": None,
    }
    assert refusal in items
    assert open_id not in repr(body)
