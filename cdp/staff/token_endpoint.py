"""`POST /auth/token`: the OAuth 2.0 client-credentials grant (RFC 6749 §4.4) for service
accounts, with its error responses (§5.2).

The client authenticates with HTTP Basic (client_secret_basic; id and secret form-urlencoded
first, §2.3.1) or with `client_id` and `client_secret` in the body (client_secret_post), never
both. Every error also carries cdp's coded shape (`errors[].extensions.code`).
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cdp.audit.trail import AuditTrail
from cdp.auth import UNVERIFIED_ROLE
from cdp.config import Settings
from cdp.db import Database
from cdp.errors import ErrorCode
from cdp.json_body import RequestRefused, read_body
from cdp.keys.source import KeyringSource
from cdp.outages import outage_of
from cdp.rate_limit import retry_after_header
from cdp.rate_stores import Budget, store_for
from cdp.staff.service_accounts import CLIENT_ID, issue_token
from cdp.unit_of_work import audited_transaction
from cdp.wechat.routes import request_id_of

log = logging.getLogger("cdp.staff")
PATH = "/auth/token"
FORM = "application/x-www-form-urlencoded"
MAX_BODY_BYTES = 4096
MAX_FIELDS = 16
MAX_CREDENTIAL_LENGTH = 256
CHALLENGE = 'Basic realm="cdp"'
NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}
SCOPES = ("", "cdp")  # one scope: everything the service role may do
CODES = {
    "invalid_request": ErrorCode.BAD_USER_INPUT,
    "invalid_client": ErrorCode.UNAUTHENTICATED,
    "unsupported_grant_type": ErrorCode.BAD_USER_INPUT,
    "invalid_scope": ErrorCode.BAD_USER_INPUT,
    "slow_down": ErrorCode.QUERY_TOO_COMPLEX,  # RFC 8628's, registered for this endpoint
    "server_error": ErrorCode.INTERNAL,
}


class TokenError(Exception):
    """An RFC 6749 §5.2 error: its `error` code, description and HTTP status."""

    def __init__(self, error: str, description: str, *, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status
        self.headers: dict[str, str] = {}


def invalid_request(description: str) -> TokenError:
    return TokenError("invalid_request", description)


def invalid_client(description: str = "Client authentication failed") -> TokenError:
    failed = TokenError("invalid_client", description, status=401)
    failed.headers["www-authenticate"] = CHALLENGE  # RFC 9110: every 401 carries a challenge
    return failed


def error_response(request_id: str, failed: TokenError) -> Response:
    extensions: dict[str, Any] = {"code": CODES[failed.error].value, "requestId": request_id}
    if "retry-after" in failed.headers:
        extensions.update(limit="rate", retryAfter=int(failed.headers["retry-after"]))
    return JSONResponse(
        {
            "error": failed.error,
            "error_description": failed.description,
            "errors": [{"message": failed.description, "extensions": extensions}],
        },
        status_code=failed.status,
        headers={**NO_STORE, **failed.headers, "x-request-id": request_id},
    )


def check_form_media_type(content_type: str | None) -> None:
    media, *parameters = (content_type or "").split(";")
    if media.strip().lower() != FORM:
        raise invalid_request(f"Content-Type must be {FORM}")
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() != "utf-8":
            raise invalid_request("The request body must be UTF-8: charset=utf-8 or none")


def parse_form(raw: bytes) -> dict[str, str]:
    """The body's parameters; invalid_request for a repeated one (§3.2) or one that is not
    UTF-8. A parameter sent without a value counts as omitted (§3.1)."""
    try:
        pairs = parse_qsl(
            raw.decode("ascii"),
            keep_blank_values=True,
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except UnicodeDecodeError:
        raise invalid_request("The request body must be form-urlencoded UTF-8") from None
    except ValueError:
        raise invalid_request("The request body is not form-urlencoded") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise invalid_request(f"The parameter {name[:40]!r} appears more than once")
        form[name] = value
    return {name: value for name, value in form.items() if value}


def basic_credentials(header: str) -> tuple[str, str]:
    """(client id, secret) of `Authorization: Basic ...`; invalid_client for another scheme,
    invalid_request for Basic that cannot be read."""
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        raise invalid_client("Client authentication must be HTTP Basic or in the body")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise invalid_request("The Basic credentials are not base64 of UTF-8") from None
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise invalid_request("The Basic credentials must be client_id:client_secret")
    try:
        return (
            unquote_plus(client_id, errors="strict"),
            unquote_plus(secret, errors="strict"),
        )
    except UnicodeDecodeError:
        raise invalid_request("The Basic credentials are not form-urlencoded UTF-8") from None


def client_of(request: Request, form: dict[str, str]) -> tuple[str, str]:
    """(client id, secret), from exactly one authentication method."""
    header = request.headers.get("authorization")
    in_body = "client_id" in form or "client_secret" in form
    if header is not None:
        if in_body:
            raise invalid_request("Authenticate with HTTP Basic or in the body, not both")
        client_id, secret = basic_credentials(header)
    elif in_body:
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
    else:
        raise invalid_client("No client authentication was included")
    if not client_id or not secret:
        raise invalid_client("Both client_id and client_secret are required")
    if len(client_id) > MAX_CREDENTIAL_LENGTH or len(secret) > MAX_CREDENTIAL_LENGTH:
        raise invalid_client()
    return client_id, secret


class TokenEndpoint:
    """The route, with its per-address budget (it comes before any principal)."""

    def __init__(self, settings: Settings, database: Database, keyring: KeyringSource) -> None:
        self.settings, self.database, self.keyring = settings, database, keyring
        self.limiter = Budget(
            settings.rate_limit_per_minute, name="token", store=store_for(settings, database)
        )

    def routes(self) -> list[Route]:
        return [Route(PATH, self.token, methods=["POST"])]

    async def token(self, request: Request) -> Response:
        """Client credentials -> `{access_token, token_type, expires_in}`, never cached."""
        request_id = request_id_of(request)
        try:
            await self._spend_budget(request)
            check_form_media_type(request.headers.get("content-type"))
            try:  # never more than MAX_BODY_BYTES in memory
                form = parse_form(await read_body(request, MAX_BODY_BYTES))
            except RequestRefused as exc:
                message = f"The request body is larger than {MAX_BODY_BYTES} bytes"
                raise invalid_request(message) from exc
            grant_type = form.get("grant_type")
            if grant_type is None:
                raise invalid_request("grant_type is required")
            if grant_type != "client_credentials":
                raise TokenError("unsupported_grant_type", "Only client_credentials is supported")
            client_id, secret = client_of(request, form)
            if form.get("scope", "") not in SCOPES:
                raise TokenError("invalid_scope", "The only scope is 'cdp'")
            trail = AuditTrail(
                key=self.keyring.keyring.audit_key,
                actor_subject=f"client:{client_id if CLIENT_ID.fullmatch(client_id) else '?'}",
                actor_role=UNVERIFIED_ROLE,
                request_id=request_id,
            )
            async with audited_transaction(self.database, trail) as session:
                issued = await issue_token(
                    session=session,
                    settings=self.settings,
                    client_id=client_id,
                    client_secret=secret,
                )
            if issued is None:
                raise invalid_client()
        except TokenError as failed:
            return error_response(request_id, failed)
        except Exception as exc:
            if outage_of(exc):
                raise  # 503 with Retry-After, as every route answers an outage
            # The type only: an exception's message may carry the values that failed.
            log.error(
                "token request failed unexpectedly",
                extra={"request_id": request_id, "error_type": type(exc).__qualname__},
            )
            return error_response(
                request_id, TokenError("server_error", "Internal server error", status=500)
            )
        return JSONResponse(
            {
                "access_token": issued.access_token,
                "token_type": "Bearer",
                "expires_in": issued.expires_in,
            },
            headers={**NO_STORE, "x-request-id": request_id},
        )

    async def _spend_budget(self, request: Request) -> None:
        address = request.client.host if request.client else "unknown"
        wait = await self.limiter.take(f"token:{address}")
        if wait:
            failed = TokenError(
                "slow_down",
                "Too many token requests from this address; try again shortly",
                status=429,
            )
            failed.headers["retry-after"] = retry_after_header(wait)
            raise failed
