"""`cdp service-account`: the client credentials of backend services (create, rotate,
revoke, list). Works in production: this is how production's services get their tokens."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from cdp.cli.common import keyring_or_exit, service_account_app, settings_or_exit
from cdp.config import Settings
from cdp.db import Database, as_utc
from cdp.errors import CdpError, ErrorCode
from cdp.staff.service_accounts import (
    ClientCredentials,
    create_account,
    list_accounts,
    revoke_account,
    rotate_secret,
)
from cdp.staff.token_endpoint import PATH
from cdp.unit_of_work import audited_transaction, operator_trail

T = TypeVar("T")
Name = Annotated[str, typer.Argument(help="The account's name: 1-64 of [a-z0-9-].")]


def audited_work(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in one transaction audited as the operator; a refusal is one line on
    stderr and exit 2 for bad input, 1 otherwise (an unknown name, a name taken)."""
    keyring = keyring_or_exit(settings).keyring

    async def run() -> T:
        database = Database(settings)
        try:
            async with audited_transaction(database, operator_trail(keyring)) as session:
                return await work(session)
        finally:
            await database.dispose()

    try:
        return asyncio.run(run())
    except CdpError as exc:
        typer.echo(f"cdp: {exc.message}", err=True)
        raise typer.Exit(2 if exc.code is ErrorCode.BAD_USER_INPUT else 1) from None


def print_credentials(settings: Settings, credentials: ClientCredentials, *, new: bool) -> None:
    if new:
        typer.echo(f"client_id:     {credentials.client_id}")
    typer.echo(f"client_secret: {credentials.client_secret}")
    typer.echo("")
    typer.echo("The secret is shown this once and kept only as a hash: store it now, in the")
    typer.echo("service's secret store. Exchange the pair for a token (OAuth 2.0 client")
    ttl = settings.service_token_ttl_seconds
    typer.echo(f"credentials; the token is good for {ttl} seconds), then send it as a bearer:")
    typer.echo(
        f"  curl -s -u '{credentials.client_id}:<client_secret>'"
        f" -d grant_type=client_credentials https://<cdp host>{PATH}"
    )
    typer.echo("  Authorization: Bearer <access_token>")


@service_account_app.command("create")
def create(name: Name) -> None:
    """Create an account and print its client id and secret (shown once)."""
    settings = settings_or_exit()
    made = audited_work(settings, lambda session: create_account(session=session, name=name))
    typer.echo(f"cdp: service account {name!r} created")
    print_credentials(settings, made, new=True)


@service_account_app.command("rotate")
def rotate(name: Name) -> None:
    """A new secret (printed once); the old one and its tokens stop working at once."""
    settings = settings_or_exit()
    made = audited_work(settings, lambda session: rotate_secret(session=session, name=name))
    typer.echo(f"cdp: service account {name!r} has a new secret; the old one and its tokens end")
    print_credentials(settings, made, new=False)


@service_account_app.command("revoke")
def revoke(name: Name) -> None:
    """Revoke the account for good: its secret and tokens are refused from the next request."""
    settings = settings_or_exit()
    audited_work(settings, lambda session: revoke_account(session=session, name=name))
    typer.echo(f"cdp: service account {name!r} revoked")


def _when(value: datetime | None) -> str:
    return "-" if value is None else as_utc(value).strftime("%Y-%m-%d %H:%M:%SZ")


@service_account_app.command("list")
def list_() -> None:
    """Every account: name, client id, created, rotated, revoked (never a secret)."""
    settings = settings_or_exit()
    rows = audited_work(settings, lambda session: list_accounts(session=session))
    if not rows:
        typer.echo("cdp: no service accounts (create one: cdp service-account create NAME)")
        return
    header = ("name", "client_id", "created", "rotated", "revoked")
    table = [header] + [
        (r.name, r.client_id, _when(r.created_at), _when(r.rotated_at), _when(r.revoked_at))
        for r in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    for line in table:
        cells = (cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        typer.echo("  ".join(cells).rstrip())
