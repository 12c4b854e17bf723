"""`GET/POST /wechat/push/{appId}`: WeChat's server check and its message push.

Fast by design (WeChat waits 5 s, then retries three times): verify, read, store the message
in the inbox with its dedupe key in one transaction, answer `success`; the processor does the
rest. A duplicate gets `success` too and is not stored again. Every refusal is one coded error
(400, 401 or 404), never a 5xx; a database outage is 503 with Retry-After
(cdp/availability.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from cdp.config import Settings
from cdp.config_models import WechatApp
from cdp.db import Database
from cdp.errors import ErrorCode
from cdp.json_body import RequestRefused, read_body
from cdp.keys.source import KeyringSource
from cdp.wechat import push_inbox as inbox
from cdp.wechat.push_crypto import PushCipher, PushCryptoError, sign, signature_matches
from cdp.wechat.push_message import BadMessage, message_of, parse_body
from cdp.wechat.push_processor import PushProcessor
from cdp.wechat.routes import request_id_of

PATH = "/wechat/push/{appId}"
MAX_PARAM = 128


@dataclass(frozen=True, slots=True)
class Refused(Exception):
    status: int
    code: ErrorCode
    message: str
    reason: str


def _bad(message: str, reason: str) -> Refused:
    return Refused(400, ErrorCode.BAD_USER_INPUT, message, reason)


def _unsigned(message: str, reason: str) -> Refused:
    return Refused(401, ErrorCode.UNAUTHENTICATED, message, reason)


class WechatPush:
    """The push endpoint of every configured app with a Token."""

    def __init__(
        self,
        settings: Settings,
        database: Database,
        keyring: KeyringSource,
        processor: PushProcessor,
    ) -> None:
        self.settings, self.database, self.keyring = settings, database, keyring
        self.processor = processor

    def routes(self) -> list[Route]:
        return [Route(PATH, self.handle, methods=["GET", "POST"])]

    async def handle(self, request: Request) -> Response:
        request_id = request_id_of(request)
        try:
            app_id, app, token = self._app(request)
            self._check_time(request)
            if request.method == "GET":
                return PlainTextResponse(self._echo(request, app_id, app, token))
            await self._accept(request, app_id, app, token)
        except Refused as exc:
            return JSONResponse(
                {
                    "errors": [
                        {
                            "message": exc.message,
                            "extensions": {
                                "code": exc.code.value,
                                "reason": exc.reason,
                                "requestId": request_id,
                            },
                        }
                    ]
                },
                status_code=exc.status,
                headers={"x-request-id": request_id, "cache-control": "no-store"},
            )
        return PlainTextResponse("success", headers={"x-request-id": request_id})

    def _app(self, request: Request) -> tuple[str, WechatApp, str]:
        app_id = request.path_params["appId"]
        app = self.settings.wechat_apps.get(app_id)
        if app is None:
            raise Refused(404, ErrorCode.NOT_FOUND, "No such WeChat app", "UNKNOWN_APP")
        if app.token is None:
            raise Refused(
                404, ErrorCode.NOT_FOUND, "Message push is not configured for this app", "NO_PUSH"
            )
        return app_id, app, app.token.get_secret_value()

    def _param(self, request: Request, name: str, *, required: bool = True) -> str | None:
        value = request.query_params.get(name)
        if value is None or value == "":
            if required:
                raise _bad(f"{name} is required", "PARAMS")
            return None
        if len(value) > MAX_PARAM and name not in ("echostr",):
            raise _bad(f"{name} is too long", "PARAMS")
        return value

    def _check_time(self, request: Request) -> None:
        stamp = self._param(request, "timestamp")
        assert stamp is not None
        if not stamp.isdigit() or len(stamp) > 12:
            raise _bad("timestamp is not a Unix time", "PARAMS")
        if abs(time.time() - int(stamp)) > self.settings.wechat_push_window_seconds:
            raise _unsigned("timestamp is outside the accepted window (a replay?)", "STALE")

    def _signed(self, request: Request, token: str) -> None:
        """The plain signature over token, timestamp and nonce."""
        stamp, nonce = self._param(request, "timestamp"), self._param(request, "nonce")
        assert stamp is not None and nonce is not None
        if not signature_matches(sign(token, stamp, nonce), self._param(request, "signature")):
            raise _unsigned("The signature does not match", "SIGNATURE")

    def _msg_signed(self, request: Request, token: str, encrypted: str) -> None:
        stamp, nonce = self._param(request, "timestamp"), self._param(request, "nonce")
        assert stamp is not None and nonce is not None
        given = self._param(request, "msg_signature")
        if not signature_matches(sign(token, stamp, nonce, encrypted), given):
            raise _unsigned("msg_signature does not match", "SIGNATURE")

    def _cipher(self, app_id: str, app: WechatApp) -> PushCipher:
        if app.encoding_aes_key is None:
            raise _bad("This app takes plaintext pushes (no EncodingAESKey)", "MODE")
        return PushCipher(app.encoding_aes_key.get_secret_value(), app_id)

    def _echo(self, request: Request, app_id: str, app: WechatApp, token: str) -> str:
        """The server check: echostr back, decrypted when it came encrypted (msg_signature)."""
        echostr = self._param(request, "echostr")
        assert echostr is not None
        if len(echostr) > 1024:
            raise _bad("echostr is too long", "PARAMS")
        if request.query_params.get("msg_signature"):
            self._msg_signed(request, token, echostr)
            try:
                return self._cipher(app_id, app).decrypt(echostr).decode("utf-8")
            except (PushCryptoError, UnicodeDecodeError):
                raise _unsigned("echostr is not encrypted for this app", "ENCRYPT") from None
        self._signed(request, token)
        return echostr

    async def _accept(self, request: Request, app_id: str, app: WechatApp, token: str) -> None:
        safe = request.query_params.get("encrypt_type", "raw").lower() == "aes"
        # The URL signature first: an unsigned plaintext push reads no body. In safe mode
        # msg_signature (over the body's Encrypt) is what counts; `signature` is checked
        # when WeChat sends it too.
        if not safe or request.query_params.get("signature"):
            self._signed(request, token)
        try:
            body = await read_body(request, self.settings.wechat_push_max_body_bytes)
        except RequestRefused:
            raise _bad("The body is too large", "BODY_TOO_LARGE") from None
        if app.encoding_aes_key is not None and not safe:
            # With a key configured, the body must be signed too (the URL signature is not).
            raise _unsigned("This app takes safe-mode pushes only", "MODE")
        try:
            tree = parse_body(body)
            raw = body
            if safe:
                encrypted = tree.get("Encrypt")
                if not isinstance(encrypted, str) or not encrypted:
                    raise _bad("Encrypt is missing", "FORMAT")
                self._msg_signed(request, token, encrypted)
                try:
                    raw = self._cipher(app_id, app).decrypt(encrypted)
                except PushCryptoError as exc:
                    raise _unsigned(exc.message, exc.reason) from None
                tree = parse_body(raw)
            message = message_of(tree)
        except BadMessage as exc:
            raise _bad(str(exc), "FORMAT") from None
        key = inbox.dedupe_key(self.keyring.keyring, app_id, message)
        async with self.database.transaction() as session:
            fresh = await inbox.accept(
                session=session, keyring=self.keyring.keyring, app_id=app_id, key=key, message=raw
            )
        if fresh:
            self.processor.wake()
