"""Servers under test, each its own uvicorn process on loopback: `cdp serve` itself, or a
bench factory (`bench.apps`) for the variants and the hand-written endpoint."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass

import httpx

from tests.pg_cluster import free_port


@dataclass(frozen=True)
class Server:
    name: str
    port: int


def server_environment(base: Mapping[str, str]) -> dict[str, str]:
    """The process environment for a bench server: no rate limit, quiet logs."""
    return {
        **os.environ,
        **base,
        "CDP_RATE_LIMIT_PER_MINUTE": "0",
        "CDP_LOG_LEVEL": "WARNING",
    }


def command_for(kind: str, port: int, workers: int) -> list[str]:
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


def _wait_ready(process: subprocess.Popen[bytes], port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        with suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
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


@contextmanager
def running(
    specs: Mapping[str, tuple[str, int]], environment: Mapping[str, str]
) -> Iterator[dict[str, Server]]:
    """Start every server of `specs` (name -> (kind, workers)) and stop them all after."""
    env = server_environment(environment)
    started: list[subprocess.Popen[bytes]] = []
    servers: dict[str, Server] = {}
    try:
        for name, (kind, workers) in specs.items():
            port = free_port()
            # A file, not a pipe: a chatty server must never block on a full pipe.
            log = tempfile.TemporaryFile()  # noqa: SIM115 (closed with the process)
            process = subprocess.Popen(
                command_for(kind, port, workers),
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,
            )
            started.append(process)
            try:
                _wait_ready(process, port)
            except RuntimeError as exc:
                _stop(process)
                log.seek(0)
                error = log.read().decode(errors="replace")[-2000:]
                raise RuntimeError(f"{name}: {exc}\n{error}") from None
            servers[name] = Server(name, port)
        yield servers
    finally:
        for process in started:
            _stop(process)
