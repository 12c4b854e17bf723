"""`cdp keys`: the keyring, the key store and the per-profile data keys."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer

from cdp.cli.common import keyring_or_exit, keys_app, progress_bar, settings_or_exit, stores
from cdp.config import Settings
from cdp.crypto import Keyring
from cdp.db import Database
from cdp.keys.rotation import (
    KeyStatus,
    RetirementRefused,
    key_status,
    record_rotation,
    retire_version,
    rewrap_pending,
)
from cdp.keys.store import KeyStore

T = TypeVar("T")


def with_stores(settings: Settings, work: Callable[[Database, KeyStore], Awaitable[T]]) -> T:
    """Run `work` with the database and the key store, disposing of both afterwards."""

    async def run() -> T:
        async with stores(settings) as (database, store):
            return await work(database, store)

    return asyncio.run(run())


@keys_app.command("init")
def keys_init(
    production: Annotated[
        bool,
        typer.Option(
            "--production", help="Create a production keyring (refuses to replace any keyring)."
        ),
    ] = False,
) -> None:
    """Create the keyring at CDP_KEYRING (mode 0600) if there is none, and create or upgrade
    the key store at CDP_KEYSTORE_URL."""
    settings = settings_or_exit()
    path = settings.keyring
    existed = path.exists()
    if production:
        if existed:
            typer.echo(f"cdp: a keyring exists at {path}: not replaced", err=True)
            raise typer.Exit(1)
        Keyring.generate(development=False).save(path)
    keyring_or_exit(settings)

    async def upgrade(_database: Database, store: KeyStore) -> int:
        return await store.upgrade()

    before = with_stores(settings, upgrade)
    made = "present" if existed else f"created ({'production' if production else 'development'})"
    typer.echo(f"cdp: keyring {made} at {path}")
    typer.echo(f"cdp: key store {'created' if before == 0 else 'ready'}")


def print_status(settings: Settings, status: KeyStatus) -> None:
    kind = "development" if status.development else "production"
    typer.echo(f"keyring: {settings.keyring} ({kind}), active KEK version {status.active}")
    for version in status.versions:
        count = status.data_keys_by_version.get(version, 0)
        if version == status.active:
            note = "  (active)"
        elif count:
            note = f"  (retire blocked: {count} data keys to rewrap)"
        else:
            note = f"  (can be retired: cdp keys retire {version})"
        typer.echo(f"  v{version}: {count} data keys{note}")
    unknown = sorted(set(status.data_keys_by_version) - set(status.versions))
    for version in unknown:
        count = status.data_keys_by_version[version]
        typer.echo(f"  v{version}: {count} data keys  (NOT in the keyring: unreadable)")
    typer.echo(f"pending rewrap: {status.pending}")


@keys_app.command("status")
def keys_status() -> None:
    """Key versions in the keyring, how many data keys each wraps, and what blocks
    retiring each old version."""
    settings = settings_or_exit()
    keyring = keyring_or_exit(settings).keyring

    async def status(_database: Database, store: KeyStore) -> KeyStatus:
        return await key_status(store, keyring)

    print_status(settings, with_stores(settings, status))


@keys_app.command("rotate")
def keys_rotate(
    batch_size: Annotated[int, typer.Option(min=1, max=10_000, help="Keys per transaction.")] = 500,
) -> None:
    """Add a KEK version and rewrap every data key under it (resumes an interrupted run)."""
    settings = settings_or_exit()
    source = keyring_or_exit(settings)

    async def rotate(database: Database, store: KeyStore) -> None:
        keyring = source.keyring
        status = await key_status(store, keyring)
        if status.pending:
            typer.echo(f"cdp: resuming: {status.pending} data keys still to rewrap")
        else:
            keyring = keyring.with_new_version()
            keyring.save(settings.keyring)
            await record_rotation(database, keyring)
            typer.echo(f"cdp: added KEK version {keyring.active_version}")
        total = sum(status.data_keys_by_version.values())
        with progress_bar("rewrapping data keys") as bar:
            task = bar.add_task("rewrap", total=total if not status.pending else status.pending)
            done = await rewrap_pending(
                database,
                store,
                keyring,
                batch_size=batch_size,
                progress=lambda n: bar.advance(task, n),
            )
        typer.echo(f"cdp: rewrapped {done} data keys under KEK version {keyring.active_version}")

    with_stores(settings, rotate)


@keys_app.command("retire")
def keys_retire(
    version: Annotated[int, typer.Argument(help="The KEK version to destroy.")],
) -> None:
    """Destroy an old KEK version once no data key is wrapped by it: key-store backups whose
    keys it wrapped become unreadable as a whole."""
    settings = settings_or_exit()
    keyring = keyring_or_exit(settings).keyring

    async def retire(database: Database, store: KeyStore) -> Keyring:
        return await retire_version(
            database, store, keyring, path=settings.keyring, version=version
        )

    try:
        retired = with_stores(settings, retire)
    except RetirementRefused as exc:
        typer.echo(f"cdp: not retired: {exc}", err=True)
        raise typer.Exit(1) from None
    versions = ", ".join(f"v{v}" for v in sorted(retired.keks))
    typer.echo(f"cdp: KEK version {version} retired; the keyring holds {versions}")
