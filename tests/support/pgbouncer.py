"""Debian's PgBouncer in front of a test cluster, in transaction mode: found on PATH or
installed with apt-get when the suite runs as root; run as `postgres` (it refuses root)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from tests.pg_cluster import PgCluster, free_port
from tests.support.debian import find_or_install

CANDIDATES = ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer")


def _found() -> str | None:
    for candidate in CANDIDATES:
        if Path(candidate).exists():
            return candidate
    return shutil.which("pgbouncer")


def find_or_install_pgbouncer() -> tuple[str | None, str]:
    """The pgbouncer binary, or None and why not."""
    return find_or_install("pgbouncer", _found)


@contextmanager
def pgbouncer(binary: str, cluster: PgCluster, *, server_connections: int = 2) -> Iterator[int]:
    """PgBouncer on a free loopback port, pooling `server_connections` per database and user
    in transaction mode (fewer than the clients, so consecutive transactions of one client
    run on different server connections); yields its port."""
    root = Path(tempfile.mkdtemp(prefix="cdp-pgbouncer-"))
    port = free_port()
    (root / "users.txt").write_text('"postgres" ""\n', encoding="utf-8")
    (root / "pgbouncer.ini").write_text(
        "\n".join(
            (
                "[databases]",
                f"* = host=127.0.0.1 port={cluster.port}",
                "[pgbouncer]",
                "listen_addr = 127.0.0.1",
                f"listen_port = {port}",
                "unix_socket_dir =",
                "auth_type = trust",
                f"auth_file = {root / 'users.txt'}",
                "pool_mode = transaction",
                f"default_pool_size = {server_connections}",
                "max_client_conn = 500",
                f"logfile = {root / 'pgbouncer.log'}",
                f"pidfile = {root / 'pgbouncer.pid'}",
                "",
            )
        ),
        encoding="utf-8",
    )
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        for name in ("users.txt", "pgbouncer.ini"):
            shutil.chown(root / name, "postgres", "postgres")
    command = [binary, "-d", str(root / "pgbouncer.ini")]
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    subprocess.run(command, check=True, capture_output=True, timeout=60)
    try:
        deadline = time.monotonic() + 10
        while not (root / "pgbouncer.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        yield port
    finally:
        pid_file = root / "pgbouncer.pid"
        if pid_file.exists():
            with suppress(OSError, ValueError):
                os.kill(int(pid_file.read_text().strip()), 15)
        shutil.rmtree(root, ignore_errors=True)
