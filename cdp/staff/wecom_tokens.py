"""WeCom's access token, shared by every worker and instance through Redis when configured
(`cdp.token_cache`) and the database.

WeCom gives a corp app one token at a time (7200 s, the same one on every gettoken while it is
valid) and caps gettoken calls, so cdp asks for one only when the shared row is missing, sealed
for another keyring, or within five minutes of its expiry (`refresh_time`). A process keeps the
token it last read in memory until then. When WeCom says a token is invalid, `replace` takes a
newer one another process stored, else fetches once.

No database transaction is held while WeCom is asked: two processes that miss at the same
moment both fetch (and get the same token back); the last write wins, which is harmless.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from cdp.config_models import StaffWecom
from cdp.db import Database, utcnow
from cdp.keys.source import KeyringSource
from cdp.staff.models import ProviderToken
from cdp.staff.sealed import open_credential, seal_credential
from cdp.token_cache import CachedToken, shared_token, token_cache_for

REFRESH_EARLY = timedelta(minutes=5)
Fetch = Callable[[], Awaitable[tuple[str, int]]]  # gettoken: (token, seconds it lives)


@dataclass(frozen=True, slots=True)
class _Held:
    token: str
    refresh_at: datetime


def refresh_time(fetched_at: datetime, expires_at: datetime, early: timedelta) -> datetime:
    """When a token is due for a new one: `early` before it expires, or halfway through
    its life when that is shorter (a token WeCom hands out near its own expiry would
    otherwise be fetched again on every call)."""
    return expires_at - min(early, (expires_at - fetched_at) / 2)


class WecomTokens:
    def __init__(
        self,
        database: Database,
        keyring: KeyringSource,
        app: StaffWecom,
        *,
        fetch: Fetch,
        refresh_early: timedelta = REFRESH_EARLY,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.database, self.keyring, self.fetch = database, keyring, fetch
        self.key = f"wecom:{app.corp_id}:{app.agent_id}"
        self.refresh_early, self.clock = refresh_early, clock
        self.cache = token_cache_for(database)
        self._held: _Held | None = None
        self._lock = asyncio.Lock()  # one fetch per process at a time

    def _fresh(self, held: _Held) -> bool:
        return self.clock() < held.refresh_at

    async def current(self) -> str:
        """A token with more than `refresh_early` to live: held, shared, or fetched."""
        held = self._held
        if held is not None and self._fresh(held):
            return held.token
        async with self._lock:  # a request that waited here finds what the first one got
            held = self._held
            if held is None or not self._fresh(held):
                shared = await self._read()
                if shared is None or not self._fresh(shared):
                    shared = await self._fetch_and_share()
                held = shared
                self._held = held
            return held.token

    async def replace(self, refused: str) -> str:
        """WeCom refused `refused`: a different token another process stored, else a new
        one from gettoken (once, however many requests saw the refusal at the same time)."""
        async with self._lock:
            if self._held is not None and self._held.token != refused:
                return self._held.token  # another request here replaced it already
            shared = await self._read()
            if shared is not None and shared.token != refused and self._fresh(shared):
                self._held = shared
            else:
                self._held = await self._fetch_and_share()
            return self._held.token

    async def _read(self) -> _Held | None:
        shared = await shared_token(
            self.database, self.key, ProviderToken, self.key, now=self.clock()
        )
        if shared is None:
            return None
        token = open_credential(self.keyring.keyring, self.key, shared.sealed)
        if token is None:
            return None
        return _Held(token, refresh_time(shared.fetched_at, shared.expires_at, self.refresh_early))

    async def _fetch_and_share(self) -> _Held:
        token, expires_in = await self.fetch()
        now = self.clock()
        expires_at = now + timedelta(seconds=expires_in)
        held = _Held(token, refresh_time(now, expires_at, self.refresh_early))
        sealed = seal_credential(self.keyring.keyring, self.key, token)
        values = {"sealed_token": sealed, "fetched_at": now, "expires_at": expires_at}
        if self.database.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
        # One statement whoever wrote first: a concurrent first fetch elsewhere cannot
        # collide with this one.
        statement = (
            insert(ProviderToken.__table__)  # type: ignore[attr-defined]
            .values(key=self.key, **values)
            .on_conflict_do_update(index_elements=["key"], set_=values)
        )
        async with self.database.transaction() as session:
            await session.execute(statement)
        if self.cache is not None:
            await self.cache.put(self.key, CachedToken(sealed, now, expires_at), now=now)
        return held
