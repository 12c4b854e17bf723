"""Debian's redis-server for the suite: found on PATH or installed with apt-get when the suite
runs as root; started on a free loopback port with nothing persisted, stopped and started
again by the tests that take it away mid-test."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest
from pydantic import SecretStr

from cdp.config import Settings
from cdp.db import Database
from cdp.token_cache import token_cache_for
from tests.pg_cluster import free_port
from tests.support.debian import find_or_install


def find_or_install_redis() -> tuple[str | None, str]:
    """The redis-server binary, or None and why not."""
    return find_or_install("redis-server", lambda: shutil.which("redis-server"))


class RedisServer:
    """One redis-server process on loopback; `stop()` and `start()` take it away and back."""

    def __init__(self, binary: str) -> None:
        self.binary, self.port = binary, free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    """A redis-server of the module's own (skipped, saying why, when none can be had)."""
    binary, why = find_or_install_redis()
    if binary is None:
        pytest.skip(why)
    server = RedisServer(binary)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@asynccontextmanager
async def database_with_redis(settings: Settings, server: RedisServer) -> AsyncIterator[Database]:
    """The test's database as a deployment with `server` for Redis sees it; Redis emptied and
    its token client closed after."""
    database = Database(settings.model_copy(update={"redis_url": SecretStr(server.url)}))
    try:
        yield database
    finally:
        cache = token_cache_for(database)
        assert cache is not None
        await cache.redis.flushdb()
        await cache.aclose()
        await database.dispose()
