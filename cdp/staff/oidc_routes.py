"""Staff sign-in with OpenID Connect: `GET /auth/staff/oidc/authorize` (the authorization
code flow with PKCE S256, state and nonce) and `GET /auth/staff/oidc/callback` (the code
exchanged, the ID token verified, the person's groups mapped to roles), and the directory
check of their sessions (a refresh grant with the sealed refresh token)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
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
from cdp.staff.oidc_outcomes import RETRY_AFTER_SECONDS, failure_of_oidc
from cdp.staff.sealed import open_credential, seal_credential
from cdp.staff.sessions import DirectoryPerson
from cdp.staff.web import StaffSignIn, new_secret, provider_routes, refusal
from cdp.wechat.outcomes import SignInFailed
from cdp.wechat.routes import request_id_of

PREFIX = "/auth/staff/oidc"
CALLBACK = f"{PREFIX}/callback"
MAX_CODE_LENGTH = 2048
# How long one session's directory answer is handed to its other requests: those that loaded
# the row before the answer (and its rotated refresh token) was stored would spend the old
# token, a replay for which the provider revokes the whole grant.
ANSWER_REUSE_SECONDS = 10.0
Answer = tuple[tuple[Role, ...] | None, str | None]


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
        # Per (session, sealed refresh token it presents): when asked, and the answer.
        self._answers: dict[tuple[str, str | None], tuple[float, asyncio.Future[Answer]]] = {}

    def routes(self) -> list[Route]:
        return provider_routes(PREFIX, self.authorize, self.callback)

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.aclose()

    async def _jwks(self) -> dict[str, object]:
        assert self.client is not None
        return await self.client.jwks()

    def _not_configured(self, request: Request) -> Response:
        failed = SignInFailed(
            404,
            ErrorCode.NOT_FOUND,
            "OpenID Connect sign-in is not configured",
            reason="NOT_CONFIGURED",
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

    async def recheck(self, row: StaffSession) -> Answer:
        """The `DirectoryCheck` of an OIDC session: a refresh grant with its sealed refresh
        token. (roles now, a new sealed refresh token or None) or (None, None) when the
        person is gone (invalid_grant: removed, disabled, consent revoked) or the session has
        no refresh token to ask with. Raises `OidcUnavailable` when there is no answer.

        One refresh per session and refresh token at a time in this process, its answer
        shared by the session's requests that present the same token for
        ANSWER_REUSE_SECONDS."""
        if row.provider is not StaffProvider.OIDC:
            raise ValueError("not an OpenID Connect session")
        now = time.monotonic()
        for key, (at, done) in list(self._answers.items()):
            if now - at > ANSWER_REUSE_SECONDS and done.done():
                del self._answers[key]
        key = (row.public_id, row.provider_grant)
        found = self._answers.get(key)
        if found is None:
            asked = asyncio.ensure_future(self._ask_directory(row))
            found = self._answers[key] = (now, asked)
            # An outage is not kept: the next request asks again.
            asked.add_done_callback(lambda f: self._forget_failure(key, f))
        return await asyncio.shield(found[1])

    def _forget_failure(self, key: tuple[str, str | None], done: asyncio.Future[Answer]) -> None:
        if (done.cancelled() or done.exception()) and self._answers.get(key, (0, None))[1] is done:
            del self._answers[key]

    async def _ask_directory(self, row: StaffSession) -> Answer:
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
