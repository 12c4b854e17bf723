"""GraphQL over HTTP conformance: graphql-http's auditServer against a real `cdp serve`."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.servers import CDP, run_cdp

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
AUDIT_SCRIPT = ROOT / "scripts" / "graphql-http-audit" / "audit.mjs"
JWT_SECRET = "conformance-secret-that-is-long-enough-for-hs256-0123456789"

needs_node = pytest.mark.skipif(
    shutil.which("node") is None or shutil.which("npm") is None,
    reason="node and npm are needed to run graphql-http's auditServer (Node 18 or newer)",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cdp_environment(tmp_path: Path) -> dict[str, str]:
    """This process's environment minus any CDP_ setting, plus a private development setup."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDP_")}
    env.update(
        CDP_ENV="development",
        CDP_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'cdp.db'}",
        CDP_KEYRING=str(tmp_path / "keyring.json"),
        CDP_JWT_SECRET=JWT_SECRET,
    )
    return env


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """`cdp serve` on a free loopback port over a fresh database: (GraphQL URL, service token)."""
    env = cdp_environment(tmp_path)
    run_cdp(env, "keys", "init")
    run_cdp(env, "migrate")
    token = run_cdp(env, "token", "service").strip()
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [*CDP, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "cdp serve did not become ready in 30 s"
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/graphql", token
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


@needs_node
def test_graphql_http_audit_reports_no_errors_and_no_warnings(served: tuple[str, str]) -> None:
    url, token = served
    done = subprocess.run(
        ["node", str(AUDIT_SCRIPT), "--url", url],
        env={**os.environ, "CDP_AUDIT_TOKEN": token},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = done.stdout + done.stderr
    assert done.returncode in (0, 1), report
    counts = json.loads(done.stdout.strip().splitlines()[-1])
    assert counts["total"] >= 50, report  # the audit really ran
    assert (counts["error"], counts["warn"]) == (0, 0), report
    assert done.returncode == 0, report
