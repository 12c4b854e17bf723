"""`cdp keys`: the keyring and the per-profile data keys."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from cdp.cli.common import keyring_or_exit, keys_app, progress_bar, settings_or_exit
from cdp.db import Database
from cdp.keys.rotation import KeyStatus, key_status, record_rotation, rewrap_pending


@keys_app.command("init")
def keys_init() -> None:
    """Create a development keyring at CDP_KEYRING (mode 0600) if there is none."""
    settings = settings_or_exit()
    existed = settings.keyring.exists()
    keyring_or_exit(settings)
    typer.echo(f"cdp: keyring {'present' if existed else 'created'} at {settings.keyring}")


@keys_app.command("status")
def keys_status() -> None:
    """Key versions in the keyring and how many data keys each one wraps."""
    settings = settings_or_exit()
    keyring = keyring_or_exit(settings).keyring

    async def run() -> KeyStatus:
        database = Database(settings)
        try:
            return await key_status(database, keyring)
        finally:
            await database.dispose()

    status = asyncio.run(run())
    kind = "development" if status.development else "production"
    typer.echo(f"keyring: {settings.keyring} ({kind}), active KEK version {status.active}")
    for version in status.versions:
        count = status.data_keys_by_version.get(version, 0)
        typer.echo(
            f"  v{version}: {count} data keys{'  (active)' if version == status.active else ''}"
        )
    typer.echo(f"pending rewrap: {status.pending}")


@keys_app.command("rotate")
def keys_rotate(
    batch_size: Annotated[int, typer.Option(min=1, max=10_000, help="Keys per transaction.")] = 500,
) -> None:
    """Add a KEK version and rewrap every data key under it (resumes an interrupted run)."""
    settings = settings_or_exit()
    source = keyring_or_exit(settings)

    async def run() -> None:
        database = Database(settings)
        try:
            keyring = source.keyring
            status = await key_status(database, keyring)
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
                    keyring,
                    batch_size=batch_size,
                    progress=lambda n: bar.advance(task, n),
                )
            typer.echo(
                f"cdp: rewrapped {done} data keys under KEK version {keyring.active_version}"
            )
        finally:
            await database.dispose()

    asyncio.run(run())
