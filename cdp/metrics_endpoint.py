"""`/metrics`: not public. It answers only `Authorization: Bearer <CDP_METRICS_TOKEN>`, and
404 (as for a path that is not there) to anyone else and whenever no token is set: a client's
address proves nothing behind a proxy on the same host.
Gauges read from the database (the audit sealing lag) are read at each scrape."""

from __future__ import annotations

import contextlib
import hmac

from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy.exc import DBAPIError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cdp.audit.sealer import sealing_lag
from cdp.config import Settings
from cdp.db import Database
from cdp.metrics import SEALING_LAG, exposition, watch_pool


def allowed(request: Request, settings: Settings) -> bool:
    token = settings.metrics_token
    given = request.headers.get("authorization", "")
    if token is None or not given.lower().startswith("bearer "):
        return False
    return hmac.compare_digest(given[7:].strip().encode(), token.get_secret_value().encode())


def routes(settings: Settings, database: Database) -> list[Route]:
    async def metrics(request: Request) -> Response:
        if not allowed(request, settings):
            body = {"errors": [{"message": "Not Found", "extensions": {"code": "NOT_FOUND"}}]}
            return JSONResponse(body, status_code=404)
        watch_pool(database)
        # The database away: the gauge keeps its last value, and readyz says why.
        with contextlib.suppress(DBAPIError, OSError):
            SEALING_LAG.set((await sealing_lag(database)).total_seconds())
        return Response(exposition(), media_type=CONTENT_TYPE_LATEST)

    return [Route("/metrics", metrics, methods=["GET"])]
