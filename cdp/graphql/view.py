"""GraphQL over HTTP: POST only, JSON in, `application/json` or
`application/graphql-response+json` out, one transaction per request."""

from __future__ import annotations

import asyncio
from typing import Any

from graphql import ExecutionResult
from starlette.requests import Request
from starlette.responses import Response
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from cdp.audit.trail import AuditTrail
from cdp.auth import refused_token_actor
from cdp.availability import unavailable_response
from cdp.config import Settings
from cdp.db import Database
from cdp.errors import CdpError, ErrorCode
from cdp.graphql.compiled import compiled_document, execute_compiled
from cdp.graphql.context import Context
from cdp.graphql.errors import INTERNAL_MESSAGE, log_unexpected
from cdp.graphql.execution import core_schema
from cdp.graphql.graphiql import GraphiQL
from cdp.graphql.http_request import (
    GRAPHQL_RESPONSE,
    check_operation_choice,
    negotiate,
    operation_label,
    operation_name_of,
    read_params,
    request_id_of,
    spend_budget,
)
from cdp.graphql.limits import Limits
from cdp.graphql.responses import error_response, rendered
from cdp.graphql.schema import build_schema
from cdp.graphql.trusted import TrustedDocuments
from cdp.json_body import JSON, RequestRefused
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.keys.vault import Vault
from cdp.outages import outage_of, stale_snapshot
from cdp.rate_stores import Budget, store_for
from cdp.staff.credentials import Credentials, DirectoryUnavailable
from cdp.unit_of_work import UnitOfWork, audited_transaction


