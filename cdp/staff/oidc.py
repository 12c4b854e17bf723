"""cdp's confidential client at the staff OpenID provider: its discovery document (cached,
fetched again after a failure), the token endpoint (code and refresh grants), userinfo, and
the coded failures they end in. Nothing here logs or raises a token, code or claim value."""

from __future__ import annotations

import asyncio
import base64
import logging
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import quote

import httpx

from cdp.config import Settings

log = logging.getLogger("cdp.staff.oidc")
DEFAULT_TIMEOUT_SECONDS = 5.0
DISCOVERY_TTL_SECONDS = 3600.0
MAX_ANSWER_BYTES = 512 * 1024
# The error values of RFC 6749 4.1.2.1 and OIDC Core 3.1.2.6 that end a sign-in at the
# provider's page: the person (or the provider's policy for them) said no.
DENIALS = frozenset(
    {
        "access_denied",
        "login_required",
        "consent_required",
        "interaction_required",
        "account_selection_required",
    }
)
_ERROR_VALUE = re.compile(r"^[a-z_]{1,64}$")


class OidcFailure(StrEnum):
    """Why the provider did not vouch for a person: `extensions.reason` of the refusal."""

    DENIED = "PROVIDER_DENIED"  # the person or the provider's policy declined
    REFUSED = "PROVIDER_REFUSED"  # the provider refused cdp's request (configuration)
    CODE_INVALID = "CODE_INVALID"  # the code is unknown, used, expired or not this client's
    ID_TOKEN = "ID_TOKEN_INVALID"  # the ID token failed a check (`field` names which)
    ANSWER = "PROVIDER_ANSWER"  # an answer cdp cannot use
    UNAVAILABLE = "PROVIDER_UNAVAILABLE"  # unreachable, or answering 502/503/504
    TIMEOUT = "PROVIDER_TIMEOUT"
    GONE = "PERSON_GONE"  # a refresh refused with invalid_grant: removed, disabled, revoked


class OidcError(Exception):
    """A coded failure; `check` names the claim or part that failed, `provider_error` the
    provider's registered error value (never its free-text description)."""

    def __init__(
        self, failure: OidcFailure, *, check: str | None = None, provider_error: str | None = None
    ) -> None:
        super().__init__(failure.value if check is None else f"{failure.value}: {check}")
        self.failure, self.check, self.provider_error = failure, check, provider_error


class OidcUnavailable(Exception):
    """`OidcSignIn.recheck` could not get an answer from the provider: map to 503 with
    `Retry-After: retry_after` (the session is neither confirmed nor ended)."""

    def __init__(self, reason: OidcFailure, retry_after: int = 5) -> None:
        super().__init__(reason.value)
        self.reason, self.retry_after = reason, retry_after


def provider_error_value(value: str | None) -> str:
    """The provider's `error` value if it has the shape of a registered one, else "other"."""
    return value if value and _ERROR_VALUE.match(value) else "other"


@dataclass(frozen=True, slots=True)
class Discovery:
    """What cdp uses of the provider's discovery document."""

    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    scopes_supported: frozenset[str] | None
    client_secret_post_only: bool
    iss_parameter: bool  # RFC 9207: the callback carries `iss`


@dataclass(frozen=True, slots=True)
class TokenSet:
    id_token: str | None
    access_token: str | None
    refresh_token: str | None


