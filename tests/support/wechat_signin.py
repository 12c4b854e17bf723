"""Signing in with WeChat from a test: the mini-program's code exchange, the token's `me`, and
the coded refusal every sign-in route answers with."""

from __future__ import annotations

from typing import Any

import httpx

from cdp.devwechat.fake import MINI_APP_ID
from tests.conftest import ClientFactory, gql

MINI = "/auth/wechat/mini-program"
ME = "{ me { id identities { channel appId openId } unionId } }"


async def mini_sign_in(client: httpx.AsyncClient, code: str, app_id: str = MINI_APP_ID) -> Any:
    """The mini-program's sign-in with `code` (wx.login's), as the route answers it."""
    return await client.post(MINI, json={"appId": app_id, "code": code})


def refused(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The one coded error of a refused sign-in, checked for its status, code and request id."""
    assert response.status_code == status, response.text
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == code
    assert error["extensions"]["requestId"]
    return error  # type: ignore[no-any-return]


async def me_with(client_for: ClientFactory, token: str) -> dict[str, Any]:
    """`me` (ids and identities) as the holder of `token` sees it."""
    client = client_for(None)
    client.headers["authorization"] = f"Bearer {token}"
    body = await gql(client, ME)
    assert "errors" not in body, body
    return body["data"]["me"]  # type: ignore[no-any-return]
