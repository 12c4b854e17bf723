"""A real OpenID provider on loopback for the staff sign-in tests: panva's `oidc-provider`
(pinned in tests/support/oidc/package-lock.json) run by Node, installed with `npm ci` when
missing, one per test process; and a browser that signs in through it.

No Node or npm, or an install that fails: the tests that need the provider FAIL (CI has npm)."""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from cdp.config import Settings
from tests.conftest import make_settings

PROVIDER_DIR = Path(__file__).parent / "oidc"
CLIENT_ID = "cdp-staff"
CLIENT_SECRET = "cdp-staff-test-secret-0123456789abcdef"
APP_BASE = "http://cdp.test"  # the ASGI test client's base URL
CALLBACK = "/auth/staff/oidc/callback"
ROLE_MAP = {"oidc_groups": {"cdp-support": ["support"], "cdp-compliance": ["compliance"]}}


def install_provider() -> None:
    """`npm ci` in tests/support/oidc unless oidc-provider is there; one process at a time."""
    if (PROVIDER_DIR / "node_modules" / "oidc-provider" / "package.json").exists():
        return
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.fail("Node 20 and npm are needed for the OpenID Connect tests (CI has them)")
    tag = hashlib.sha256(str(PROVIDER_DIR).encode()).hexdigest()[:12]
    with open(Path(tempfile.gettempdir()) / f"cdp-oidc-npm-{tag}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (PROVIDER_DIR / "node_modules" / "oidc-provider" / "package.json").exists():
            return
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=PROVIDER_DIR,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            pytest.fail(f"npm ci for the test OpenID provider failed:\n{done.stderr[-2000:]}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def unused_port() -> int:
    """A loopback port nothing listens on: a provider that is down."""
    return free_port()


@dataclass
class OidcProvider:
    """The running provider and its test-only admin routes."""

    issuer: str

    def set_account(self, account: str, **fields: Any) -> None:
        """Create or change an account: `groups=[...]`, `removed=True`, `userinfoOnly=True`."""
        httpx.post(f"{self.issuer}/admin/accounts/{account}", json=fields).raise_for_status()

    def rotate_keys(self) -> None:
        httpx.post(f"{self.issuer}/admin/rotate").raise_for_status()

    def jwks_fetches(self) -> int:
        return int(httpx.get(f"{self.issuer}/admin/stats").json()["jwks"])


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[OidcProvider]:
    install_provider()
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "REDIRECT_URIS": APP_BASE + CALLBACK,
        "CLIENT_ID": CLIENT_ID,
        "CLIENT_SECRET": CLIENT_SECRET,
    }
    process = subprocess.Popen(
        ["node", "provider.mjs"],
        cwd=PROVIDER_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    provider = OidcProvider(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                pytest.fail(f"the test OpenID provider exited:\n{process.stderr.read()[-2000:]}")  # type: ignore[union-attr]
            try:
                httpx.get(f"{provider.issuer}/.well-known/openid-configuration").raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    pytest.fail("the test OpenID provider did not start in 30 s")
                time.sleep(0.1)
        yield provider
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def oidc_settings(database_url: str, issuer: str, **overrides: Any) -> Settings:
    """The suite's settings with staff sign-in at `issuer` and the test role map."""
    values: dict[str, Any] = {
        "staff_oidc_issuer": issuer,
        "staff_oidc_client_id": CLIENT_ID,
        "staff_oidc_client_secret": CLIENT_SECRET,
        "staff_role_map": ROLE_MAP,
        "staff_redirect_base_url": APP_BASE,
        **overrides,
    }
    return make_settings(database_url, **values)


_FORM = re.compile(r'<form[^>]*action="(?P<action>[^"]+)"')
_PROMPT = re.compile(r'name="prompt" value="(?P<prompt>\w+)"')


class StaffBrowser:
    """One browser: cdp through `app` (its own cookie jar), the provider over loopback (its
    own), redirects followed by hand between the two, devInteractions' forms filled in."""

    def __init__(self, app: httpx.AsyncClient, provider: OidcProvider) -> None:
        self.app, self.provider = app, provider
        self.at_provider = httpx.AsyncClient(follow_redirects=False)

    async def aclose(self) -> None:
        await self.at_provider.aclose()

    async def authorize(self) -> str:
        """cdp's redirect to the provider's authorization endpoint."""
        response = await self.app.get("/auth/staff/oidc/authorize")
        assert response.status_code == 302, response.text
        location = response.headers["location"]
        assert location.startswith(self.provider.issuer + "/"), location
        return location

    async def approve(self, url: str, account: str, *, cancel: bool = False) -> str:
        """Sign in as `account` at the provider and consent (or cancel); the callback URL the
        provider sends the browser back to."""
        response = await self.at_provider.get(url)
        for _ in range(12):
            if response.is_redirect:
                location = urljoin(str(response.url), response.headers["location"])
                if location.startswith(APP_BASE + "/"):
                    return location
                response = await self.at_provider.get(location)
                continue
            assert response.status_code == 200, response.text
            action = urljoin(str(response.url), _FORM.search(response.text)["action"])  # type: ignore[index]
            if cancel:
                response = await self.at_provider.get(action.rstrip("/") + "/abort")
                continue
            prompt = _PROMPT.search(response.text)["prompt"]  # type: ignore[index]
            form = {"prompt": prompt}
            if prompt == "login":
                form |= {"login": account, "password": "any"}
            response = await self.at_provider.post(action, data=form)
        raise AssertionError("the provider did not send the browser back to cdp")

    async def callback(self, url: str) -> httpx.Response:
        parts = urlsplit(url)
        return await self.app.get(f"{parts.path}?{parts.query}")

    async def sign_in(self, account: str) -> httpx.Response:
        """The whole round trip; cdp's answer to the callback."""
        return await self.callback(await self.approve(await self.authorize(), account))
