"""Serving only what the database can back: the readiness gate and the outage answer.

`cdp serve` starts whether or not the database is there. Until the database answers at the
migration head and every start-up step has run once, `/readyz` and every route that needs
the database answer 503 with `Retry-After`; so does any request the database fails under
(cdp/outages.py). `/healthz` and the member center's static files are always served.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

import sqlalchemy as sa
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cdp.db import Database
from cdp.errors import ErrorCode
from cdp.outages import Outage, outage_of

log = logging.getLogger("cdp.availability")

StartupStep = Callable[[Database], Awaitable[None]]
"""Runs against the database once it is reachable and at head, before any request is served.
Steps run in order; one that fails is retried (from the first step not yet done), so each
must be safe to run again. Bind anything else a step needs (keyring, settings) in a closure."""

RETRY_AFTER_SECONDS = 2
NOT_READY = "NOT_READY"  # reachable, but not at the migration head or a start-up step pending
UNGATED = ("/healthz", "/readyz", "/h5", "/console")
_BACKOFF = (0.2, 0.5, 1.0, 2.0, 5.0)
_REQUEST_WAIT_SECONDS = 5.0  # how long a request waits for a start-up attempt under way
_COOLDOWN_SECONDS = 1.0  # requests start at most one attempt a second


class ReadinessGate:
    """Ready once the database answers at `head` and each start-up step has run once."""

    def __init__(
        self, database: Database, head: str | None, steps: Sequence[StartupStep] = ()
    ) -> None:
        self.database, self.head, self.steps = database, head, tuple(steps)
        self.ready = False
        self.problem: tuple[str, str] = (Outage.UNAVAILABLE.value, "the database is unreachable")
        self._done = 0  # steps completed
        self._attempt: asyncio.Task[bool] | None = None
        self._last_attempt = -_COOLDOWN_SECONDS

    async def database_problem(self) -> tuple[str, str] | None:
        """(reason, what) when the database is unreachable or not at the migration head."""
        try:
            async with self.database.engine.connect() as conn:
                current = (
                    await conn.execute(sa.text("SELECT version_num FROM alembic_version"))
                ).scalar_one_or_none()
        except Exception as exc:
            outage = outage_of(exc)
            if outage is None:  # reachable, but no migration state (never migrated, say)
                return NOT_READY, "the database's migration state cannot be read"
            return outage.value, "the database is unreachable"
        if current != self.head:
            return NOT_READY, "the database is not at the newest migration"
        return None

    async def _try(self) -> bool:
        problem = await self.database_problem()
        if problem is not None:
            self.problem = problem
            return False
        while self._done < len(self.steps):
            step = self.steps[self._done]
            name = getattr(step, "__qualname__", repr(step))
            try:
                await step(self.database)
            except Exception as exc:
                outage = outage_of(exc)
                if outage is None:  # the type only: a message may hold values
                    error = type(exc).__qualname__
                    log.error("start-up step failed", extra={"step": name, "error_type": error})
                reason = outage.value if outage else NOT_READY
                self.problem = (reason, f"start-up step {name} has not completed")
                return False
            self._done += 1
        self.ready = True
        log.info("ready", extra={"revision": self.head})
        return True

    def _start(self) -> asyncio.Task[bool]:
        if self._attempt is None or self._attempt.done():
            self._last_attempt = time.monotonic()
            self._attempt = asyncio.ensure_future(self._try())
        return self._attempt

    async def wait_ready(self, timeout: float = _REQUEST_WAIT_SECONDS) -> bool:
        """For a request: ready, or an attempt (at most one a second) finished in `timeout`."""
        if self.ready:
            return True
        running = self._attempt is not None and not self._attempt.done()
        if not running and time.monotonic() - self._last_attempt < _COOLDOWN_SECONDS:
            return False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._start()), timeout)
        return self.ready

    async def run_until_ready(self) -> None:
        """For the server's lifespan: keep trying, backing off, until ready."""
        for tries in itertools.count():
            if await self._start():
                return
            await asyncio.sleep(_BACKOFF[min(tries, len(_BACKOFF) - 1)])


def unavailable_response(
    reason: str,
    message: str,
    request_id: str,
    media: str = "application/json",
    extra: dict[str, str] | None = None,
) -> JSONResponse:
    """503 with Retry-After and one coded error, as for every dependency that is down."""
    error = {
        "message": message,
        "extensions": {"code": ErrorCode.INTERNAL.value, "reason": reason, "requestId": request_id},
    }
    return JSONResponse(
        {**(extra or {}), "errors": [error]},
        status_code=503,
        media_type=media,
        headers={
            "retry-after": str(RETRY_AFTER_SECONDS),
            "cache-control": "no-store",
            "x-request-id": request_id,
        },
    )


OUTAGE_MESSAGES = {
    Outage.UNAVAILABLE: "The database is unavailable; try again shortly",
    Outage.TIMEOUT: "The database did not answer in time; try again shortly",
}


class Availability:
    """ASGI middleware: the gate before each request that needs the database, and the one
    place a database outage becomes a 503 (the routes let outages through to here)."""

    def __init__(self, app: ASGIApp, gate: ReadinessGate) -> None:
        self.app, self.gate = app, gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope["path"]).startswith(UNGATED):
            await self.app(scope, receive, send)
            return
        if not self.gate.ready and not await self.gate.wait_ready():
            reason, what = self.gate.problem
            message = f"The service is starting: {what}; try again shortly"
            await self._answer(scope, receive, send, reason, message)
            return
        started = False

        async def noting_start(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, noting_start)
        except Exception as exc:
            outage = outage_of(exc)
            if outage is None or started:
                raise
            log.warning(
                "database outage",
                extra={"request_id": _request_id(scope), "reason": outage.value},
            )
            await self._answer(scope, receive, send, outage.value, OUTAGE_MESSAGES[outage])

    async def _answer(
        self, scope: Scope, receive: Receive, send: Send, reason: str, message: str
    ) -> None:
        accept = dict(scope.get("headers", [])).get(b"accept", b"")
        graphql_media = b"application/graphql-response+json" in accept
        media = "application/graphql-response+json" if graphql_media else "application/json"
        response = unavailable_response(reason, message, _request_id(scope), media)
        await response(scope, receive, send)


def _request_id(scope: Scope) -> str:
    return str(scope.get("state", {}).get("request_id", ""))
