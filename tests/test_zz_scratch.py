import json, time, jwt, pytest, httpx
from cdp.auth import Role
from tests.conftest import TEST_JWT_SECRET

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

async def test_scratch(client_for, capsys):
    svc = client_for(Role.SERVICE)
    sup = client_for(Role.SUPPORT)
    async def show(label, coro):
        try:
            r = await coro
            print(label, r.status_code, r.text[:300])
        except BaseException as e:
            print(label, "RAISED", type(e).__name__, str(e)[:200])
    await show("deep", svc.post("/graphql", content=b'{"query":"{ __typename }","x":' + b"[" * 5000 + b"]" * 5000 + b"}", headers={"content-type": "application/json"}))
    await show("enum-surrogate", svc.post("/graphql", content=b'{"query":"query($c: Channel!){ canContact(profileId: \\"x\\", purpose: MARKETING, channel: $c) { allowed } }","variables":{"c":"\\ud800"}}', headers={"content-type": "application/json"}))
    await show("purpose-surrogate", sup.post("/graphql", content=b'{"query":"query($p: String!){ profile(id: \\"x\\", purpose: $p) { id } }","variables":{"p":"a\\ud800"}}', headers={"content-type": "application/json"}))
    await show("utf16", svc.post("/graphql", content='{"query":"{ __typename }"}'.encode("utf-16"), headers={"content-type": "application/json"}))
    await show("utf32", svc.post("/graphql", content='{"query":"{ __typename }"}'.encode("utf-32"), headers={"content-type": "application/json"}))
    await show("dup", svc.post("/graphql", content=b'{"query":"{ nope }","query":"{ __typename }"}', headers={"content-type": "application/json"}))
    await show("multi", svc.post("/graphql", json={"query": "query A { __typename } query B { __typename }"}))
    await show("options", svc.options("/graphql"))
    now = int(time.time())
    t = jwt.encode({"sub": "x", "role": "service", "exp": str(now + 100), "iat": now, "iss": "cdp"}, TEST_JWT_SECRET)
    await show("exp-str", svc.post("/graphql", json={"query": "{ __typename }"}, headers={"authorization": f"Bearer {t}"}))
    await show("bignum", svc.post("/graphql", content=b'{"query":"query($n: Int!){ __typename }","variables":{"n":123456789012345678901234567890}}', headers={"content-type": "application/json"}))
    await show("bignum-lit", svc.post("/graphql", json={"query": "{ profilesByTag(tag: \"a\", first: 123456789012345678901234567890) { items { id } } }"}))
    await show("bigfloat", svc.post("/graphql", content=b'{"query":"{ __typename }","variables":{"n":1e999}}', headers={"content-type": "application/json"}))
    await show("wechat-deep", svc.post("/auth/wechat/mini-program", content=b"[" * 3000 + b"]" * 3000, headers={"content-type": "application/json"}))
    await show("tag-bidi", svc.post("/graphql", json={"query": 'mutation { tagProfile(input: {profileId: "x", tag: "a\u202eb"}) { id } }'}))