class GraphQLEndpoint:
    """The `/graphql` route."""

    def __init__(
        self,
        settings: Settings,
        database: Database,
        keyring: KeyringSource,
        keystore: KeyStore,
        credentials: Credentials | None = None,
    ) -> None:
        self.settings = settings
        self.credentials = credentials or Credentials(settings, database, keyring)
        self.database = database
        self.keyring = keyring
        self.keystore = keystore
        # Production turns introspection off (the contract); GraphiQL too, below.
        self.limits = Limits.of(settings)
        self.schema = build_schema(introspection=not settings.is_production, limits=self.limits)
        self.limiter = Budget(
            settings.rate_limit_per_minute, name="graphql", store=store_for(settings, database)
        )
        self.graphiql = GraphiQL()
        core = self.core = core_schema(self.schema)
        roots = (core.query_type, core.mutation_type)
        self.root_fields = frozenset(name for root in roots if root for name in root.fields)
        self.trusted = TrustedDocuments(settings, core)

    async def handle(self, request: Request) -> Response:
        request_id = request_id_of(request)
        if request.method not in ("GET", "POST"):
            return error_response(
                405,
                ErrorCode.BAD_USER_INPUT,
                "GraphQL requests must use POST",
                request_id,
                headers={"allow": "POST"},
            )
        if request.method == "GET":
            accept = request.headers.get("accept", "")
            if "text/html" in accept and not self.settings.is_production:
                return self.graphiql.page(request_id)
            return error_response(
                405,
                ErrorCode.BAD_USER_INPUT,
                "GraphQL requests must use POST; queries over GET are not accepted",
                request_id,
                headers={"allow": "POST"},
            )
        media = negotiate(request.headers.get("accept"))
        if media is None:
            return error_response(
                406,
                ErrorCode.BAD_USER_INPUT,
                f"Accept must allow {GRAPHQL_RESPONSE} or {JSON}",
                request_id,
            )
        try:
            try:
                principal = await self.credentials.principal_of(request)
            except CdpError:
                # Refused tokens share a budget per client address: each may write an audit
                # record, so a flood of them must not become a flood of writes.
                client = request.client.host if request.client else "unknown"
                await spend_budget(self.limiter, f"address:{client}")
                raise
            request.state.role = principal.role.value
            await spend_budget(self.limiter, f"{principal.role.value}:{principal.subject}")
            params = await read_params(request, self.settings)
        except RequestRefused as exc:
            return self.refused(exc, request_id, media)
        except DirectoryUnavailable:
            return unavailable_response(
                "DIRECTORY_UNAVAILABLE",
                "The staff directory could not be asked about this session; try again shortly",
                request_id,
                media,
            )
        except CdpError as exc:
            if exc.code is ErrorCode.UNAUTHENTICATED:
                await self.audit_refused_token(request, request_id, exc.message)
            return self.coded_refusal(exc, request_id, media)
        context = Context(
            settings=self.settings,
            principal=principal,
            uow=UnitOfWork(
                self.database,
                AuditTrail.of(principal, key=self.keyring.keyring.audit_key, request_id=request_id),
            ),
            vault=Vault(self.keyring, self.keystore),
            request_id=request_id,
        )
        try:
            try:
                params = await self.trusted.resolve(params, context)
                request.state.operation = operation_name_of(params)
                check_operation_choice(params, self.settings.max_query_tokens)
                label = operation_label(params, self.settings.max_query_tokens, self.root_fields)
                request.state.metrics_operation = label
                # A query reads beside SQLite's writers (cdp/sqlite_writers.py), a mutation
                # begins as a writer: what it reads first is what it writes on. (A session
                # a registered document's lookup opened already stays a writer's.)
                context.uow.reads = not label.startswith("mutation")
            except RequestRefused as exc:
                return self.refused(exc, request_id, media)
            except CdpError as exc:
                return self.coded_refusal(exc, request_id, media)
            return await self.execute(context, params, media)
        except (InvalidOperationTypeError, CannotGetOperationTypeError, MissingQueryError) as exc:
            message = (
                "Only queries and mutations are supported"
                if isinstance(exc, InvalidOperationTypeError)
                else "The document has no operation of that name"
            )
            return error_response(
                400 if media == GRAPHQL_RESPONSE else 200,
                ErrorCode.BAD_USER_INPUT,
                message,
                request_id,
                media,
            )
        except Exception as exc:
            if outage_of(exc):
                raise  # answered as every route's are: 503 (cdp/availability.py)
            log_unexpected(exc, request_id=request_id)
            return error_response(500, ErrorCode.INTERNAL, INTERNAL_MESSAGE, request_id, media)
        finally:
            context.release()
            await context.uow.close()

    def refused(self, exc: RequestRefused, request_id: str, media: str) -> Response:
        extra = {k: v for k, v in exc.extensions().items() if k != "code"}
        return error_response(
            exc.status,
            exc.code,
            exc.message,
            request_id,
            media,
            headers=exc.headers,
            extra={**extra, "limit": exc.limit} if exc.limit else extra,
        )

    def coded_refusal(self, exc: CdpError, request_id: str, media: str) -> Response:
        status = {ErrorCode.UNAUTHENTICATED: 401, ErrorCode.FORBIDDEN: 403}.get(exc.code, 400)
        headers = {"www-authenticate": "Bearer"} if status == 401 else None
        extra = {k: v for k, v in exc.extensions().items() if k != "code"}
        return error_response(status, exc.code, exc.message, request_id, media, headers, extra)

    async def audit_refused_token(self, request: Request, request_id: str, reason: str) -> None:
        """A refused token that looks like ours is audited: under its subject when we signed
        it (expired, say), else under its fingerprint (its claims are anyone's words)."""
        actor = refused_token_actor(self.settings, request.headers.get("authorization"))
        if actor is None:
            return
        trail = AuditTrail(
            key=self.keyring.keyring.audit_key,
            actor_subject=actor[0],
            actor_role=actor[1],
            request_id=request_id,
        )
        trail.record(action="auth.token", outcome="unauthenticated", detail={"reason": reason})
        try:
            async with audited_transaction(self.database, trail):
                pass
        except Exception as exc:
            log_unexpected(exc, request_id=request_id)

    async def execute(self, context: Context, params: dict[str, Any], media: str) -> Response:
        """The operation's response; a query whose first write met a snapshot outdated by
        another writer's commit (SQLite) wrote nothing, and runs once more as a writer."""
        try:
            return await self.execute_once(context, params, media)
        except Exception as exc:
            if not (context.uow.reads and stale_snapshot(exc)):
                raise
        await context.restart(reads=False)
        return await self.execute_once(context, params, media)

    async def execute_once(self, context: Context, params: dict[str, Any], media: str) -> Response:
        request_id = context.request_id
        seconds = self.settings.operation_timeout_seconds
        timer = asyncio.timeout(seconds)
        try:
            async with timer:
                compiled = await self.compiled(context, params)
                result = compiled or await self.schema.execute(
                    params["query"],
                    variable_values=params["variables"],
                    context_value=context,
                    operation_name=params["operation_name"],
                    allowed_operation_types=(OperationType.QUERY, OperationType.MUTATION),
                )
        except TimeoutError:
            if not timer.expired():
                raise  # not our limit: some library's own timeout escaped
            # Nothing is committed: the unit of work rolls back when the request closes.
            return error_response(
                400,
                ErrorCode.QUERY_TOO_COMPLEX,
                f"The operation did not finish within {seconds:g} s; nothing was changed",
                request_id,
                media,
                extra={"limit": "time"},
            )
        # A field the database failed under fails the whole request: nothing is committed
        # (the unit of work rolls back as it closes), so a refused write is not half there.
        for error in result.errors or ():
            if error.original_error is not None and outage_of(error.original_error):
                raise error.original_error
        response = rendered(result, params, media, request_id)
        # Rendered before the commit, so an answer too large to send changes nothing.
        cap = self.settings.max_response_bytes
        if len(response.body) > cap:
            return error_response(
                400,
                ErrorCode.QUERY_TOO_COMPLEX,
                f"The answer is larger than {cap} bytes; ask for fewer fields or a smaller page;"
                " nothing was changed",
                request_id,
                media,
                extra={"limit": "response"},
            )
        try:
            await context.uow.commit()
        except Exception as exc:
            if outage_of(exc):
                raise
            log_unexpected(exc, request_id=request_id)
            return error_response(500, ErrorCode.INTERNAL, INTERNAL_MESSAGE, request_id, media)
        return response

    async def compiled(self, context: Context, params: dict[str, Any]) -> ExecutionResult | None:
        """A trusted query's compiled answer (cdp.graphql.compiled), or None: the generic
        path runs it."""
        if not params.get("trusted") or not self.settings.compiled_documents:
            return None
        introspection = not self.settings.is_production
        compiled = compiled_document(self.core, params["query"], self.limits, introspection)
        if compiled is None:
            return None
        return await execute_compiled(
            self.core, compiled, context, params["variables"], self.limits
        )
