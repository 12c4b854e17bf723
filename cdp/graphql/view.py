"""GraphQL over HTTP: POST only, JSON in, `application/json` or
`application/graphql-response+json` out, one transaction per request."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from cdp.audit.trail import AuditTrail
from cdp.auth import claimed_principal, principal_from_header
from cdp.config import Settings
from cdp.db import Database
from cdp.errors import CdpError, ErrorCode
from cdp.graphql.context import Context
from cdp.graphql.errors import INTERNAL_MESSAGE, coded_error, format_error, log_unexpected
from cdp.graphql.schema import build_schema
from cdp.keys.source import KeyringSource
from cdp.keys.vault import Vault
from cdp.unit_of_work import UnitOfWork, audited_transaction

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
GRAPHIQL_HTML = (Path(__file__).parent / "graphiql.html").read_text(encoding="utf-8")
_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")


class GraphQLResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def request_id_of(request: Request) -> str:
    given = request.headers.get("x-request-id", "")
    if _REQUEST_ID.fullmatch(given):
        return given
    return uuid.uuid4().hex


def negotiate(accept: str | None) -> str | None:
    """The response media type for an Accept header; None when nothing acceptable."""
    if not accept:
        return JSON
    for part in accept.split(","):
        media = part.split(";")[0].strip().lower()
        if media == GRAPHQL_RESPONSE:
            return GRAPHQL_RESPONSE
        if media in (JSON, "application/*", "*/*"):
            return JSON
    return None


class GraphQLEndpoint:
    """The `/graphql` route."""

    def __init__(self, settings: Settings, database: Database, keyring: KeyringSource) -> None:
        self.settings = settings
        self.database = database
        self.keyring = keyring
        # Production turns introspection off (the contract); GraphiQL too, below.
        self.schema = build_schema(introspection=not settings.is_production)

    def error_response(
        self,
        status: int,
        code: ErrorCode,
        message: str,
        request_id: str,
        media: str = JSON,
        headers: dict[str, str] | None = None,
    ) -> Response:
        extensions = {"requestId": request_id} if code is ErrorCode.INTERNAL else {}
        return GraphQLResponse(
            {"errors": [coded_error(code, message, **extensions)]},
            status_code=status,
            media_type=media,
            headers={"x-request-id": request_id, **(headers or {})},
        )

    async def handle(self, request: Request) -> Response:
        request_id = request_id_of(request)
        if request.method not in ("GET", "POST"):
            return self.error_response(
                405,
                ErrorCode.BAD_USER_INPUT,
                "GraphQL requests must use POST",
                request_id,
                headers={"allow": "POST"},
            )
        if request.method == "GET":
            accept = request.headers.get("accept", "")
            if "text/html" in accept and not self.settings.is_production:
                return HTMLResponse(GRAPHIQL_HTML, headers={"x-request-id": request_id})
            return self.error_response(
                405,
                ErrorCode.BAD_USER_INPUT,
                "GraphQL requests must use POST; queries over GET are not accepted",
                request_id,
                headers={"allow": "POST"},
            )
        media = negotiate(request.headers.get("accept"))
        if media is None:
            return self.error_response(
                406,
                ErrorCode.BAD_USER_INPUT,
                f"Accept must allow {GRAPHQL_RESPONSE} or {JSON}",
                request_id,
            )
        try:
            principal = principal_from_header(self.settings, request.headers.get("authorization"))
            params = await self.read_params(request)
        except CdpError as exc:
            status = 401 if exc.code is ErrorCode.UNAUTHENTICATED else 400
            if exc.code is ErrorCode.UNAUTHENTICATED:
                await self.audit_refused_token(request, request_id, exc.message)
            headers = {"www-authenticate": "Bearer"} if status == 401 else None
            return self.error_response(status, exc.code, exc.message, request_id, media, headers)
        context = Context(
            settings=self.settings,
            principal=principal,
            uow=UnitOfWork(
                self.database,
                AuditTrail(
                    key=self.keyring.keyring.audit_key,
                    actor_subject=principal.subject,
                    actor_role=principal.role.value,
                    request_id=request_id,
                ),
            ),
            vault=Vault(self.keyring),
            request_id=request_id,
        )
        try:
            return await self.execute(context, params, media)
        except (InvalidOperationTypeError, CannotGetOperationTypeError, MissingQueryError) as exc:
            message = (
                "Only queries and mutations are supported"
                if isinstance(exc, InvalidOperationTypeError)
                else "The document has no operation of that name"
            )
            return self.error_response(
                400 if media == GRAPHQL_RESPONSE else 200,
                ErrorCode.BAD_USER_INPUT,
                message,
                request_id,
                media,
            )
        except Exception as exc:
            log_unexpected(exc, request_id=request_id)
            return self.error_response(500, ErrorCode.INTERNAL, INTERNAL_MESSAGE, request_id, media)
        finally:
            await context.uow.close()

    async def audit_refused_token(self, request: Request, request_id: str, reason: str) -> None:
        """A refused token that names a plausible subject and role is audited under that
        (unverified) claim: someone tried to act as them."""
        claimed = claimed_principal(request.headers.get("authorization"))
        if claimed is None:
            return
        trail = AuditTrail(
            key=self.keyring.keyring.audit_key,
            actor_subject=claimed.subject,
            actor_role=claimed.role.value,
            request_id=request_id,
        )
        trail.record(action="auth.token", outcome="unauthenticated", detail={"reason": reason})
        try:
            async with audited_transaction(self.database, trail):
                pass
        except Exception as exc:
            log_unexpected(exc, request_id=request_id)

    async def read_params(self, request: Request) -> dict[str, Any]:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != JSON:
            raise CdpError(ErrorCode.BAD_USER_INPUT, "Content-Type must be application/json")
        try:
            body = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            raise CdpError(ErrorCode.BAD_USER_INPUT, "The request body is not valid JSON") from None
        if isinstance(body, list):
            raise CdpError(ErrorCode.BAD_USER_INPUT, "Batched operations are not supported")
        if not isinstance(body, dict):
            raise CdpError(ErrorCode.BAD_USER_INPUT, "The request body must be a JSON object")
        query, variables = body.get("query"), body.get("variables")
        operation_name, extensions = body.get("operationName"), body.get("extensions")
        if not isinstance(query, str) or not query.strip():
            raise CdpError(ErrorCode.BAD_USER_INPUT, "'query' must be a non-empty string")
        if variables is not None and not isinstance(variables, dict):
            raise CdpError(ErrorCode.BAD_USER_INPUT, "'variables' must be an object")
        if operation_name is not None and not isinstance(operation_name, str):
            raise CdpError(ErrorCode.BAD_USER_INPUT, "'operationName' must be a string")
        if extensions is not None and not isinstance(extensions, dict):
            raise CdpError(ErrorCode.BAD_USER_INPUT, "'extensions' must be an object")
        return {"query": query, "variables": variables, "operation_name": operation_name}

    async def execute(self, context: Context, params: dict[str, Any], media: str) -> Response:
        request_id = context.request_id
        result = await self.schema.execute(
            params["query"],
            variable_values=params["variables"],
            context_value=context,
            operation_name=params["operation_name"],
            allowed_operation_types=(OperationType.QUERY, OperationType.MUTATION),
        )
        try:
            await context.uow.commit()
        except Exception as exc:
            log_unexpected(exc, request_id=request_id)
            return self.error_response(500, ErrorCode.INTERNAL, INTERNAL_MESSAGE, request_id, media)
        payload: dict[str, Any] = {}
        # Errors without a path never reached execution (parse, validation, variables): a
        # request error with no "data" key. Execution errors keep "data", even when null.
        if result.data is not None or any(e.path for e in result.errors or ()):
            payload["data"] = result.data
        if result.errors:
            payload["errors"] = [format_error(e, request_id=request_id) for e in result.errors]
        status = 400 if media == GRAPHQL_RESPONSE and "data" not in payload else 200
        return GraphQLResponse(
            payload, status_code=status, media_type=media, headers={"x-request-id": request_id}
        )
