"""Processing accepted pushes after WeChat was answered: oldest first, each in its own
transaction that also marks it done, so a crash between accepting and processing (or in the
middle of processing) leaves it pending for the next run, and nothing is done twice.

A run starts with the app and drains what an earlier process left; each accept wakes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from cdp.audit import trail as audit
from cdp.audit.trail import AuditTrail
from cdp.auth import Role
from cdp.config import Settings
from cdp.config_models import WechatAppType
from cdp.db import Database, utcnow
from cdp.errors import CdpError
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.keys.vault import Vault
from cdp.outages import outage_of
from cdp.unit_of_work import audited_transaction
from cdp.wechat import push_inbox as inbox
from cdp.wechat.push_events import apply_push
from cdp.wechat.push_inbox import InboxState, Pending
from cdp.wechat.push_message import BadMessage, message_of, parse_body

log = logging.getLogger("cdp.wechat.push")
PUSH_ACTION = "wechat.push"
MAX_ATTEMPTS = 5
BATCH = 50


class PushProcessor:
    """Drains the inbox; `wake()` after an accept, `run()` as the app's background task."""

    def __init__(
        self, settings: Settings, database: Database, keyring: KeyringSource, keystore: KeyStore
    ) -> None:
        self.settings, self.database = settings, database
        self.keyring, self.keystore = keyring, keystore
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Until cancelled: drain, then wait for an accept or the poll interval."""
        while True:
            try:
                await self.drain()
            except Exception as exc:  # an outage, or worse: logged, retried at the next poll
                log.warning(
                    "push processing paused",
                    extra={"error_type": type(exc).__qualname__, "outage": bool(outage_of(exc))},
                )
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._wake.wait(), timeout=self.settings.wechat_push_poll_seconds
                )

    async def drain(self) -> int:
        """Process every pending message; how many were settled. An outage is raised (the
        messages stay pending)."""
        settled, after = 0, 0
        while True:
            async with self.database.transaction() as session:
                batch = await inbox.pending(
                    session=session, keyring=self.keyring.keyring, after=after, limit=BATCH
                )
            if not batch:
                break
            for item in batch:
                settled += await self._one(item)
                after = item.id
        async with self.database.transaction() as session:
            window = timedelta(seconds=2 * self.settings.wechat_push_window_seconds)
            await inbox.prune(session=session, older_than=utcnow() - window)
        return settled

    def _trail(self, app_id: str) -> AuditTrail:
        # The app acts: WeChat vouched for what it pushed, as it does for a sign-in.
        return AuditTrail(
            key=self.keyring.keyring.audit_key,
            actor_subject=f"wechat:{app_id}",
            actor_role=Role.SERVICE.value,
        )

    async def _one(self, item: Pending) -> int:
        app = self.settings.wechat_apps.get(item.app_id)
        try:
            if app is None:
                raise BadMessage("the app is no longer configured")
            message = message_of(parse_body(item.message))
            async with audited_transaction(self.database, self._trail(item.app_id)) as session:
                if not await inbox.settle(
                    session=session, row_id=item.id, state=InboxState.DONE, outcome="ok"
                ):
                    return 0  # another worker took it
                vault = Vault(self.keyring, self.keystore)
                profile_id, count = await apply_push(
                    session=session,
                    vault=vault,
                    settings=self.settings,
                    app_id=item.app_id,
                    kind=app.type,
                    message=message,
                    event_key=item.dedupe_key.hex()[:32],
                )
                _record(session, item.app_id, app.type, "ok", message.event, count, profile_id)
            return 1
        except (CdpError, BadMessage) as exc:
            # Rolled back: nothing of the person stays; the refusal is audited, the content
            # cleared (a suppressed person's OpenID is not kept even sealed).
            outcome = exc.code.value.lower() if isinstance(exc, CdpError) else "bad_user_input"
            return await self._drop(item, app.type if app else None, outcome)
        except Exception as exc:
            if outage_of(exc):
                raise
            log.error(
                "push processing failed",
                extra={"error_type": type(exc).__qualname__, "inbox_id": item.id},
            )
            if item.attempts + 1 >= MAX_ATTEMPTS:
                return await self._drop(item, app.type if app else None, "internal")
            async with self.database.transaction() as session:
                await inbox.count_attempt(session=session, row_id=item.id)
            return 0

    async def _drop(self, item: Pending, kind: WechatAppType | None, outcome: str) -> int:
        state = InboxState.FAILED if outcome == "internal" else InboxState.DROPPED
        async with audited_transaction(self.database, self._trail(item.app_id)) as session:
            if not await inbox.settle(
                session=session, row_id=item.id, state=state, outcome=outcome
            ):
                return 0
            _record(session, item.app_id, kind, outcome, None, 0, None)
        return 1


def _record(
    session: AsyncSession,
    app_id: str,
    kind: WechatAppType | None,
    outcome: str,
    event: str | None,
    count: int,
    profile_id: int | None,
) -> None:
    """The push's audit record: the app, what kind of push, how many events; no OpenID."""
    detail: dict[str, object] = {"appId": app_id, "events": count}
    if kind is not None:
        detail["channel"] = kind.value
    if event is not None and event.isascii() and len(event) <= 64:
        detail["event"] = event
    audit.record(session, action=PUSH_ACTION, profile_id=profile_id, outcome=outcome, detail=detail)
