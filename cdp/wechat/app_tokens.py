"""An app's access token (cgi-bin/stable_token), shared by every worker through Redis when
configured (`cdp.token_cache`) and the database.

WeChat caps how often an app may ask for a token, and the stable token stays the same while
it lives, so cdp asks only when the shared row is missing, sealed under another keyring, or
due: five minutes before expiry (halfway through a shorter life). A process keeps the token it
last read until then. When WeChat refuses a token (40001, 42001), `replace` takes a newer one
another worker stored, else asks once. No transaction is held while WeChat is asked.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from cdp.columns import UtcDateTime
from cdp.config_models import WechatApp
from cdp.crypto import CryptoError, open_sealed, seal
from cdp.db import Database, utcnow
from cdp.keys.source import KeyringSource
from cdp.token_cache import CachedToken, shared_token, token_cache_for
from cdp.wechat.client import WechatClient

REFRESH_EARLY = timedelta(minutes=5)
_LABEL = b"cdp/wechat/app-access-tokens/v1"


class WechatAppToken(SQLModel, table=True):
    """The current access token of one app, sealed (AES-256-GCM, bound to the app id)."""

    __tablename__ = "wechat_app_tokens"

    app_id: str = Field(primary_key=True, max_length=64)
    sealed_token: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    fetched_at: datetime = Field(sa_column=sa.Column(UtcDateTime, nullable=False))
    expires_at: datetime = Field(sa_column=sa.Column(UtcDateTime, nullable=False))


@dataclass(frozen=True, slots=True)
class _Held:
    token: str
    refresh_at: datetime


def _aad(app_id: str) -> bytes:
    return f"cdp/wechat/app-token/{app_id}".encode()


class AppTokens:
    """The access tokens of the configured apps, for one process."""

    def __init__(
        self,
        database: Database,
        keyring: KeyringSource,
        client: WechatClient,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.database, self.keyring, self.client, self.clock = database, keyring, client, clock
        self.cache = token_cache_for(database)
        self._held: dict[str, _Held] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def _fresh(self, held: _Held | None) -> bool:
        return held is not None and self.clock() < held.refresh_at

    async def current(self, app_id: str, app: WechatApp) -> str:
        """A token with more than five minutes to live: held, shared, or asked for."""
        held = self._held.get(app_id)
        if held is not None and self._fresh(held):
            return held.token
        async with self._locks.setdefault(app_id, asyncio.Lock()):
            held = self._held.get(app_id)
            if held is None or not self._fresh(held):
                shared = await self._read(app_id)
                held = shared if shared is not None and self._fresh(shared) else None
                held = held or await self._fetch_and_share(app_id, app)
                self._held[app_id] = held
            return held.token

    async def replace(self, app_id: str, app: WechatApp, refused: str) -> str:
        """WeChat refused `refused`: another worker's newer token, else a new one (once)."""
        async with self._locks.setdefault(app_id, asyncio.Lock()):
            held = self._held.get(app_id)
            if held is not None and held.token != refused:
                return held.token
            shared = await self._read(app_id)
            if shared is None or shared.token == refused or not self._fresh(shared):
                shared = await self._fetch_and_share(app_id, app)
            self._held[app_id] = shared
            return shared.token

    async def _read(self, app_id: str) -> _Held | None:
        name, now = f"wechat:{app_id}", self.clock()
        shared = await shared_token(self.database, name, WechatAppToken, app_id, now=now)
        if shared is None:
            return None
        try:
            token = open_sealed(
                self._key(), base64.b64decode(shared.sealed), aad=_aad(app_id)
            ).decode()
        except (CryptoError, ValueError):
            return None  # sealed under another keyring: ask afresh
        return _Held(token, _refresh_at(shared.fetched_at, shared.expires_at))

    async def _fetch_and_share(self, app_id: str, app: WechatApp) -> _Held:
        token, expires_in = await self.client.stable_token(app_id=app_id, app=app)
        now = self.clock()
        expires_at = now + timedelta(seconds=expires_in)
        blob = seal(self._key(), token.encode(), data_key_id=0, aad=_aad(app_id))
        sealed = base64.b64encode(blob).decode()
        values = {
            "sealed_token": sealed,
            "fetched_at": now,
            "expires_at": expires_at,
        }
        if self.database.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
        statement = (
            insert(WechatAppToken.__table__)  # type: ignore[attr-defined]
            .values(app_id=app_id, **values)
            .on_conflict_do_update(index_elements=["app_id"], set_=values)
        )
        async with self.database.transaction() as session:
            await session.execute(statement)
        if self.cache is not None:
            await self.cache.put(f"wechat:{app_id}", CachedToken(sealed, now, expires_at), now=now)
        return _Held(token, _refresh_at(now, expires_at))

    def _key(self) -> bytes:
        return self.keyring.keyring.derived_key(_LABEL)


def _refresh_at(fetched_at: datetime, expires_at: datetime) -> datetime:
    return expires_at - min(REFRESH_EARLY, (expires_at - fetched_at) / 2)
