"""Fixtures: every database-facing test runs on SQLite and on a throwaway PostgreSQL 15."""

from __future__ import annotations

import asyncio
import atexit
import itertools
import os
import shutil
import tempfile
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from cdp.app import create_app
from cdp.auth import Role, issue_token
from cdp.config import Settings, load_settings
from cdp.crypto import Keyring
from cdp.db import Database
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.keys.vault import Vault
from cdp.migrations import upgrade_to_head
from cdp.unit_of_work import audited_transaction, operator_trail
from tests.pg_cluster import PgCluster, find_bin_dir
from tests.support.citus import CitusCluster, copy_database, ensure_citus, freeze_template

# Fixtures shared by several test modules live in these plugin modules.
pytest_plugins = [
    "tests.support.analytics_measures",
    "tests.support.analytics_seed",
    "tests.support.audit_log",
    "tests.support.erasure_people",
    "tests.support.limits",
    "tests.support.oidc_provider",
    "tests.wechat.browser",
]

TEST_JWT_SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"
# One keyring for the whole run, written once to a private temporary file.
TEST_KEYRING = Keyring.generate(development=False)
_KEYRING_DIR = Path(tempfile.mkdtemp(prefix="cdp-test-keyring-"))
TEST_KEYRING_PATH = _KEYRING_DIR / "keyring.json"
TEST_KEYRING.save(TEST_KEYRING_PATH)
atexit.register(shutil.rmtree, _KEYRING_DIR, ignore_errors=True)
BACKENDS = ("sqlite", "postgresql")
# Modules marked `citus` run on a Citus cluster too (a coordinator and two workers).
CITUS = "citus"


def _shared_keystore() -> None:
    # The key store beside the test keyring (the default for settings that name none, as a
    # `cdp` subprocess given only CDP_KEYRING has), ready like every other.
    store = KeyStore(load_settings({}, keyring=TEST_KEYRING_PATH))

    async def upgrade() -> None:
        try:
            await store.upgrade()
        finally:
            await store.dispose()

    asyncio.run(upgrade())


_shared_keystore()
_counter = itertools.count()


# The key store of each test's database (filled by the `database_url` fixture), so that
# settings built by hand for that database find it too.
KEYSTORES: dict[str, str] = {}


def make_settings(database_url: str, **overrides: Any) -> Settings:
    # A generous time limit: a loaded CI machine must not fail an ordinary test; the tests of
    # the limit itself set theirs.
    values = {
        "jwt_secret": TEST_JWT_SECRET,
        "keyring": TEST_KEYRING_PATH,
        "operation_timeout_seconds": 60.0,
        # No outbox worker in the app's lifespan: the activation tests drive their own.
        "outbox_poll_seconds": 0.0,
        **overrides,
    }
    if database_url in KEYSTORES:
        values.setdefault("keystore_url", KEYSTORES[database_url])
    return load_settings({}, database_url=database_url, **values)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster | None]:
    bin_dir = find_bin_dir()
    if bin_dir is None:
        message = (
            "\n" + "!" * 78 + "\n!! PostgreSQL server binaries not found: PostgreSQL tests are "
            "SKIPPED.\n!! Install postgresql-15 to test the production database.\n" + "!" * 78
        )
        warnings.warn(message, stacklevel=1)
        print(message)
        yield None
        return
    cluster = PgCluster.start(bin_dir)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def citus_cluster() -> Iterator[CitusCluster | None]:
    bin_dir = find_bin_dir()
    why = "no PostgreSQL server binaries" if bin_dir is None else ensure_citus(bin_dir)
    if why is not None or bin_dir is None:
        message = f"!! Citus tests SKIPPED: {why}"
        warnings.warn(message, stacklevel=1)
        print("\n" + message)
        yield None
        return
    cluster = CitusCluster.start(bin_dir)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def citus_template(citus_cluster: CitusCluster | None) -> str | None:
    """A migrated (and so distributed) database on the cluster, frozen to be copied."""
    if citus_cluster is None:
        return None
    name = "cdp_citus_template"
    url = asyncio.run(citus_cluster.create_database(name))
    upgrade_to_head(make_settings(url))
    asyncio.run(freeze_template(citus_cluster, name))
    return name


