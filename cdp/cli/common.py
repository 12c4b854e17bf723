"""What every `cdp` command shares: the app, settings and keyring or a one-line exit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cdp.config import ConfigError, Settings, load_settings
from cdp.db import Database
from cdp.keys.source import KeyringSource, load_keyring
from cdp.keys.store import KeyStore

app = typer.Typer(help="cdp: the customer-data platform.", no_args_is_help=True)
keys_app = typer.Typer(help="The keyring and the per-profile data keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
service_account_app = typer.Typer(help="Services' client credentials.", no_args_is_help=True)
app.add_typer(service_account_app, name="service-account")
staff_app = typer.Typer(
    help="Staff sessions: the live ones, and revoking them.", no_args_is_help=True
)
app.add_typer(staff_app, name="staff")


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        typer.echo(f"cdp: {exc}", err=True)
        raise typer.Exit(2) from None


def keyring_or_exit(settings: Settings) -> KeyringSource:
    """The keyring, once the key store's place is known too (production must name it)."""
    try:
        source = load_keyring(settings)
        settings.keystore_database_url  # noqa: B018  (raises for a production without one)
        return source
    except ConfigError as exc:
        typer.echo(f"cdp: {exc}", err=True)
        raise typer.Exit(2) from None


@asynccontextmanager
async def stores(
    settings: Settings, database: Database | None = None
) -> AsyncIterator[tuple[Database, KeyStore]]:
    """The database (`database`, or one for `settings`) and the key store for one command,
    both disposed of when it ends."""
    database, store = database or Database(settings), KeyStore(settings)
    try:
        yield database, store
    finally:
        await database.dispose()
        await store.dispose()


def progress_bar(label: str) -> Progress:
    return Progress(
        TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=False
    )
