"""What a pushed message means for cdp: behaviour events with their entry parameters, the
official account's follow state and the subscribe-message ledger, all for the identity of
FromUserName in that app (linked as sign-in links it: created at first sight, refused with
SUPPRESSED for an erased person). Keyword-only, never committing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.ext.asyncio import AsyncSession

from cdp.config import Settings
from cdp.config_models import WechatAppType
from cdp.events.service import EventInput, record_events
from cdp.keys.vault import Vault
from cdp.linking.link import link_identity
from cdp.orders.entry import MAX_PARAMS, VALUE_MAX
from cdp.outbox import reports
from cdp.subscriptions import service as subscriptions
from cdp.wechat.push_message import PushMessage, Tree
from cdp.wechat.signin import CHANNEL_OF

SUBSCRIBE_EVENTS = {
    "subscribe_msg_popup_event": ("SubscribeMsgPopupEvent", "wechat.subscribe_msg_popup"),
    "subscribe_msg_change_event": ("SubscribeMsgChangeEvent", "wechat.subscribe_msg_change"),
    "subscribe_msg_sent_event": ("SubscribeMsgSentEvent", "wechat.subscribe_msg_sent"),
}
# Event -> (behaviour event type, {entry parameter: field of the push}).
PLAIN_EVENTS: dict[str, tuple[str, dict[str, str]]] = {
    "subscribe": ("wechat.subscribe", {"scene": "EventKey", "ticket": "Ticket"}),
    "unsubscribe": ("wechat.unsubscribe", {}),
    "scan": ("wechat.scan", {"scene": "EventKey", "ticket": "Ticket"}),
    "click": ("wechat.menu_click", {"key": "EventKey"}),
    "view": ("wechat.menu_view", {"url": "EventKey", "menuId": "MenuId"}),
    "templatesendjobfinish": (
        "wechat.template_send_finish",
        {"msgId": "MsgID", "status": "Status"},
    ),
}
# The parameters of each item of a subscribe-message event's List.
ITEM_FIELDS = {
    "templateId": "TemplateId",
    "status": "SubscribeStatusString",
    "popupScene": "PopupScene",
    "msgId": "MsgID",
    "errorCode": "ErrorCode",
    "errorStatus": "ErrorStatus",
}
QRSCENE = "qrscene_"


@dataclass(frozen=True, slots=True)
class Meaning:
    """What one push comes to: the events (type, parameters) in order."""

    events: list[tuple[str, dict[str, str]]]


def _items(message: PushMessage, wrapper: str) -> list[Tree]:
    # Official accounts wrap the List in <SubscribeMsgPopupEvent>; a mini-program's JSON
    # may put List at the top. One item or many.
    holder = message.tree.get(wrapper)
    found = holder.get("List") if isinstance(holder, dict) else message.tree.get("List")
    items = found if isinstance(found, list) else [found]
    return [item for item in items if isinstance(item, dict)]


def _params(source: Tree, fields: dict[str, str]) -> dict[str, str]:
    params = {}
    for name, field in fields.items():
        value = source.get(field)
        if isinstance(value, str) and value.strip():
            params[name] = value.strip()
    return params


def meaning_of(message: PushMessage) -> Meaning:
    """The behaviour events a push comes to; a message (not an event) is recorded by its
    type only: what a person wrote is not kept."""
    if message.msg_type != "event" or message.event is None:
        return Meaning([("wechat.message", {"msgType": message.msg_type[:VALUE_MAX]})])
    event = message.event.lower()
    if event in SUBSCRIBE_EVENTS:
        wrapper, kind = SUBSCRIBE_EVENTS[event]
        return Meaning([(kind, _params(item, ITEM_FIELDS)) for item in _items(message, wrapper)])
    if event in PLAIN_EVENTS:
        kind, fields = PLAIN_EVENTS[event]
        params = _params(message.tree, fields)
        if event == "subscribe" and "scene" in params:
            scene = params["scene"]
            if scene.startswith(QRSCENE):
                params["scene"] = scene[len(QRSCENE) :]
            else:  # an EventKey without the prefix is not a QR scene
                del params["scene"]
        return Meaning([(kind, params)])
    return Meaning([("wechat.event", {"event": event[:VALUE_MAX]})])


def _entry(kind: str, params: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """The entry string (from=wechat and the parameters that fit) and the properties (every
    parameter, long ones such as a menu's URL included)."""
    fitting = {k: v for k, v in params.items() if len(v) <= VALUE_MAX and v.isprintable()}
    fitting = dict(list(fitting.items())[: MAX_PARAMS - 1])
    return urlencode({"from": "wechat", **fitting}), {"push": kind, **params}


async def apply_push(
    *,
    session: AsyncSession,
    vault: Vault,
    settings: Settings,
    app_id: str,
    kind: WechatAppType,
    message: PushMessage,
    event_key: str,
) -> tuple[int, int]:
    """Link FromUserName in the app, then record what the push means; (the profile's
    surrogate id, the number of behaviour events). SUPPRESSED (CdpError) for an erased
    person, before any write."""
    open_id = message.from_user
    linked = await link_identity(
        session=session,
        vault=vault,
        settings=settings,
        channel=CHANNEL_OF[kind],
        app_id=app_id,
        open_id=open_id,
    )
    profile_id = linked.profile.id
    assert profile_id is not None
    bidx = vault.blind_index("open_id", open_id)
    at = datetime.fromtimestamp(message.create_time, UTC)
    meaning = meaning_of(message)
    inputs = []
    for n, (event_type, params) in enumerate(meaning.events):
        entry, properties = _entry(event_type, params)
        inputs.append(
            EventInput(
                event_id=f"wxpush-{event_key}-{n}",
                type=event_type,
                channel=CHANNEL_OF[kind],
                occurred_at=min(at, datetime.now(UTC)),
                app_id=app_id,
                open_id=open_id,
                entry=entry,
                properties=properties,
            )
        )
        await _keep_state(session, kind, app_id, profile_id, bidx, event_type, params, at)
    if inputs:
        await record_events(session=session, vault=vault, events=inputs)
    return profile_id, len(inputs)


async def _keep_state(
    session: AsyncSession,
    kind: WechatAppType,
    app_id: str,
    profile_id: int,
    bidx: bytes,
    event_type: str,
    params: dict[str, str],
    at: datetime,
) -> None:
    if event_type in ("wechat.subscribe", "wechat.unsubscribe"):
        if kind is WechatAppType.OFFICIAL_ACCOUNT:
            await subscriptions.set_follow(
                session=session,
                profile_id=profile_id,
                app_id=app_id,
                open_id_bidx=bidx,
                following=event_type == "wechat.subscribe",
                at=at,
                scene=params.get("scene"),
            )
    elif event_type == "wechat.subscribe_msg_sent" and "msgId" in params:
        await reports.record_delivery(
            session=session,
            profile_id=profile_id,
            kind="wechat.subscribe",
            msgid=params["msgId"],
            delivered=params.get("errorCode", "0") == "0",
            status=params.get("errorStatus", "success"),
        )
    elif event_type == "wechat.template_send_finish" and "msgId" in params:
        status = params.get("status", "")
        await reports.record_delivery(
            session=session,
            profile_id=profile_id,
            kind="wechat.template",
            msgid=params["msgId"],
            delivered=status == "success",
            status=status,
        )
    elif event_type in ("wechat.subscribe_msg_popup", "wechat.subscribe_msg_change"):
        choice = subscriptions.choice_of(params.get("status", ""))
        template = params.get("templateId")
        if choice is not None and template:
            await subscriptions.record_choice(
                session=session,
                profile_id=profile_id,
                app_id=app_id,
                open_id_bidx=bidx,
                template_id=template,
                choice=choice,
                at=at,
            )
