"""Debian's redis-server for the suite: found on PATH or installed with apt-get when the suite
runs as root; started on a free loopback port with nothing persisted, stopped and started
again by the tests that take it away mid-test."""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.pg_cluster import free_port

LOCK = Path(tempfile.gettempdir()) / "cdp-redis-install.lock"


def find_or_install_redis() -> tuple[str | None, str]:
    """The redis-server binary, or None and why not."""
    path = shutil.which("redis-server")
    if path:
        return path, "found"
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return None, "redis-server is not installed and apt-get cannot run here (not root?)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}

    def apt(*args: str) -> None:
        subprocess.run(["apt-get", *args], env=env, capture_output=True, timeout=600)

    with LOCK.open("w") as lock:  # two test workers: one installs, the other finds it
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not shutil.which("redis-server"):
            apt("install", "-y", "-q", "redis-server")
        if not shutil.which("redis-server"):
            apt("update", "-q")
            apt("install", "-y", "-q", "redis-server")
    path = shutil.which("redis-server")
    return (path, "installed") if path else (None, "apt-get install redis-server failed")


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
