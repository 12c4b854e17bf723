"""Servers under test, each its own process on loopback: `cdp serve` itself, a bench factory
(`bench.apps`, under uvicorn) for the variants and the hand-written endpoints, or a peer's own
command (PostGraphile, `bench.postgraphile`)."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.load import Workload
from cdp.auth import Role, issue_token
from cdp.config import Settings
from cdp.crypto import Keyring
from tests.pg_cluster import free_port


@dataclass(frozen=True)
class Server:
    name: str
    port: int
    group: int = 0  # its process group (the process and its workers); 0: not known


def cpu_seconds(server: Server) -> float:
    """CPU time (user and system) spent so far by the server's processes: those of its
    process group, from /proc (NaN where there is none). Under contention from other work a
    fairer measure of what a request costs than its throughput."""
    if not server.group or not Path("/proc/self/stat").exists():
        return math.nan
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # After the command's closing parenthesis: state, ppid, pgrp, ... utime, stime.
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == server.group:
            total += int(fields[11]) + int(fields[12])
    return total / tick


@dataclass(frozen=True)
class External:
    """A peer's own server: its command for a port, ready once anything answers over HTTP."""

    command: Callable[[int], Sequence[str]]


Spec = tuple[str, int] | External  # (kind, workers) for cdp and bench.apps, or a peer


def server_environment(base: Mapping[str, str]) -> dict[str, str]:
    """The process environment for a bench server: no rate limit, quiet logs."""
    return {
        **os.environ,
        **base,
        "CDP_RATE_LIMIT_PER_MINUTE": "0",
        "CDP_LOG_LEVEL": "WARNING",
    }


def command_for(kind: str, workers: int, port: int) -> list[str]:
    """`cdp` runs `cdp serve`; any other kind is a factory in bench.apps."""
    if kind == "cdp":
        return [
            sys.executable,
            "-m",
            "cdp",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ]
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        f"bench.apps:{kind}",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
    ]


def _wait_ready(
    process: subprocess.Popen[bytes], port: int, any_answer: bool, timeout: float = 60
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        with suppress(httpx.HTTPError):
            status = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code
            if status == 200 or any_answer:
                return
        time.sleep(0.2)
    raise RuntimeError(f"server on port {port} not ready in {timeout} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group we created (uvicorn's workers with it), then SIGKILL."""
    if process.poll() is not None:
        return
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)


@dataclass(frozen=True)
class Setup:
    settings: Settings
    keyring: Keyring
    dsn: str  # asyncpg form

    @property
    def environment(self) -> dict[str, str]:
        return {
            "CDP_DATABASE_URL": self.settings.database_url,
            "CDP_KEYRING": str(self.settings.keyring),
            "CDP_KEYSTORE_URL": self.settings.keystore_database_url,
            "CDP_JWT_SECRET": self.settings.jwt_secret.get_secret_value(),
        }

    def token(self, role: Role, subject: str) -> str:
        return "Bearer " + issue_token(self.settings, role=role, subject=subject, ttl_seconds=86400)


def answer(server: Server, workload: Workload) -> dict[str, object]:
    """One request, checked: the load generators only see HTTP status codes."""
    text = workload.template.replace("@N@", "check").replace(
        "@PICK@", workload.picks[0] if workload.picks else ""
    )
    response = httpx.post(
        f"http://127.0.0.1:{server.port}{workload.path}",
        content=text.encode(),
        headers={"content-type": "application/json"}
        | ({"authorization": workload.authorization} if workload.authorization else {}),
        timeout=30,
    )
    try:
        payload: dict[str, object] = response.json()
    except ValueError:
        payload = {"body": response.text}
    if response.status_code != 200 or "errors" in payload:
        raise RuntimeError(f"{server.name} answered {response.status_code}: {str(payload)[:500]}")
    return payload


@contextmanager
def running(
    specs: Mapping[str, Spec], environment: Mapping[str, str]
) -> Iterator[dict[str, Server]]:
    """Start every server of `specs` (name -> (kind, workers) or a peer's External) and stop
    them all after."""
    env = server_environment(environment)
    started: list[subprocess.Popen[bytes]] = []
    servers: dict[str, Server] = {}
    try:
        for name, spec in specs.items():
            port = free_port()
            # A file, not a pipe: a chatty server must never block on a full pipe.
            log = tempfile.TemporaryFile()  # noqa: SIM115 (closed with the process)
            if isinstance(spec, External):
                command = list(spec.command(port))
            else:
                command = command_for(*spec, port)
            process = subprocess.Popen(
                command,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,
            )
            started.append(process)
            try:
                _wait_ready(process, port, isinstance(spec, External))
            except RuntimeError as exc:
                _stop(process)
                log.seek(0)
                error = log.read().decode(errors="replace")[-2000:]
                raise RuntimeError(f"{name}: {exc}\n{error}") from None
            servers[name] = Server(name, port, process.pid)
        yield servers
    finally:
        for process in started:
            _stop(process)
