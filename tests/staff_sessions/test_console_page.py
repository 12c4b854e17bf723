"""The console's page at `/console/`: in Chinese with English hints, served with a strict
Content-Security-Policy, without inline script, offering the sign-ins that are configured
(and the development sign-in outside production only)."""

from __future__ import annotations

import re

import httpx

from cdp.app import create_app
from cdp.config import Settings
from cdp.db import Database
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from tests.conftest import TEST_KEYRING, ClientFactory, make_settings
from tests.pg_cluster import free_port
from tests.support.staff_desk import Scripts, app_client

WECOM = {"corp_id": "ww0123456789abcdef", "agent_id": "1000002", "secret": "a-wecom-app-secret"}
OIDC = {
    "staff_oidc_issuer": "https://login.example.com",
    "staff_oidc_client_id": "cdp-console",
    "staff_oidc_client_secret": "an-oidc-client-secret-of-some-length",
}


def directives(header: str) -> dict[str, str]:
    return {
        part.split()[0]: " ".join(part.split()[1:])
        for part in (p.strip() for p in header.split(";"))
        if part
    }


async def test_the_console_page_is_served_with_a_strict_content_security_policy(
    client_for: ClientFactory,
) -> None:
    response = await client_for(None).get("/console/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    policy = directives(response.headers["content-security-policy"])
    assert {
        "default-src": "'none'",
        "script-src": "'self'",
        "style-src": "'self'",
        "connect-src": "'self'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }.items() <= policy.items()
    assert "'unsafe-inline'" not in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"


async def test_the_console_page_has_no_inline_script(client_for: ClientFactory) -> None:
    page = (await client_for(None).get("/console/")).text
    scripts = Scripts()
    scripts.feed(page)
    # The table of trusted document ids, the shell, then the desks.
    assert scripts.external[:3] == ["documents.js", "console.js", "support.js"]
    assert all(not name.startswith(("http", "//")) for name in scripts.external)
    assert scripts.inline == []
    assert "style=" not in page and "<style" not in page
    script = await client_for(None).get("/console/console.js")
    assert script.status_code == 200
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert "innerHTML" not in script.text  # text goes in by textContent only
    assert (await client_for(None).get("/console/console.css")).status_code == 200


async def test_the_console_page_speaks_chinese_with_english_hints(
    client_for: ClientFactory,
) -> None:
    page = (await client_for(None).get("/console/")).text
    assert '<html lang="zh-CN">' in page
    for chinese, english in (
        ("员工控制台", "Staff console"),
        ("退出登录", "Sign out"),
        ("角色", "Role"),
        ("开发环境登录", "Development sign-in"),
    ):
        assert chinese in page and english in page


async def test_console_without_a_slash_redirects_to_the_page(client_for: ClientFactory) -> None:
    response = await client_for(None).get("/console")
    assert response.status_code == 308
    assert response.headers["location"] == "/console/"
    assert (await client_for(None).get("/console/nothing.js")).status_code == 404


async def test_in_development_the_page_offers_a_dev_sign_in_per_role(
    client_for: ClientFactory,
) -> None:
    page = (await client_for(None).get("/console/")).text
    forms = re.findall(r'<form method="post" action="/auth/staff/dev">(.*?)</form>', page, re.S)
    roles = [re.findall(r'name="role" value="(\w+)"', form) for form in forms]
    assert roles == [
        ["support"],
        ["analyst"],
        ["compliance"],
        ["support", "compliance"],
        ["compliance"],
    ]
    # The last is a second compliance officer, so that four eyes can be walked locally.
    assert 'name="directoryId" value="dev-compliance-2"' in forms[-1]
    assert 'action="/auth/staff/logout"' in page and 'action="/auth/staff/role"' in page
    # Nothing configured: no provider link, and a word saying so.
    assert "/auth/staff/wecom/authorize" not in page
    assert "/auth/staff/oidc/authorize" not in page
    assert "CDP_STAFF_WECOM" in page
    assert "<!--if:" not in page and "<!--end:" not in page  # resolved, not shipped


async def test_the_page_links_the_wecom_and_oidc_sign_ins_when_configured(
    database_url: str, database: Database, keystore: KeyStore
) -> None:
    production = make_settings(
        database_url,
        env="production",
        staff_wecom=WECOM,
        staff_redirect_base_url="https://cdp.example.com",
        **OIDC,
    )
    async with app_client(production, database, keystore) as client:
        page = (await client.get("/console/")).text
    assert 'href="/auth/staff/wecom/authorize"' in page
    assert 'href="/auth/staff/oidc/authorize"' in page
    assert "/auth/staff/dev" not in page and "开发环境" not in page
    assert "CDP_STAFF_WECOM" not in page


async def test_the_page_links_only_the_sign_in_that_is_configured(
    database_url: str, database: Database, keystore: KeyStore
) -> None:
    only_oidc: Settings = make_settings(database_url, **OIDC)
    async with app_client(only_oidc, database, keystore) as client:
        page = (await client.get("/console/")).text
    assert 'href="/auth/staff/oidc/authorize"' in page
    assert "/auth/staff/wecom/authorize" not in page
    assert 'action="/auth/staff/dev"' in page


async def test_with_the_database_down_the_page_loads_and_its_session_read_is_503() -> None:
    # Nothing listens on the port: the page still loads, and says the service is unavailable.
    settings = make_settings(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/cdp")
    database = Database(settings)
    app = create_app(settings, database, KeyringSource.fixed(TEST_KEYRING))
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://cdp.test") as client:
            assert (await client.get("/console/")).status_code == 200
            assert (await client.get("/console/console.js")).status_code == 200
            response = await client.get("/auth/staff/session")
            assert response.status_code == 503
            assert int(response.headers["retry-after"]) >= 1
            assert response.json()["errors"][0]["extensions"]["code"] == "INTERNAL"
    finally:
        await database.dispose()
