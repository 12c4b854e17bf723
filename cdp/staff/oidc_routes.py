"""Staff sign-in with OpenID Connect: `GET /auth/staff/oidc/authorize` (the authorization
code flow with PKCE S256, state and nonce) and `GET /auth/staff/oidc/callback` (the code
exchanged, the ID token verified, the person's groups mapped to roles), and the directory
check of their sessions (a refresh grant with the sealed refresh token)."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cdp.config import Settings
from cdp.db import Database
from cdp.errors import ErrorCode
from cdp.keys.source import KeyringSource
from cdp.roles import Role
from cdp.staff.attempts import Attempt
from cdp.staff.models import StaffProvider, StaffSession
from cdp.staff.oidc import (
    DENIALS,
    Discovery,
    OidcClient,
    OidcError,
    OidcFailure,
    OidcUnavailable,
    TokenSet,
    log,
    provider_error_value,
)
from cdp.staff.oidc_id_token import SigningKeys, groups_claim, verify_id_token
from cdp.staff.sealed import open_credential, seal_credential
from cdp.staff.sessions import DirectoryPerson
from cdp.staff.web import StaffSignIn, new_secret, refusal
from cdp.wechat.outcomes import SignInFailed
from cdp.wechat.routes import request_id_of

PREFIX = "/auth/staff/oidc"
CALLBACK = f"{PREFIX}/callback"
MAX_CODE_LENGTH = 2048
RETRY_AFTER_SECONDS = 5
# The provider's outcome -> (HTTP status, contract code, message), as WeChat's (wechat/outcomes).
OUTCOMES: dict[OidcFailure, tuple[int, ErrorCode, str]] = {
    OidcFailure.DENIED: (403, ErrorCode.FORBIDDEN, "The identity provider declined the sign-in"),
    OidcFailure.REFUSED: (502, ErrorCode.INTERNAL, "The identity provider refused cdp's request"),
    OidcFailure.CODE_INVALID: (
        401,
        ErrorCode.UNAUTHENTICATED,
        "The identity provider rejected the code; sign in again",
    ),
    OidcFailure.ID_TOKEN: (
        401,
        ErrorCode.UNAUTHENTICATED,
        "The identity provider's ID token failed verification",
    ),
    OidcFailure.ANSWER: (502, ErrorCode.INTERNAL, "The identity provider's answer was unusable"),
    OidcFailure.UNAVAILABLE: (503, ErrorCode.INTERNAL, "The identity provider is unavailable"),
    OidcFailure.TIMEOUT: (503, ErrorCode.INTERNAL, "The identity provider did not answer in time"),
    OidcFailure.GONE: (403, ErrorCode.FORBIDDEN, "The identity provider no longer knows you"),
}


def failure_of_oidc(exc: OidcError) -> SignInFailed:
    """The coded refusal of a failure, logged by reason and the name of the check only."""
    status, code, message = OUTCOMES[exc.failure]
    log.warning(
        "an OpenID Connect sign-in was refused",
        extra={
            "reason": exc.failure.value,
            "check": exc.check,
            "provider_error": exc.provider_error,
        },
    )
    extra: dict[str, str | int] = {"reason": exc.failure.value}
    if exc.check is not None:
        extra["field"] = exc.check
    if exc.provider_error is not None:
        extra["providerError"] = exc.provider_error
    if status == 503:
        extra["retryAfter"] = RETRY_AFTER_SECONDS
    return SignInFailed(status, code, message, **extra)


def refresh_purpose(directory_id: str) -> str:
    """What a sealed refresh token is bound to: the person it was issued for."""
    return f"oidc-refresh:{directory_id}"


def code_challenge(verifier: str) -> str:
    """RFC 7636 S256."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def scope_for(discovery: Discovery) -> str:
    """`openid`, plus `groups` where the provider offers it, plus `offline_access` (for the
    refresh token the directory check needs) unless the provider says it has none."""
    supported = discovery.scopes_supported
    extra = [s for s in ("groups", "offline_access") if supported is not None and s in supported]
    if supported is None:
        extra = ["offline_access"]
    return " ".join(["openid", *extra])


