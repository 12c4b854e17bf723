"""The issue's test of done: a session revoked by `cdp staff revoke` is refused at its very
next request by every worker of `cdp serve --workers 2`, on both databases. Which worker
served a request is read from /proc: the worker process holding the connection's socket."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from cdp.staff.credentials import CSRF_HEADER
from tests.conftest import KEYSTORES, TEST_JWT_SECRET, TEST_KEYRING_PATH
from tests.pg_cluster import free_port
from tests.support.servers import CDP, run_cdp

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux's /proc"),
]
TRIES = 200  # fresh connections until both workers have answered one


def environment(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDP_")}
    env.update(
        CDP_ENV="development",
        CDP_DATABASE_URL=database_url,
        CDP_KEYSTORE_URL=KEYSTORES[database_url],
        CDP_KEYRING=str(TEST_KEYRING_PATH),
        CDP_JWT_SECRET=TEST_JWT_SECRET,
        CDP_RATE_LIMIT_PER_MINUTE="0",
    )
    return env


@contextmanager
def serving(env: dict[str, str], log: Path) -> Iterator[tuple[str, int]]:
    """`cdp serve --workers 2` on a free port, once ready: (base URL, the server's pid)."""
    port = free_port()
    with log.open("w") as out:
        server = subprocess.Popen(
            [*CDP, "serve", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while len(workers_of(server.pid)) < 2 or not ready(base):
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "cdp serve did not start in 60 s"
            time.sleep(0.2)
        yield base, server.pid
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def workers_of(pid: int) -> set[int]:
    children = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                children.add(int(entry))
    return children


def server_socket_inode(server_port: int, client_port: int) -> str | None:
    """The inode of the server's end of the connection from `client_port`."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, inode = fields[1], fields[2], fields[9]
        if int(local.split(":")[1], 16) == server_port and int(remote.split(":")[1], 16) == (
            client_port
        ):
            return inode
    return None


def worker_serving(response: httpx.Response, server_pid: int) -> int | None:
    """The worker holding the (still open) connection `response` came on."""
    stream = response.extensions["network_stream"]
    client_port = stream.get_extra_info("client_addr")[1]
    inode = server_socket_inode(response.url.port or 80, client_port)
    for pid in workers_of(server_pid):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                    return pid
        except OSError:
            continue
    return None


def ask_both_workers(
    base: str, server_pid: int, cookies: httpx.Cookies, csrf: str
) -> dict[int, list[httpx.Response]]:
    """`{ __typename }` over fresh connections until each worker has answered it."""
    answered: dict[int, list[httpx.Response]] = {}
    for _ in range(TRIES):
        with httpx.Client(base_url=base, cookies=cookies, headers={CSRF_HEADER: csrf}) as client:
            response = client.post("/graphql", json={"query": "{ __typename }"})
            worker = worker_serving(response, server_pid)
        if worker is not None:
            answered.setdefault(worker, []).append(response)
        if len(answered) == 2:
            return answered
    raise AssertionError(f"only workers {sorted(answered)} answered in {TRIES} connections")


def test_a_revoked_session_is_refused_at_its_next_request_by_every_worker(
    database_url: str, tmp_path: Path
) -> None:
    env = environment(database_url)
    run_cdp(env, "migrate")
    with serving(env, tmp_path / "serve.log") as (base, server_pid):
        with httpx.Client(base_url=base) as browser:
            signed_in = browser.post("/auth/staff/dev", data={"role": "support"})
            assert signed_in.status_code == 200, signed_in.text
            session, cookies = signed_in.json(), httpx.Cookies(browser.cookies)
        before = ask_both_workers(base, server_pid, cookies, session["csrfToken"])
        for responses in before.values():
            for response in responses:
                assert response.status_code == 200, response.text
                assert response.json() == {"data": {"__typename": "Query"}}

        out = run_cdp(env, "staff", "revoke", session["id"])
        assert out.strip() == "cdp: revoked 1 staff session"

        after = ask_both_workers(base, server_pid, cookies, session["csrfToken"])
        for responses in after.values():
            for response in responses:
                assert response.status_code == 401, response.text
                [error] = response.json()["errors"]
                assert error["extensions"]["code"] == "UNAUTHENTICATED"
                assert error["extensions"]["reason"] == "REVOKED"
