"""Accept fast, process after, lose nothing, on both databases: what was accepted while no
processor ran (a process killed after answering WeChat) is processed by the next one; a
process that dies in the middle of processing leaves the message to be processed once; the
app's own background task drains the inbox at start-up. Accepted messages are sealed."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

import cdp.wechat.push_processor as processing
from cdp.app import create_app
from cdp.config import Settings
from cdp.db import Database, sqlite_path
from cdp.devwechat.loopback import LoopbackServer
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.keys.vault import Vault
from cdp.wechat.push_processor import PushProcessor
from tests.conftest import TEST_KEYRING
from tests.wechat_push.pushing import OA, SAFE_OA, WechatSide, event
from tests.wechat_push.reading import events_of, follows, inbox, profile_of

pytestmark = pytest.mark.usefixtures("backend")


class Killed(BaseException):
    """The process dying: nothing in cdp catches it."""


async def test_what_was_accepted_without_a_processor_is_processed_by_the_next_one(
    wechat: WechatSide,
    processor: PushProcessor,
    database: Database,
    vault: Vault,
    settings: Settings,
    backend: str,
) -> None:
    open_ids = [f"oKill{n:021d}" for n in range(3)]
    for n, open_id in enumerate(open_ids):
        await wechat.accepted(OA, event(open_id, "subscribe", EventKey=f"qrscene_door{n}"))
    pending = await inbox(database)
    assert [row.state.value for row in pending] == ["PENDING"] * 3
    assert [await profile_of(database, vault, OA, o) for o in open_ids] == [None] * 3
    if backend == "sqlite":  # the OpenIDs are sealed at rest, not in the file in plain
        raw = open(sqlite_path(settings), "rb").read()  # noqa: SIM115 - read once
        assert not any(o.encode() in raw for o in open_ids)
    assert await processor.drain() == 3
    assert sorted(f.scene or "" for f in await follows(database)) == ["door0", "door1", "door2"]


async def test_a_process_killed_while_processing_leaves_the_message_to_be_done_once(
    wechat: WechatSide,
    processor: PushProcessor,
    database: Database,
    vault: Vault,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    open_id = "oKilledMidway000000000001"
    await wechat.accepted(SAFE_OA, event(open_id, "subscribe", EventKey="qrscene_mall"))
    real = processing.apply_push

    async def dies_after_the_work(**kwargs: Any) -> tuple[int, int]:
        await real(**kwargs)  # every write made, none committed
        raise Killed

    monkeypatch.setattr(processing, "apply_push", dies_after_the_work)
    with pytest.raises(Killed):
        await processor.drain()
    [row] = await inbox(database)
    assert row.state.value == "PENDING" and row.message_ct is not None
    assert await profile_of(database, vault, SAFE_OA, open_id) is None
    monkeypatch.setattr(processing, "apply_push", real)
    assert await processor.drain() == 1
    profile_id = await profile_of(database, vault, SAFE_OA, open_id)
    assert [e["type"] for e in await events_of(database, profile_id or 0)] == ["wechat.subscribe"]
    [follow] = await follows(database)
    assert (follow.following, follow.scene) == (True, "mall")


@pytest.mark.slow
async def test_the_app_drains_what_an_earlier_process_left_when_it_starts(
    wechat: WechatSide, database: Database, vault: Vault, settings: Settings
) -> None:
    open_id = "oLeftBehind00000000000001"
    await wechat.accepted(OA, event(open_id, "CLICK", int(time.time()), EventKey="MENU"))
    # A process of its own: its own engines, on the server's event loop.
    app = create_app(settings, keyring=KeyringSource.fixed(TEST_KEYRING))
    with LoopbackServer(app):
        for _ in range(100):
            if [r.state.value for r in await inbox(database)] == ["DONE"]:
                break
            await asyncio.sleep(0.1)
    assert [r.state.value for r in await inbox(database)] == ["DONE"]
    assert await profile_of(database, vault, OA, open_id) is not None


async def test_two_processors_draining_at_once_do_each_message_once(
    wechat: WechatSide,
    processor: PushProcessor,
    database: Database,
    vault: Vault,
    settings: Settings,
    keystore: KeyStore,
) -> None:
    open_ids = [f"oTwoWorkers{n:015d}" for n in range(4)]
    for open_id in open_ids:
        await wechat.accepted(OA, event(open_id, "CLICK", EventKey="MENU"))
    other = PushProcessor(settings, database, KeyringSource.fixed(TEST_KEYRING), keystore)
    assert sum(await asyncio.gather(processor.drain(), other.drain())) == 4
    for open_id in open_ids:
        profile_id = await profile_of(database, vault, OA, open_id)
        assert len(await events_of(database, profile_id or 0)) == 1
