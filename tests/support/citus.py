"""A throwaway Citus cluster for the suite: a coordinator and two workers on loopback, each a
PostgreSQL 15 cluster run as `postgres` with `shared_preload_libraries = 'citus'`.

Citus is not packaged by Debian: where it is missing, the project's `scripts/build-citus.sh`
builds and installs it from the vendored release source beside the repository
(`../shared/vendor/citus-13.2.2.tar.gz`, found by walking up), with the patch newer PostgreSQL
15 headers need (the vendor's own `build-citus.sh` when they need none); where the source is
absent or the build fails, the Citus tests are skipped with one loud line.
"""

from __future__ import annotations

import asyncio
import fcntl
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from tests.pg_cluster import PgCluster

BUILD_SCRIPT = Path("shared") / "vendor" / "build-citus.sh"
PROJECT_BUILD_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "build-citus.sh"
HOW_TO_INSTALL = (
    "install Citus 13 for PostgreSQL 15 (Citus's packages, e.g. postgresql-15-citus-13.2 from "
    "https://packagecloud.io/citusdata/community) or put the vendor folder with "
    "build-citus.sh at ../shared/vendor beside the repository"
)
# Few shards keep a test database quick to create; the bench uses Citus's default of 32.
TEST_SHARD_COUNT = 8


def find_build_script(start: Path | None = None) -> Path | None:
    """`shared/vendor/build-citus.sh` in the nearest parent of `start` that has one."""
    here = (start or Path(__file__)).resolve()
    for parent in here.parents:
        candidate = parent / BUILD_SCRIPT
        if candidate.is_file():
            return candidate
    return None


def citus_installed(bin_dir: Path) -> bool:
    try:
        done = subprocess.run(
            [str(bin_dir / "pg_config"), "--pkglibdir"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return (Path(done.stdout.strip()) / "citus.so").is_file()


def ensure_citus(bin_dir: Path) -> str | None:
    """None when Citus is installed (building it from the vendored source if need be), else
    why it is not, with how to install it."""
    if citus_installed(bin_dir):
        return None
    vendor = find_build_script()
    if vendor is None:
        return f"Citus is not installed and no {BUILD_SCRIPT} was found: {HOW_TO_INSTALL}"
    # The project's script patches what these headers need and hands the rest to the vendor's.
    script = PROJECT_BUILD_SCRIPT if PROJECT_BUILD_SCRIPT.is_file() else vendor
    lock_path = Path(tempfile.gettempdir()) / "cdp-citus-build.lock"
    # Two test workers may get here at once: one builds, the other waits and finds it.
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not citus_installed(bin_dir):
            try:
                done = subprocess.run(
                    ["bash", str(script)], capture_output=True, text=True, timeout=1800
                )
            except (OSError, subprocess.TimeoutExpired) as error:
                return f"{script} did not finish ({error}): {HOW_TO_INSTALL}"
            if not citus_installed(bin_dir):
                last = (done.stdout.strip().splitlines() or ["no output"])[-1]
                return f"{script} failed ({last}): {HOW_TO_INSTALL}"
    return None


async def _execute(port: int, database: str, *statements: str) -> None:
    conn = await asyncpg.connect(host="127.0.0.1", port=port, user="postgres", database=database)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@dataclass
class CitusCluster:
    """A coordinator and its workers; a database of the cluster exists on every node, with
    the extension and the node list, before anything is distributed in it."""

    coordinator: PgCluster
    workers: tuple[PgCluster, ...]

    @classmethod
    def start(
        cls, bin_dir: Path, *, workers: int = 2, shard_count: int = TEST_SHARD_COUNT, **kwargs: bool
    ) -> CitusCluster:
        settings = (
            "shared_preload_libraries=citus",
            # Citus commits a transaction over several nodes in two phases.
            "max_prepared_transactions=200",
            f"citus.shard_count={shard_count}",
        )
        started: list[PgCluster] = []
        try:
            for _ in range(workers + 1):
                started.append(PgCluster.start(bin_dir, settings=settings, **kwargs))
        except BaseException:
            for node in started:
                node.stop()
            raise
        return cls(coordinator=started[0], workers=tuple(started[1:]))

    @property
    def nodes(self) -> tuple[PgCluster, ...]:
        return (self.coordinator, *self.workers)

    def url(self, database: str) -> str:
        return self.coordinator.url(database)

    async def create_database(self, name: str) -> str:
        """A database named `name` on every node, Citus in each, the workers registered with
        the coordinator; returns its URL on the coordinator."""
        for node in self.nodes:
            await _execute(node.port, "postgres", f"CREATE DATABASE {name}")
        await asyncio.gather(
            *(_execute(node.port, name, "CREATE EXTENSION citus") for node in self.nodes)
        )
        await _execute(
            self.coordinator.port,
            name,
            f"SELECT citus_set_coordinator_host('127.0.0.1', {self.coordinator.port})",
            *(f"SELECT citus_add_node('127.0.0.1', {worker.port})" for worker in self.workers),
        )
        return self.url(name)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


async def freeze_template(cluster: CitusCluster, name: str) -> None:
    """Make `name` a template on every node: no connections (Citus's maintenance daemon and
    the coordinator's cached connections to the workers hold it open otherwise)."""
    for node in cluster.nodes:
        await _execute(
            node.port,
            "postgres",
            f"ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false",
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{name}' AND pid <> pg_backend_pid()",
        )


async def copy_database(cluster: CitusCluster, template: str, name: str) -> str:
    """A copy of the frozen `template` under `name` on every node (the coordinator's shard
    placements name the same database on each worker); its URL on the coordinator."""
    for attempt in range(50):
        try:
            await asyncio.gather(
                *(
                    _execute(node.port, "postgres", f"CREATE DATABASE {name} TEMPLATE {template}")
                    for node in cluster.nodes
                )
            )
            break
        except asyncpg.ObjectInUseError:
            # A backend of the template still ending: drop what was made and try again.
            if attempt == 49:
                raise
            for node in cluster.nodes:
                await _execute(node.port, "postgres", f"DROP DATABASE IF EXISTS {name}")
            await freeze_template(cluster, template)
            await asyncio.sleep(0.1)
    return cluster.url(name)
