"""WeCom's (企业微信) server API as documented, for staff sign-in: the user id behind a sign-in
code (auth/getuserinfo), a member's departments and status (user/get) and tag members (tag/list,
tag/get), each with the corp's access token (gettoken, cached in `wecom_tokens`).

WeCom's error codes become `WecomError`s that name what a caller can do about them. The
Secret, the code and the access token travel in query strings, so httpx's request logging is
kept off, and no log line carries a userid (cdp's audit log names the person, not its logs).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import httpx

from cdp.config import Settings
from cdp.config_models import StaffWecom
from cdp.db import Database
from cdp.errcode_api import Patience, ServiceError, get_json
from cdp.keys.source import KeyringSource
from cdp.staff.wecom_tokens import WecomTokens

log = logging.getLogger("cdp.staff.wecom")


class WecomFailure(StrEnum):
    CODE_INVALID = "WECOM_CODE_INVALID"  # 40029: wrong, expired (5 minutes) or used code
    NOT_A_MEMBER = "WECOM_NOT_A_MEMBER"  # getuserinfo gave an openid: not of this corp
    USER_NOT_FOUND = "WECOM_USER_NOT_FOUND"  # 60111 (and 46004): no such member (any more)
    USER_DISABLED = "WECOM_USER_DISABLED"  # user/get status other than 1 (active)
    NOT_VISIBLE = "WECOM_NOT_VISIBLE"  # 60011: outside the app's visibility range (可见范围)
    RATE_LIMITED = "WECOM_RATE_LIMITED"  # 45009, 45011, 45033
    BUSY = "WECOM_BUSY"  # -1 (or unreachable, or 5xx) on every try
    TIMEOUT = "WECOM_TIMEOUT"
    UPSTREAM = "WECOM_UPSTREAM"  # an answer we cannot use (bad secret, untrusted IP, ...)


# errcode -> failure; anything else is UPSTREAM (logged for the operator).
ERRCODES = {
    40029: WecomFailure.CODE_INVALID,
    60111: WecomFailure.USER_NOT_FOUND,
    46004: WecomFailure.USER_NOT_FOUND,
    60011: WecomFailure.NOT_VISIBLE,
    45009: WecomFailure.RATE_LIMITED,
    45011: WecomFailure.RATE_LIMITED,
    45033: WecomFailure.RATE_LIMITED,
    -1: WecomFailure.BUSY,
}
# The access token is invalid (40014, 40082), expired (42001) or missing (41001): fetch a new
# one once, then give up (UPSTREAM).
TOKEN_ERRCODES = frozenset({40014, 40082, 41001, 42001})
# What the operator can fix, named in the log line (errmsg alone is terse).
HINTS = {
    40001: "the Secret (CDP_STAFF_WECOM secret) is wrong or was reset",
    40013: "the corp id (CDP_STAFF_WECOM corp_id) is wrong",
    50001: "the redirect domain is not the app's trusted domain (可信域名)",
    60020: "this server's IP is not in the app's trusted IPs (企业可信IP)",
}
ACTIVE = 1  # user/get status: 1 active, 2 disabled, 4 not yet activated, 5 left the corp
# 1-64 of letters, digits and _-@. (WeCom's rule), optionally after a linked corp's id.
_USERID = re.compile(r"^(ww[0-9A-Za-z]{16}/)?[0-9A-Za-z][0-9A-Za-z_@.\-]{0,63}$")


class WecomError(ServiceError[WecomFailure]):
    """WeCom refused or failed; `errcode` is WeCom's code when it gave one."""


@dataclass(frozen=True, slots=True)
class Member:
    """What cdp reads of a member: the userid and their department ids (never a name)."""

    userid: str
    departments: tuple[int, ...]


def _ints(value: object) -> tuple[int, ...]:
    items = value if isinstance(value, list) else []
    return tuple(i for i in items if isinstance(i, int) and not isinstance(i, bool))