@pytest.fixture(scope="session")
def citus_keystore_template(citus_cluster: CitusCluster | None) -> str | None:
    # The key store is a plain database (no extension) on the coordinator, apart from the data.
    if citus_cluster is None:
        return None
    return _keystore_template(citus_cluster.coordinator)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" not in metafunc.fixturenames:
        return
    backends: list[Any] = list(BACKENDS)
    if metafunc.definition.get_closest_marker(CITUS):
        backends.append(pytest.param(CITUS, marks=pytest.mark.slow))
    metafunc.parametrize("backend", backends, indirect=True)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    upgrade_to_head(make_settings(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def pg_template(pg_cluster: PgCluster | None) -> str | None:
    if pg_cluster is None:
        return None

    async def create() -> None:
        conn = await asyncpg.connect(host="127.0.0.1", port=pg_cluster.port, user="postgres")
        try:
            await conn.execute("CREATE DATABASE cdp_template")
        finally:
            await conn.close()

    asyncio.run(create())
    upgrade_to_head(make_settings(pg_cluster.url("cdp_template")))
    return "cdp_template"


async def fresh_pg_database(cluster: PgCluster, template: str | None) -> str:
    name = f"cdp_test_{os.getpid()}_{next(_counter)}"
    conn = await asyncpg.connect(host="127.0.0.1", port=cluster.port, user="postgres")
    try:
        await conn.execute(
            f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else "")
        )
    finally:
        await conn.close()
    return cluster.url(name)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The database of the test: sqlite, postgresql, or citus (modules marked `citus`)."""
    if request.param == "postgresql":
        if request.getfixturevalue("pg_cluster") is None:
            pytest.skip("PostgreSQL server binaries not found (see the warning above)")
        # Made here, outside the event loop that runs the async fixtures which copy them.
        request.getfixturevalue("pg_template")
        request.getfixturevalue("pg_keystore_template")
    if request.param == CITUS:
        if request.getfixturevalue("citus_cluster") is None:
            pytest.skip("Citus is not installed (see the warning above)")
        request.getfixturevalue("citus_template")
        request.getfixturevalue("citus_keystore_template")
    return str(request.param)


def pg_backend(backend: str) -> bool:
    """Whether the test's database is PostgreSQL (one node or a Citus coordinator)."""
    return backend != "sqlite"


@pytest.fixture
async def database_url(
    request: pytest.FixtureRequest,
    backend: str,
    tmp_path: Path,
    sqlite_template: Path,
    keystore_url: str,
) -> str:
    """A migrated, empty database of the test's backend, private to the test (with a key
    store of its own: `make_settings` finds it)."""
    if backend == "sqlite":
        path = tmp_path / "cdp.db"
        shutil.copyfile(sqlite_template, path)
        url = f"sqlite+aiosqlite:///{path}"
    elif backend == CITUS:
        cluster = request.getfixturevalue("citus_cluster")
        template = request.getfixturevalue("citus_template")
        url = await copy_database(cluster, template, f"cdp_test_{os.getpid()}_{next(_counter)}")
    else:
        pg_cluster = request.getfixturevalue("pg_cluster")
        assert pg_cluster is not None
        url = await fresh_pg_database(pg_cluster, request.getfixturevalue("pg_template"))
    KEYSTORES[url] = keystore_url
    return url


@pytest.fixture(scope="session")
def sqlite_keystore_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keystore-template") / "keystore.db"
    asyncio.run(upgrade_keystore(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def pg_keystore_template(pg_cluster: PgCluster | None) -> str | None:
    if pg_cluster is None:
        return None
    return _keystore_template(pg_cluster)


def _keystore_template(cluster: PgCluster) -> str:
    async def create() -> None:
        conn = await asyncpg.connect(host="127.0.0.1", port=cluster.port, user="postgres")
        try:
            await conn.execute("CREATE DATABASE cdp_keystore_template")
        finally:
            await conn.close()
        await upgrade_keystore(cluster.url("cdp_keystore_template"))

    asyncio.run(create())
    return "cdp_keystore_template"


async def upgrade_keystore(url: str) -> None:
    store = KeyStore(make_settings(url), url)
    try:
        await store.upgrade()
    finally:
        await store.dispose()


@pytest.fixture
async def keystore_url(
    request: pytest.FixtureRequest,
    backend: str,
    tmp_path: Path,
    sqlite_keystore_template: Path,
) -> str:
    """A key store of the test's backend, private to the test, apart from its database."""
    if backend == "sqlite":
        path = tmp_path / "keystore.db"
        shutil.copyfile(sqlite_keystore_template, path)
        return f"sqlite+aiosqlite:///{path}"
    if backend == CITUS:
        cluster = request.getfixturevalue("citus_cluster").coordinator
        template = request.getfixturevalue("citus_keystore_template")
    else:
        cluster = request.getfixturevalue("pg_cluster")
        template = request.getfixturevalue("pg_keystore_template")
    assert cluster is not None
    return await fresh_pg_database(cluster, template)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
async def keystore(settings: Settings) -> AsyncIterator[KeyStore]:
    store = KeyStore(settings)
    try:
        yield store
    finally:
        await store.dispose()


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    db = Database(settings)
    try:
        yield db
    finally:
        await db.dispose()


def audited(database: Database) -> Any:
    """A transaction audited as a test operator, for tests that call services directly."""
    return audited_transaction(database, operator_trail(TEST_KEYRING, "test-operator"))


@pytest.fixture
def vault(keystore: KeyStore) -> Vault:
    """A vault over the test keyring and key store, for tests that call services directly."""
    return Vault(KeyringSource.fixed(TEST_KEYRING), keystore)


ClientFactory = Callable[..., httpx.AsyncClient]


@pytest.fixture
async def client_for(
    settings: Settings, database: Database, keystore: KeyStore
) -> AsyncIterator[ClientFactory]:
    """`client_for(role, subject=None)`: an HTTP client carrying that role's bearer token."""
    app = create_app(settings, database, KeyringSource.fixed(TEST_KEYRING), keystore)
    clients: list[httpx.AsyncClient] = []

    def make(role: Role | None, subject: str | None = None) -> httpx.AsyncClient:
        headers = {}
        if role is not None:
            token = issue_token(settings, role=role, subject=subject or f"{role.value}-test")
            headers["authorization"] = f"Bearer {token}"
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://cdp.test", headers=headers
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
def service_client(client_for: ClientFactory) -> httpx.AsyncClient:
    return client_for(Role.SERVICE)


@pytest.fixture
def support_client(client_for: ClientFactory) -> httpx.AsyncClient:
    return client_for(Role.SUPPORT)


@pytest.fixture
def compliance_client(client_for: ClientFactory) -> httpx.AsyncClient:
    return client_for(Role.COMPLIANCE)


@pytest.fixture
def analyst_client(client_for: ClientFactory) -> httpx.AsyncClient:
    return client_for(Role.ANALYST)


Gql = Callable[..., Awaitable[dict[str, Any]]]


async def gql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    status: int = 200,
) -> dict[str, Any]:
    """POST a GraphQL document; asserts the HTTP status and returns the JSON body."""
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def error_codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors", [])]
