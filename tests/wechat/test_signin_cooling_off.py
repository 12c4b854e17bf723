"""Signing in from the mini-program while one's account cancellation cools off (both
databases): the answer names the cancellation, so the app can offer to withdraw it; once
withdrawn, sign-in says nothing of it."""

from __future__ import annotations

import httpx

from cdp.auth import Role
from cdp.devwechat.fake import MINI_APP_ID, FakeWechat, WechatUser
from tests.conftest import ClientFactory, gql
from tests.support.wechat_signin import mini_sign_in

CANCEL = "mutation { cancelMyAccount(input: {confirm: true}) { id status runsAt } }"
WITHDRAW = "mutation($id: ID!) { withdrawMyCancellation(input: {requestId: $id}) { status } }"


async def test_sign_in_during_the_cooling_off_offers_the_withdrawal(
    client_for: ClientFactory, wechat: FakeWechat
) -> None:
    user = WechatUser(union_id="oUnIoNcooling00000000000001")
    anonymous: httpx.AsyncClient = client_for(None)
    first = (await mini_sign_in(anonymous, wechat.code_for(MINI_APP_ID, user))).json()
    assert first["accountCancellation"] is None
    customer = client_for(Role.CUSTOMER, first["profileId"])
    cancelled = (await gql(customer, CANCEL))["data"]["cancelMyAccount"]
    again = (await mini_sign_in(anonymous, wechat.code_for(MINI_APP_ID, user))).json()
    assert again["accountCancellation"] == cancelled
    withdrawn = await gql(customer, WITHDRAW, {"id": cancelled["id"]})
    assert withdrawn["data"]["withdrawMyCancellation"] == {"status": "WITHDRAWN"}
    last = (await mini_sign_in(anonymous, wechat.code_for(MINI_APP_ID, user))).json()
    assert last["accountCancellation"] is None
