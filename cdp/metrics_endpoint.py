"""`/metrics`: not public. It answers only `Authorization: Bearer <CDP_METRICS_TOKEN>`, and
404 (as for a path that is not there) to anyone else and whenever no token is set: a client's
address proves nothing behind a proxy on the same host.
Gauges read from the database (the audit sealing lag) are read at each scrape."""

from __future__ import annotations

import contextlib
import hmac

import sqlalchemy as sa
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy.exc import DBAPIError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cdp.audit.sealer import sealing_lag
from cdp.config import Settings
from cdp.db import Database, as_utc, utcnow
from cdp.metrics import OUTBOX, OUTBOX_AGE, SEALING_LAG, exposition, watch_pool
from cdp.outbox.models import OutboxMessage, OutboxState


def allowed(request: Request, settings: Settings) -> bool:
    token = settings.metrics_token
    given = request.headers.get("authorization", "")
    if token is None or not given.lower().startswith("bearer "):
        return False
    return hmac.compare_digest(given[7:].strip().encode(), token.get_secret_value().encode())


WATCHED = (OutboxState.PENDING, OutboxState.SENDING, OutboxState.DEAD, OutboxState.UNCERTAIN)
_ROWS = OutboxMessage.__table__  # type: ignore[attr-defined]


async def _outbox(database: Database) -> None:
    """Depth by state and the oldest due row's wait (the states' index answers both)."""
    now = utcnow()
    async with database.transaction() as session:
        counts: dict[str, int] = dict(
            (
                await session.execute(
                    sa.select(_ROWS.c.state, sa.func.count())
                    .where(_ROWS.c.state.in_([s.value for s in WATCHED]))
                    .group_by(_ROWS.c.state)
                )
            ).all()
        )
        oldest = await session.scalar(
            sa.select(sa.func.min(_ROWS.c.due_at)).where(
                _ROWS.c.state == OutboxState.PENDING.value, _ROWS.c.due_at <= now
            )
        )
    for state in WATCHED:
        OUTBOX.labels(state.value).set(int(counts.get(state.value, 0)))
    OUTBOX_AGE.set(max((now - as_utc(oldest)).total_seconds(), 0.0) if oldest else 0.0)


def routes(settings: Settings, database: Database) -> list[Route]:
    async def metrics(request: Request) -> Response:
        if not allowed(request, settings):
            body = {"errors": [{"message": "Not Found", "extensions": {"code": "NOT_FOUND"}}]}
            return JSONResponse(body, status_code=404)
        watch_pool(database)
        # The database away: the gauges keep their last values, and readyz says why.
        with contextlib.suppress(DBAPIError, OSError):
            SEALING_LAG.set((await sealing_lag(database)).total_seconds())
            await _outbox(database)
        return Response(exposition(), media_type=CONTENT_TYPE_LATEST)

    return [Route("/metrics", metrics, methods=["GET"])]