class WecomClient:
    """One HTTP client for the process, on one corp's self-built app; timeout and "system
    busy" retries from the WeChat settings (the same platform's habits)."""

    def __init__(
        self,
        settings: Settings,
        app: StaffWecom,
        database: Database,
        keyring: KeyringSource,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        for noisy in ("httpx", "httpcore"):  # their request lines carry the secret and code
            logging.getLogger(noisy).setLevel(logging.WARNING)
        self.settings, self.app = settings, app
        self.tokens = WecomTokens(database, keyring, app, fetch=self._fetch_token)
        self._http = httpx.AsyncClient(
            base_url=settings.wecom_api_base_url,
            timeout=settings.wechat_timeout_seconds,
            transport=transport,
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def user_id_for_code(self, code: str) -> str:
        """The userid of the member who signed in with `code`; NOT_A_MEMBER for a person
        WeCom knows only by an openid (not of this corp)."""
        body = await self._api("/cgi-bin/auth/getuserinfo", {"code": code})
        userid = body.get("userid", body.get("UserId"))  # the older API's spelling
        if userid is None and any(body.get(k) for k in ("openid", "OpenId", "external_userid")):
            raise WecomError(WecomFailure.NOT_A_MEMBER)
        return self._userid(userid, "/cgi-bin/auth/getuserinfo")

    async def member(self, userid: str) -> Member:
        """The member's departments; USER_DISABLED unless they are active."""
        path = "/cgi-bin/user/get"
        body = await self._api(path, {"userid": userid})
        if body.get("status", ACTIVE) != ACTIVE:
            raise WecomError(WecomFailure.USER_DISABLED)
        # WeCom's userids are case-insensitive: its answer may spell the one asked otherwise.
        if self._userid(body.get("userid", userid), path).lower() != userid.lower():
            raise self.unusable(path, None)
        return Member(userid, _ints(body.get("department")))

    async def tags_of(self, member: Member, names: Collection[str]) -> tuple[str, ...]:
        """Which of the tags `names` the member holds, in themselves or through one of their
        departments. One tag/list, then one tag/get per named tag that exists: bounded by the
        role map, however many tags the corp has."""
        if not names:
            return ()
        listed = (await self._api("/cgi-bin/tag/list", {})).get("taglist")
        wanted: dict[str, int] = {}  # tag names are unique in a corp: at most one call each
        for tag in listed if isinstance(listed, list) else []:
            if not isinstance(tag, dict):
                continue
            name, tag_ids = tag.get("tagname"), _ints([tag.get("tagid")])
            if isinstance(name, str) and name in names and tag_ids:
                wanted.setdefault(name, tag_ids[0])
        held: list[str] = []
        for name, tag_id in sorted(wanted.items()):  # one at a time: WeCom limits concurrent calls
            body = await self._api("/cgi-bin/tag/get", {"tagid": str(tag_id)})
            users = body.get("userlist")
            userids = {
                u["userid"].lower()
                for u in (users if isinstance(users, list) else [])
                if isinstance(u, dict) and isinstance(u.get("userid"), str)
            }
            in_department = set(_ints(body.get("partylist"))) & set(member.departments)
            if member.userid.lower() in userids or in_department:
                held.append(name)
        return tuple(held)

    async def _api(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        """A call with the access token; a new token once when WeCom says it is stale."""
        token = await self.tokens.current()
        try:
            return await self._get(path, {"access_token": token, **params})
        except WecomError as exc:
            if exc.errcode not in TOKEN_ERRCODES:
                raise
        log.info("wecom access token refused; fetching a new one", extra={"path": path})
        token = await self.tokens.replace(token)
        return await self._get(path, {"access_token": token, **params})

    async def _fetch_token(self) -> tuple[str, int]:
        """gettoken: (access token, seconds it lives)."""
        path = "/cgi-bin/gettoken"
        body = await self._get(
            path, {"corpid": self.app.corp_id, "corpsecret": self.app.secret.get_secret_value()}
        )
        token, expires_in = body.get("access_token"), body.get("expires_in")
        if not isinstance(token, str) or not token or len(token) > 1024:
            raise self.unusable(path, None)
        if not isinstance(expires_in, int) or isinstance(expires_in, bool) or expires_in <= 0:
            raise self.unusable(path, None)
        return token, expires_in

    async def _get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        """GET and decode (cdp/errcode_api.py: "system busy" retried, a timeout not)."""
        patience = Patience.of(self.settings)
        return await get_json(
            self._http, path, params, patience=patience, failures=self, log=log, service="wecom"
        )

    def timed_out(self) -> WecomError:
        return WecomError(WecomFailure.TIMEOUT)

    def busy(self, errcode: int | None) -> WecomError:
        return WecomError(WecomFailure.BUSY, errcode)

    def _userid(self, value: object, path: str) -> str:
        if not isinstance(value, str) or not _USERID.match(value):
            raise self.unusable(path, None)
        return value

    def refused(self, path: str, body: dict[str, Any]) -> WecomError:
        errcode = body.get("errcode")
        code = errcode if isinstance(errcode, int) and not isinstance(errcode, bool) else None
        failure = ERRCODES.get(code or 0, WecomFailure.UPSTREAM)
        extra: dict[str, object] = {"path": path, "errcode": code}
        if failure is WecomFailure.UPSTREAM:  # for the operator: something to fix
            # errmsg names the problem ("invalid credential, hint: [...]"), never a secret.
            extra["errmsg"] = str(body.get("errmsg", ""))[:200]
            extra["hint"] = HINTS.get(code or 0, "see WeCom's errcode documentation")
            log.error("wecom refused", extra=extra)
        else:
            log.info("wecom refused", extra=extra)
        return WecomError(failure, code)

    def unusable(self, path: str, status: int | None) -> WecomError:
        log.error("wecom answer unusable", extra={"path": path, "status": status})
        return WecomError(WecomFailure.UPSTREAM)
