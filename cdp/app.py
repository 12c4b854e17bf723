"""The ASGI application: `/graphql`, `/healthz`, `/readyz`, WeChat sign-in and `/h5/`."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator

import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from cdp.config import Settings, load_settings
from cdp.db import Database
from cdp.erasure.replay import replay_erasure_journal
from cdp.graphql.view import GraphQLEndpoint
from cdp.h5.routes import MemberCenter
from cdp.keys.source import KeyringSource, load_keyring
from cdp.keys.store import KeyStore
from cdp.logs import configure_logging
from cdp.migrations import head_revision
from cdp.request_log import RequestLog
from cdp.wechat.routes import WechatSignIn


def create_app(
    settings: Settings,
    database: Database | None = None,
    keyring: KeyringSource | None = None,
    keystore: KeyStore | None = None,
    *,
    replay_journal: bool = False,
) -> Starlette:
    """The app for `settings`; pass `database` and `keystore` to share engines the caller
    owns. With `replay_journal`, start-up replays the erasure journal (`cdp serve`).

    Raises ConfigError (one line) for a missing or unfit keyring in production.
    """
    keyring = keyring or load_keyring(settings)
    owns_database, owns_keystore = database is None, keystore is None
    db = database or Database(settings)
    keys = keystore or KeyStore(settings)
    head = head_revision()
    endpoint = GraphQLEndpoint(settings, db, keyring, keys)
    wechat = WechatSignIn(settings, db, keyring, keys)

    async def healthz(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(_request: Request) -> JSONResponse:
        try:
            async with db.engine.connect() as conn:
                current = (
                    await conn.execute(sa.text("SELECT version_num FROM alembic_version"))
                ).scalar_one_or_none()
        except Exception:
            return JSONResponse({"status": "unavailable", "database": "unreachable"}, 503)
        if current != head:
            return JSONResponse({"status": "unavailable", "migrations": "not at head"}, 503)
        return JSONResponse({"status": "ready", "revision": current})

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        if replay_journal:
            # Before the first request: nobody erased is served from a restored database.
            await replay_erasure_journal(db, keys, keyring)
        yield
        await wechat.client.aclose()
        if owns_database:
            await db.dispose()
        if owns_keystore:
            await keys.dispose()

    return Starlette(
        routes=[
            Route("/graphql", endpoint.handle, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            *wechat.routes(),
            *MemberCenter().routes(),
        ],
        middleware=[Middleware(RequestLog)],
        lifespan=lifespan,
    )


def app_from_environment() -> Starlette:
    """Factory for uvicorn (`cdp serve`): settings from the environment."""
    settings = load_settings()
    configure_logging(settings.log_level)
    app = create_app(settings, replay_journal=True)
    tune_garbage_collector()
    return app


def tune_garbage_collector() -> None:
    """For a serving process, once its modules and app are built.

    A request allocates thousands of objects that live as long as it does (rows, GraphQL
    results); with the default threshold of 700 many survive into the oldest generation,
    whose collections then walk every object of the process (the schema, SQLAlchemy's
    metadata, ...) every few requests: a sixth of `me`'s CPU time. Freezing what exists at
    start-up takes those out of every collection, and a larger first threshold lets a
    request's objects die young.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)
