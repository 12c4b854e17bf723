"""The ASGI application: `/graphql`, `/healthz`, `/readyz`, WeChat sign-in and `/h5/`."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Sequence

from sqlalchemy.exc import DBAPIError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from cdp import metrics_endpoint
from cdp.activation.workers import ActivationWorker
from cdp.analytics.background import AnalyticsReleaser
from cdp.audiences.updates import AudienceUpdater
from cdp.audit.sealer import seal_until, sealing_lag
from cdp.availability import Availability, ReadinessGate, StartupStep, unavailable_response
from cdp.config import ConfigError, Settings, load_settings
from cdp.console.routes import Console
from cdp.db import Database
from cdp.erasure.replay import replay_erasure_journal
from cdp.errors import ErrorCode
from cdp.graphql.errors import INTERNAL_MESSAGE, coded_error, log_unexpected
from cdp.graphql.execution import missing_privates
from cdp.graphql.http_request import request_id_of
from cdp.graphql.versions import shortcuts_allowed
from cdp.graphql.view import GraphQLEndpoint
from cdp.h5.my_data import MyDataDownload
from cdp.h5.routes import MemberCenter
from cdp.keys.source import KeyringSource, load_keyring
from cdp.keys.store import KeyStore
from cdp.logs import configure_logging
from cdp.migrations import head_revision
from cdp.privacy.runner import PrivacyWorker
from cdp.request_log import RequestLog
from cdp.sms.routes import SmsSignIn
from cdp.staff.credentials import Credentials
from cdp.staff.desk import StaffDesk
from cdp.staff.models import StaffProvider
from cdp.staff.oidc_routes import OidcSignIn
from cdp.staff.token_endpoint import TokenEndpoint
from cdp.staff.wecom_routes import WecomSignIn
from cdp.wechat.phone_routes import WechatPhoneAuthorisation
from cdp.wechat.push_processor import PushProcessor
from cdp.wechat.push_routes import WechatPush
from cdp.wechat.routes import WechatSignIn
from cdp.wechat.website import WechatWebsiteSignIn


def create_app(
    settings: Settings,
    database: Database | None = None,
    keyring: KeyringSource | None = None,
    keystore: KeyStore | None = None,
    *,
    startup_steps: Sequence[StartupStep] = (),
    replay_journal: bool = False,
) -> Starlette:
    """The app for `settings`; pass `database` and `keystore` to share engines the caller
    owns. With `replay_journal`, start-up replays the erasure journal (`cdp serve`).

    `startup_steps` run in order once the database is reachable and at head, before the app
    reports ready or serves a request that needs the database (cdp/availability.py).
    Raises ConfigError (one line) for a missing or unfit keyring in production, or GraphQL
    libraries without what cdp needs of them.
    """
    check_graphql_libraries()
    keyring = keyring or load_keyring(settings)
    owns_database, owns_keystore = database is None, keystore is None
    db = database or Database(bounded_statements(settings))
    keys = keystore or KeyStore(settings)
    head = head_revision()
    steps = list(startup_steps)
    if replay_journal:

        async def replay(database: Database) -> None:
            # Before the first request: nobody erased is served from a restored database.
            await replay_erasure_journal(database, keys, keyring)

        steps.insert(0, replay)
    gate = ReadinessGate(db, head, steps)
    credentials = Credentials(settings, db, keyring)
    endpoint = GraphQLEndpoint(settings, db, keyring, keys, credentials)
    wechat = WechatSignIn(settings, db, keyring, keys)
    sms = SmsSignIn(settings, db, keyring, keys)
    # WeChat message push: accepted into the inbox, processed by a background task.
    push_processor = PushProcessor(settings, db, keyring, keys)
    push = WechatPush(settings, db, keyring, push_processor)
    # Audience memberships follow the people whose behaviour changed, shortly after.
    audience_updater = AudienceUpdater(settings, db, keyring)
    # Cancellations whose cooling-off ended are erased (retention runs in `cdp worker`).
    privacy_worker = PrivacyWorker(settings, db, keyring, keys)
    # Messages and webhooks: the outbox drained here too (and by any `cdp worker`).
    activation = ActivationWorker(settings, db, keyring, keys)
    wecom = WecomSignIn(settings, db, keyring)
    if settings.staff_wecom is not None:
        credentials.add_check(StaffProvider.WECOM.value, wecom)
    oidc = OidcSignIn(settings, db, keyring)
    if settings.has_oidc:
        credentials.add_check(StaffProvider.OIDC.value, oidc)

    async def healthz(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> JSONResponse:
        problem = gate.problem if not await gate.wait_ready() else await gate.database_problem()
        if problem is not None:
            reason, what = problem
            return unavailable_response(
                reason,
                f"Not ready: {what}",
                str(getattr(request.state, "request_id", "")),
                extra={"status": "unavailable"},
            )
        try:  # how far the signed tree is behind the committed log
            lag: float | None = (await sealing_lag(db)).total_seconds()
        except (DBAPIError, OSError):
            lag = None  # the database went away since: the next probe says so
        return JSONResponse({"status": "ready", "revision": head, "auditSealingLagSeconds": lag})

    async def process_pushes() -> None:
        # What an earlier process accepted and left is drained first, once the database is.
        while not gate.ready:
            await asyncio.sleep(0.5)
        await push_processor.run()

    async def seal_audit_log() -> None:
        # Every process runs one; the advisory lock lets one seal at a time, and another
        # takes over within a round when it stops.
        while not gate.ready:
            await asyncio.sleep(0.5)
        await seal_until(db, lambda: keyring.keyring, interval=settings.audit_seal_interval_seconds)

    async def release_analytics() -> None:
        while not gate.ready:
            await asyncio.sleep(0.5)
        await AnalyticsReleaser(settings, db).run()

    async def update_audiences() -> None:
        while not gate.ready:
            await asyncio.sleep(0.5)
        await audience_updater.run()

    async def run_privacy_worker() -> None:
        while not gate.ready:
            await asyncio.sleep(0.5)
        await privacy_worker.run()

    async def drain_outbox() -> None:
        while not gate.ready:
            await asyncio.sleep(0.5)
        await activation.run()

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        # Ready as soon as the database allows, without waiting for a first request.
        starting = asyncio.create_task(gate.run_until_ready())
        tasks = [starting, asyncio.create_task(process_pushes())]
        if settings.audit_seal_interval_seconds > 0:
            tasks.append(asyncio.create_task(seal_audit_log()))
        if settings.analytics_release_interval_hours > 0:
            tasks.append(asyncio.create_task(release_analytics()))
        if settings.audience_update_poll_seconds > 0:
            tasks.append(asyncio.create_task(update_audiences()))
        if settings.privacy_worker_poll_seconds > 0:
            tasks.append(asyncio.create_task(run_privacy_worker()))
        if settings.outbox_poll_seconds > 0:
            tasks.append(asyncio.create_task(drain_outbox()))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await wechat.client.aclose()
            await sms.aclose()
            await wecom.aclose()
            await activation.aclose()
            await oidc.aclose()
            if owns_database:
                await db.dispose()
            if owns_keystore:
                await keys.dispose()

    app = Starlette(
        routes=[
            Route(
                "/graphql",
                endpoint.handle,
                methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            ),
            *endpoint.graphiql.routes(enabled=not settings.is_production),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            *wechat.routes(),
            *WechatWebsiteSignIn(wechat).routes(),
            *WechatPhoneAuthorisation(wechat).routes(),
            *sms.routes(),
            *push.routes(),
            *wecom.routes(),
            *oidc.routes(),
            *TokenEndpoint(settings, db, keyring).routes(),
            *MyDataDownload(settings, db, keyring, keys).routes(),
            *MemberCenter().routes(),
            *StaffDesk(settings, db, keyring, credentials).routes(),
            *Console(settings).routes(),
            *metrics_endpoint.routes(settings, db),
        ],
        middleware=[Middleware(RequestLog), Middleware(Availability, gate=gate)],
        exception_handlers={HTTPException: coded_http_error, Exception: coded_server_error},
        lifespan=lifespan,
    )
    app.state.credentials = credentials  # where the staff providers' directory checks go
    app.state.push_processor = push_processor
    app.state.audience_updater = audience_updater
    app.state.privacy_worker = privacy_worker
    app.state.activation = activation
    return app


def check_graphql_libraries() -> None:
    """The start-up check of strawberry-graphql and graphql-core (cdp/graphql/versions.py).

    Versions outside the tested ranges turn the executor shortcut and the validation budget
    off, with one warning line: the stock executor answers every query the same, only slower,
    so refusing to start would turn a routine upgrade into an outage for the sake of speed.
    What has no stock replacement (the private names of `missing_privates`) refuses to start.
    """
    shortcuts_allowed()
    missing = missing_privates()
    if missing:
        raise ConfigError(
            f"the installed strawberry-graphql or graphql-core lacks {', '.join(missing)};"
            " install the versions of constraints.txt"
        )


def bounded_statements(settings: Settings) -> Settings:
    """The server's settings: no statement outlives the operation that runs it. A statement
    once sent runs to completion (cdp.db.Session), so the operation time limit alone would
    wait for a stuck one; the database cancels it instead."""
    limit = settings.operation_timeout_seconds
    if 0 < settings.statement_timeout_seconds <= limit:
        return settings
    return settings.model_copy(update={"statement_timeout_seconds": limit})


async def coded_http_error(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own refusals (no such path, a method a route does not take) in the shape
    of every other refusal: one coded error, with the request id (and `Allow` for a 405)."""
    assert isinstance(exc, HTTPException)
    code = ErrorCode.NOT_FOUND if exc.status_code == 404 else ErrorCode.BAD_USER_INPUT
    request_id = request_id_of(request)
    return JSONResponse(
        {"errors": [coded_error(code, exc.detail)]},
        status_code=exc.status_code,
        headers={**(exc.headers or {}), "x-request-id": request_id},
    )


async def coded_server_error(request: Request, exc: Exception) -> JSONResponse:
    """The last resort for an exception no handler caught: INTERNAL, masked, logged."""
    request_id = request_id_of(request)
    log_unexpected(exc, request_id=request_id)
    return JSONResponse(
        {"errors": [coded_error(ErrorCode.INTERNAL, INTERNAL_MESSAGE, requestId=request_id)]},
        status_code=500,
        headers={"x-request-id": request_id},
    )


def app_from_environment() -> Starlette:
    """Factory for uvicorn (`cdp serve`): settings from the environment (WeChat as the sandbox
    wires it, when CDP_WECHAT_SANDBOX is on)."""
    from cdp.devwechat.sandbox import sandboxed

    settings = sandboxed(load_settings())
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
