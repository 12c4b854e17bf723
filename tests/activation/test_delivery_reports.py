"""WeChat's delivery reports, as the message push brings them: a template message's
TEMPLATESENDJOBFINISH and a subscribe message's SubscribeMsgSentEvent mark the sent message
delivered or not, and a campaign's totals count the delivered."""

from __future__ import annotations

import time

from cdp.config_models import WechatAppType
from cdp.devwechat.fake import MINI_APP_ID, OA_APP_ID
from cdp.keys.vault import Vault
from cdp.wechat.push_events import apply_push
from cdp.wechat.push_message import PushMessage
from tests.conftest import audited
from tests.support.activation import Activation


async def push(
    activation: Activation,
    vault: Vault,
    app_id: str,
    kind: WechatAppType,
    open_id: str,
    event: str,
    tree: dict[str, object],
) -> None:
    message = PushMessage(
        to_user="gh_brand",
        from_user=open_id,
        create_time=int(time.time()),
        msg_type="event",
        event=event,
        tree=tree,
    )  # type: ignore[arg-type]
    async with audited(activation.database) as session:
        await apply_push(
            session=session,
            vault=vault,
            settings=activation.settings,
            app_id=app_id,
            kind=kind,
            message=message,
            event_key=f"k{time.time()}",
        )


async def test_a_template_message_reported_sent_is_delivered_and_a_blocked_one_is_not(
    activation: Activation, vault: Vault
) -> None:
    anna = await activation.member(follows=True)
    await activation.queue("order_shipped", [anna], key="a", order_no="E1")
    await activation.queue("order_shipped", [anna], key="b", order_no="E2")
    await activation.worker().run_once()
    first, second = activation.wechat.messages.sent
    await push(
        activation,
        vault,
        OA_APP_ID,
        WechatAppType.OFFICIAL_ACCOUNT,
        anna.oa_open_id,
        "TEMPLATESENDJOBFINISH",
        {"MsgID": str(first.msgid), "Status": "success"},
    )
    await push(
        activation,
        vault,
        OA_APP_ID,
        WechatAppType.OFFICIAL_ACCOUNT,
        anna.oa_open_id,
        "TEMPLATESENDJOBFINISH",
        {"MsgID": str(second.msgid), "Status": "failed:user block"},
    )
    results = {r.result["msgid"]: r.result for r in await activation.rows() if r.result}
    assert results[first.msgid]["delivered"] is True
    assert results[second.msgid] == {
        "msgid": second.msgid,
        "delivered": False,
        "status": "failed:user block",
    }


async def test_a_subscribe_message_reported_sent_is_delivered(
    activation: Activation, vault: Vault
) -> None:
    anna = await activation.member(accepts=1)
    await activation.queue("order_paid", [anna], order_no="E3", amount_yuan="3.00")
    await activation.worker().run_once()
    (sent,) = activation.wechat.messages.sent
    item = {
        "TemplateId": sent.template_id,
        "MsgID": str(sent.msgid),
        "ErrorCode": "0",
        "ErrorStatus": "success",
    }
    await push(
        activation,
        vault,
        MINI_APP_ID,
        WechatAppType.MINI_PROGRAM,
        anna.mini_open_id,
        "subscribe_msg_sent_event",
        {"SubscribeMsgSentEvent": {"List": item}},
    )
    (row,) = await activation.rows()
    assert row.result is not None and row.result["delivered"] is True