def _text(document: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = document.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise OidcError(OidcFailure.ANSWER, check=name)
    return value


class OidcClient:
    """One HTTP client for the process, for the issuer and client of the settings."""

    def __init__(
        self,
        settings: Settings,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not settings.has_oidc:
            raise ValueError("CDP_STAFF_OIDC_ISSUER is not set")
        assert settings.staff_oidc_issuer and settings.staff_oidc_client_id
        assert settings.staff_oidc_client_secret is not None
        self.issuer, self.client_id = settings.staff_oidc_issuer, settings.staff_oidc_client_id
        self._secret = settings.staff_oidc_client_secret.get_secret_value()
        self.timeout = timeout
        self.http = httpx.AsyncClient(timeout=timeout, transport=transport, follow_redirects=False)
        self._discovery: Discovery | None = None
        self._discovered_at = 0.0
        self._discovering = asyncio.Lock()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def discovery(self) -> Discovery:
        """The discovery document, cached for an hour; a failed fetch is not cached."""
        now = asyncio.get_running_loop().time()
        async with self._discovering:
            if self._discovery is None or now - self._discovered_at > DISCOVERY_TTL_SECONDS:
                url = f"{self.issuer}/.well-known/openid-configuration"
                self._discovery = self._parse_discovery(await self._json("GET", url))
                self._discovered_at = now
            return self._discovery

    def forget_discovery(self) -> None:
        """After an endpoint failed: fetch the document again next time (it may have moved)."""
        self._discovery = None

    def _parse_discovery(self, document: dict[str, Any]) -> Discovery:
        # OIDC Discovery 4.3: the document must name exactly the issuer it was fetched for.
        if document.get("issuer") != self.issuer:
            raise OidcError(OidcFailure.ANSWER, check="issuer")
        endpoints = {
            name: _text(document, name, required=name != "userinfo_endpoint")
            for name in ("authorization_endpoint", "token_endpoint", "jwks_uri")
        }
        userinfo = _text(document, "userinfo_endpoint", required=False)
        for name, url in {**endpoints, "userinfo_endpoint": userinfo}.items():
            secure = url is None or url.startswith("https://")
            if url is not None and not url.startswith(("https://", "http://")):
                raise OidcError(OidcFailure.ANSWER, check=name)
            if self.issuer.startswith("https://") and not secure:
                raise OidcError(OidcFailure.ANSWER, check=name)
        scopes = document.get("scopes_supported")
        methods = document.get("token_endpoint_auth_methods_supported", ["client_secret_basic"])
        if not isinstance(methods, list):
            raise OidcError(OidcFailure.ANSWER, check="token_endpoint_auth_methods_supported")
        return Discovery(
            authorization_endpoint=str(endpoints["authorization_endpoint"]),
            token_endpoint=str(endpoints["token_endpoint"]),
            jwks_uri=str(endpoints["jwks_uri"]),
            userinfo_endpoint=userinfo,
            scopes_supported=(
                frozenset(s for s in scopes if isinstance(s, str))
                if isinstance(scopes, list)
                else None
            ),
            client_secret_post_only=(
                "client_secret_basic" not in methods and "client_secret_post" in methods
            ),
            iss_parameter=document.get("authorization_response_iss_parameter_supported") is True,
        )

    async def jwks(self) -> dict[str, Any]:
        return await self._json("GET", (await self.discovery()).jwks_uri)

    async def exchange_code(self, *, code: str, verifier: str, redirect_uri: str) -> TokenSet:
        """The authorization code (with its PKCE verifier) for tokens; CODE_INVALID when the
        provider answers invalid_grant."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        return await self._token(form)

    async def refresh(self, *, refresh_token: str) -> TokenSet:
        """A refresh grant; GONE when the provider answers invalid_grant."""
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        return await self._token(form)

    async def userinfo(self, *, access_token: str) -> dict[str, Any]:
        endpoint = (await self.discovery()).userinfo_endpoint
        if endpoint is None:
            raise OidcError(OidcFailure.ANSWER, check="userinfo_endpoint")
        headers = {"authorization": f"Bearer {access_token}"}
        return await self._json("GET", endpoint, headers=headers)

    async def _token(self, form: dict[str, str]) -> TokenSet:
        found = await self.discovery()
        headers = {"accept": "application/json"}
        if found.client_secret_post_only:
            form = {**form, "client_id": self.client_id, "client_secret": self._secret}
        else:
            # RFC 6749 2.3.1: each part form-encoded before the Basic credentials are built.
            pair = f"{quote(self.client_id, safe='')}:{quote(self._secret, safe='')}"
            headers["authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        answer = await self._json("POST", found.token_endpoint, data=form, headers=headers)
        token_type = answer.get("token_type")
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            raise OidcError(OidcFailure.ANSWER, check="token_type")
        return TokenSet(
            id_token=_text(answer, "id_token", required=False),
            access_token=_text(answer, "access_token", required=False),
            refresh_token=_text(answer, "refresh_token", required=False),
        )

    async def _json(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        response = await self._send(method, url, **kwargs)
        if response.status_code in (502, 503, 504):
            self.forget_discovery()
            raise OidcError(OidcFailure.UNAVAILABLE)
        try:
            if len(response.content) > MAX_ANSWER_BYTES:
                raise ValueError("too large")
            body = response.json()
        except ValueError:
            raise OidcError(OidcFailure.ANSWER, check="json") from None
        if not isinstance(body, dict):
            raise OidcError(OidcFailure.ANSWER, check="json")
        if response.status_code >= 400:
            raise self._refused(response.status_code, body, kwargs.get("data"))
        return body

    def _refused(self, status: int, body: dict[str, Any], form: dict[str, str] | None) -> OidcError:
        given = body.get("error")
        error = provider_error_value(given if isinstance(given, str) else None)
        log.warning(
            "the OpenID provider refused a request",
            extra={"status": status, "provider_error": error},
        )
        if form is not None and error == "invalid_grant":
            grant = form.get("grant_type")
            failure = OidcFailure.GONE if grant == "refresh_token" else OidcFailure.CODE_INVALID
            return OidcError(failure, provider_error=error)
        if status >= 500:
            return OidcError(OidcFailure.ANSWER, check="status", provider_error=error)
        return OidcError(OidcFailure.REFUSED, provider_error=error)

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            # httpx's timeout is per phase; this bounds the whole exchange.
            async with asyncio.timeout(self.timeout):
                return await self.http.request(method, url, **kwargs)
        except (TimeoutError, httpx.TimeoutException):
            self.forget_discovery()
            log.warning("the OpenID provider did not answer in time")
            raise OidcError(OidcFailure.TIMEOUT) from None
        except httpx.HTTPError:
            self.forget_discovery()
            log.warning("the OpenID provider is unreachable")
            raise OidcError(OidcFailure.UNAVAILABLE) from None
