"""Reading a GraphQL-over-HTTP request before execution: media type, body, parameters,
rate budget. Everything here refuses with a coded error, never a 5xx."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from graphql import FieldNode, GraphQLError, OperationDefinitionNode, parse
from starlette.requests import Request

from cdp.config import Settings
from cdp.documents.registry import checked_id
from cdp.errors import CdpError, ErrorCode
from cdp.graphql.limits import oversized_list
from cdp.json_body import JSON, RequestRefused, read_json
from cdp.rate_limit import retry_after_header
from cdp.rate_stores import Budget
from cdp.request_log import request_id_from

GRAPHQL_RESPONSE = "application/graphql-response+json"
_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]*")
_OPERATION_NAME = re.compile(r"\s*(?:query|mutation|subscription)\s+([_A-Za-z][_0-9A-Za-z]*)")


def request_id_of(request: Request) -> str:
    """The id the request log middleware gave this request (or one from its headers)."""
    given = request.scope.get("state", {}).get("request_id")
    return given if isinstance(given, str) else request_id_from(request.scope["headers"])


def operation_name_of(params: dict[str, Any]) -> str | None:
    """The operation's name for the log: `operationName` when it is a GraphQL name, or the
    first operation's own (a name is `[_A-Za-z][_0-9A-Za-z]*`: nothing else reaches a log)."""
    given = params["operation_name"]
    if given is not None:
        return given[:100] if _NAME.fullmatch(given) else None
    named = _OPERATION_NAME.match(params["query"])
    return named.group(1)[:100] if named else None


@lru_cache(maxsize=256)
def _parsed(
    query: str, max_tokens: int
) -> tuple[tuple[str | None, str, tuple[str, ...]], ...] | None:
    """The document's operations in order: (name or None, kind, root field names); None when
    the document does not parse (execution reports that with its location)."""
    try:
        document = parse(query, max_tokens=max_tokens, no_location=True)
    except GraphQLError:
        return None
    return tuple(
        (
            d.name.value if d.name else None,
            d.operation.value,
            tuple(
                f.name.value if isinstance(f, FieldNode) else "..."
                for f in d.selection_set.selections
            ),
        )
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode)
    )


def _operations(query: str, max_tokens: int) -> tuple[str | None, ...] | None:
    parsed = _parsed(query, max_tokens)
    return None if parsed is None else tuple(name for name, _, _ in parsed)


def operation_label(params: dict[str, Any], max_tokens: int, known: frozenset[str]) -> str:
    """The operation for a metric's label: its kind and root fields (`query:me`), fields the
    schema has only (a document's own names never become a label); `other` beyond three."""
    parsed = _parsed(params["query"], max_tokens)
    chosen = [
        op for op in parsed or () if op[0] == params["operation_name"] or len(parsed or ()) == 1
    ]
    if not chosen:
        return "unparsed"
    _, kind, fields = chosen[0]
    names = sorted({f for f in fields if f in known and not f.startswith("__")})
    if not names or len(names) > 3 or len(names) < len(set(fields)):
        return f"{kind}:other"
    return f"{kind}:{','.join(names)}"


def check_operation_choice(params: dict[str, Any], max_tokens: int) -> None:
    """The GraphQL specification's GetOperation: several operations need an `operationName`,
    and it must name one of them; BAD_USER_INPUT (400) otherwise."""
    names = _operations(params["query"], max_tokens)
    if names is None:
        return
    wanted = params["operation_name"]
    if wanted is None and len(names) > 1:
        raise RequestRefused(
            400,
            ErrorCode.BAD_USER_INPUT,
            "The document has several operations: operationName must choose one",
            field="operationName",
        )
    if wanted is not None and wanted not in names:
        raise RequestRefused(
            400,
            ErrorCode.BAD_USER_INPUT,
            "The document has no operation of that name",
            field="operationName",
        )


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


async def spend_budget(limiter: Budget, key: str) -> None:
    """Take one request from `key`'s rate budget; RequestRefused (429) when it is spent."""
    wait = await limiter.take(key)
    if wait:
        refused = RequestRefused(
            429,
            ErrorCode.QUERY_TOO_COMPLEX,
            f"Too many requests: at most {limiter.capacity:g} per minute",
            limit="rate",
        )
        refused.headers["retry-after"] = retry_after_header(wait)
        raise refused


async def read_params(request: Request, settings: Settings) -> dict[str, Any]:
    """The POST body's query (or trusted `documentId`), variables and operation name,
    checked; CdpError when malformed."""
    body = await read_json(
        request, limit=settings.max_body_bytes, max_depth=settings.max_json_depth
    )
    if isinstance(body, list):
        raise CdpError(ErrorCode.BAD_USER_INPUT, "Batched operations are not supported")
    if not isinstance(body, dict):
        raise CdpError(ErrorCode.BAD_USER_INPUT, "The request body must be a JSON object")
    query, variables = body.get("query"), body.get("variables")
    operation_name, extensions = body.get("operationName"), body.get("extensions")
    document_id = body.get("documentId")
    if extensions is not None and not isinstance(extensions, dict):
        raise CdpError(ErrorCode.BAD_USER_INPUT, "'extensions' must be an object")
    persisted = (extensions or {}).get("persistedQuery")
    if document_id is None and query is None and isinstance(persisted, dict):
        # Apollo's persisted queries send the hash alone in this shape: the same trusted id.
        hashed = persisted.get("sha256Hash")
        document_id = f"sha256:{hashed}" if isinstance(hashed, str) else hashed
    if document_id is not None:
        # A trusted document (cdp.graphql.trusted): its id instead of its text, never both.
        if query is not None:
            raise CdpError(
                ErrorCode.BAD_USER_INPUT,
                "Send 'query' or 'documentId', not both",
                field="documentId",
                reason="QUERY_AND_DOCUMENT_ID",
            )
        document_id, query = checked_id(document_id), ""
    elif not isinstance(query, str) or not query.strip():
        raise CdpError(ErrorCode.BAD_USER_INPUT, "'query' must be a non-empty string")
    if variables is not None and not isinstance(variables, dict):
        raise CdpError(ErrorCode.BAD_USER_INPUT, "'variables' must be an object")
    if operation_name is not None and not isinstance(operation_name, str):
        raise CdpError(ErrorCode.BAD_USER_INPUT, "'operationName' must be a string")
    longest = oversized_list(variables, settings.max_list_items)
    if longest is not None:
        raise RequestRefused(
            400,
            ErrorCode.BAD_USER_INPUT,
            f"A list in 'variables' holds {longest} items; at most {settings.max_list_items}",
            limit="list",
        )
    return {
        "query": query,
        "variables": variables,
        "operation_name": operation_name,
        "document_id": document_id,
    }