class OidcSignIn:
    """The OIDC routes and directory check, sharing one provider client for the process."""

    def __init__(
        self,
        settings: Settings,
        database: Database,
        keyring: KeyringSource,
        client: OidcClient | None = None,
    ) -> None:
        self.settings, self.keyring = settings, keyring
        self.web = StaffSignIn(settings, database, keyring)
        self.client = client or (OidcClient(settings) if settings.has_oidc else None)
        self.keys = SigningKeys(self._jwks)

    def routes(self) -> list[Route]:
        return [
            Route(f"{PREFIX}/authorize", self.authorize, methods=["GET"]),
            Route(CALLBACK, self.callback, methods=["GET"]),
        ]

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.aclose()

    async def _jwks(self) -> dict[str, object]:
        assert self.client is not None
        return await self.client.jwks()

    def _not_configured(self, request: Request) -> Response:
        failed = SignInFailed(
            404, ErrorCode.NOT_FOUND, "OpenID Connect sign-in is not configured", reason="OIDC"
        )
        return refusal(request, request_id_of(request), failed)

    async def authorize(self, request: Request) -> Response:
        """Redirect to the provider's authorization endpoint (from its discovery document)."""
        if self.client is None:
            return self._not_configured(request)
        client = self.client
        try:
            discovery = await client.discovery()
        except OidcError as exc:
            return refusal(request, request_id_of(request), failure_of_oidc(exc))
        nonce, verifier = new_secret(), new_secret()
        scope = scope_for(discovery)

        def provider_url(state: str, redirect_uri: str) -> str:
            query = {
                "response_type": "code",
                "client_id": client.client_id,
                "redirect_uri": redirect_uri,
                "scope": scope,
                "state": state,
                "nonce": nonce,
                "code_challenge": code_challenge(verifier),
                "code_challenge_method": "S256",
            }
            if "offline_access" in scope:
                query["prompt"] = "consent"  # OIDC Core 11: offline access needs consent
            endpoint = discovery.authorization_endpoint
            return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(query)}"

        return await self.web.start(
            request,
            provider=StaffProvider.OIDC,
            callback=CALLBACK,
            provider_url=provider_url,
            nonce=nonce,
            code_verifier=verifier,
        )

    async def callback(self, request: Request) -> Response:
        if self.client is None:
            return self._not_configured(request)
        return await self.web.finish(
            request, provider=StaffProvider.OIDC, callback=CALLBACK, vouch=self._vouch
        )

    async def _vouch(
        self, request: Request, attempt: Attempt, redirect_uri: str
    ) -> DirectoryPerson:
        assert self.client is not None
        params = request.query_params
        try:
            discovery = await self.client.discovery()
            # RFC 9207: an answer from another issuer (a mix-up attack) is refused.
            given_issuer = params.get("iss")
            if given_issuer != self.client.issuer and (
                given_issuer is not None or discovery.iss_parameter
            ):
                raise OidcError(OidcFailure.ANSWER, check="iss")
            if "error" in params:
                error = provider_error_value(params.get("error"))
                if error == "temporarily_unavailable":
                    raise OidcError(OidcFailure.UNAVAILABLE, provider_error=error)
                failure = OidcFailure.DENIED if error in DENIALS else OidcFailure.REFUSED
                raise OidcError(failure, provider_error=error)
            code = params.get("code", "")
            if not code or len(code) > MAX_CODE_LENGTH:
                raise SignInFailed(
                    400, ErrorCode.BAD_USER_INPUT, "The callback carries no code", field="code"
                )
            if attempt.code_verifier is None or attempt.nonce is None:
                raise SignInFailed(403, ErrorCode.FORBIDDEN, "Start again", reason="STATE")
            tokens = await self.client.exchange_code(
                code=code, verifier=attempt.code_verifier, redirect_uri=redirect_uri
            )
            subject, roles, grant = await self._person(tokens, nonce=attempt.nonce)
        except OidcError as exc:
            raise failure_of_oidc(exc) from None
        return DirectoryPerson(StaffProvider.OIDC, subject, roles, grant)

    async def _person(
        self, tokens: TokenSet, *, nonce: str | None, subject: str | None = None
    ) -> tuple[str, tuple[Role, ...], str | None]:
        """The person the tokens name, their roles now and the refresh token sealed for
        them. With `subject` (a refresh), tokens naming anyone else mean GONE."""
        assert self.client is not None
        if tokens.id_token is None:
            if subject is None:  # the code flow with scope openid always returns one
                raise OidcError(OidcFailure.ANSWER, check="id_token")
            claims: dict[str, object] = {"sub": subject}
        else:
            claims = await verify_id_token(
                tokens.id_token,
                keys=self.keys,
                issuer=self.client.issuer,
                client_id=self.client.client_id,
                nonce=nonce,
            )
        sub = str(claims["sub"])
        if subject is not None and sub != subject:
            raise OidcError(OidcFailure.GONE, check="sub")
        groups = groups_claim(claims)
        if groups is None:
            groups = await self._userinfo_groups(tokens, sub)
        roles = self.settings.staff_role_map.roles_for(groups=groups)
        grant = None
        if tokens.refresh_token is not None:
            keyring = self.keyring.keyring
            grant = seal_credential(keyring, refresh_purpose(sub), tokens.refresh_token)
        return sub, roles, grant

    async def _userinfo_groups(self, tokens: TokenSet, sub: str) -> list[str]:
        assert self.client is not None
        if tokens.access_token is None or (await self.client.discovery()).userinfo_endpoint is None:
            return []  # nothing says which groups: unmapped, refused by open_session
        info = await self.client.userinfo(access_token=tokens.access_token)
        # OIDC Core 5.3.2: userinfo about anyone but the ID token's subject is not used.
        if info.get("sub") != sub:
            raise OidcError(OidcFailure.ANSWER, check="sub")
        return groups_claim(info) or []

    async def recheck(self, row: StaffSession) -> tuple[tuple[Role, ...] | None, str | None]:
        """The `DirectoryCheck` of an OIDC session: a refresh grant with its sealed refresh
        token. (roles now, a new sealed refresh token or None) or (None, None) when the
        person is gone (invalid_grant: removed, disabled, consent revoked) or the session has
        no refresh token to ask with. Raises `OidcUnavailable` when there is no answer."""
        if row.provider is not StaffProvider.OIDC:
            raise ValueError("not an OpenID Connect session")
        purpose = refresh_purpose(row.directory_id)
        sealed = row.provider_grant
        token = open_credential(self.keyring.keyring, purpose, sealed) if sealed else None
        if self.client is None or token is None:
            return None, None  # no way to ask the directory: the person signs in again
        try:
            tokens = await self.client.refresh(refresh_token=token)
            _sub, roles, grant = await self._person(tokens, nonce=None, subject=row.directory_id)
        except OidcError as exc:
            if exc.failure is OidcFailure.GONE:
                return None, None
            log.warning(
                "the directory check of an OIDC session got no answer",
                extra={"reason": exc.failure.value, "check": exc.check},
            )
            raise OidcUnavailable(exc.failure, RETRY_AFTER_SECONDS) from None
        return roles, grant
