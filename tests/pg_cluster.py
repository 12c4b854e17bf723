"""A throwaway PostgreSQL 15 cluster for the suite: initdb, start, stop, remove.

The server refuses to run as root, so as root every server command runs as `postgres`.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

CANDIDATE_BIN_DIRS = ("/usr/lib/postgresql/15/bin", "/usr/local/pgsql/bin")


def find_bin_dir() -> Path | None:
    configured = os.environ.get("CDP_TEST_PG_BIN")
    for candidate in ([configured] if configured else []) + list(CANDIDATE_BIN_DIRS):
        path = Path(candidate)
        if (path / "initdb").exists() and (path / "pg_ctl").exists():
            return path
    found = shutil.which("pg_ctl")
    return Path(found).parent if found and Path(found).with_name("initdb").exists() else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PgCluster:
    bin_dir: Path
    root: Path
    port: int
    options: str = ""

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> None:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    @classmethod
    def start(
        cls,
        bin_dir: Path,
        *,
        durable_commits: bool = False,
        durable: bool = False,
        settings: tuple[str, ...] = (),
    ) -> PgCluster:
        """`durable_commits`: a commit survives a crash of the server (synchronous_commit on);
        fsync stays off, which only an operating-system crash would notice. `durable`: as
        production runs (fsync, full-page writes and synchronous commit on), for the bench.
        `settings`: more `name=value` server settings (a Citus node's preloaded library)."""
        root = Path(tempfile.mkdtemp(prefix="cdp-pg-"))
        if os.geteuid() == 0:
            shutil.chown(root, "postgres", "postgres")
        cluster = cls(bin_dir=bin_dir, root=root, port=free_port())
        cluster._run(
            "initdb",
            "-D",
            str(cluster.data_dir),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        cluster.options = " ".join(
            (
                f"-p {cluster.port}",
                f"-k {root}",
                "-c listen_addresses=127.0.0.1",
                "-c max_connections=200",
                # A test cluster: durability is not what is being tested.
                "" if durable else "-c fsync=off -c full_page_writes=off",
                "" if durable_commits or durable else "-c synchronous_commit=off",
                *(f"-c {setting}" for setting in settings),
            )
        )
        cluster.start_server()
        return cluster

    @classmethod
    def standby_of(cls, primary: PgCluster) -> PgCluster:
        """A hot standby streaming from `primary` (pg_basebackup -R), started."""
        root = Path(tempfile.mkdtemp(prefix="cdp-pg-standby-"))
        if os.geteuid() == 0:
            shutil.chown(root, "postgres", "postgres")
        standby = cls(bin_dir=primary.bin_dir, root=root, port=free_port())
        standby._run(
            "pg_basebackup",
            "-D",
            str(standby.data_dir),
            "-h",
            "127.0.0.1",
            "-p",
            str(primary.port),
            "-U",
            "postgres",
            "-X",
            "stream",
            "-R",
            "--checkpoint=fast",  # not wait for the next spread checkpoint
            "--no-sync",
        )
        standby.options = " ".join(
            (
                f"-p {standby.port}",
                f"-k {root}",
                "-c listen_addresses=127.0.0.1",
                "-c hot_standby=on",
                "-c max_connections=200",  # at least the primary's, or it will not start
                "-c fsync=off",
            )
        )
        standby.start_server()
        return standby

    def _pg_ctl(self, *args: str) -> None:
        # The log file keeps the server's output off our pipes (which it would hold open).
        self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.root / "server.log"), *args)

    def start_server(self) -> None:
        self._pg_ctl("-o", self.options, "-w", "-t", "60", "start")

    def stop_server(self, mode: str = "fast") -> None:
        """Stop the server, keeping its data (`start_server` brings it back)."""
        self._pg_ctl("-m", mode, "-w", "-t", "60", "stop")

    def restart(self, mode: str = "fast") -> None:
        """`fast` ends every session and shuts down cleanly; `immediate` is a crash."""
        self._pg_ctl("-m", mode, "-w", "-t", "60", "restart")

    def stop(self) -> None:
        try:
            if (self.data_dir / "postmaster.pid").exists():  # not already stopped
                self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")
        finally:
            self.remove()

    def remove(self) -> None:
        """Remove the cluster's files. A session's cluster holds a database per test (gigabytes
        in hundreds of thousands of files by the end of the suite): they are renamed away at
        once and deleted by a detached `rm`, so the suite does not wait a minute for the disk."""
        if not self.root.exists():
            return
        doomed = self.root.with_name(self.root.name + ".removing")
        try:
            self.root.rename(doomed)
            subprocess.Popen(
                ["rm", "-rf", str(doomed)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError:
            shutil.rmtree(self.root, ignore_errors=True)
