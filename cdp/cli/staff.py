"""`cdp staff`: the live staff sessions, and revoking one or all of a person's. Both are
audited as the operator; a revocation is effective at the session's next request on every
worker and instance (each request looks its session up)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from cdp.audit import trail as audit
from cdp.cli.common import keyring_or_exit, settings_or_exit, staff_app
from cdp.config import Settings
from cdp.db import Database, as_utc
from cdp.errors import CdpError, ErrorCode
from cdp.outages import outage_of
from cdp.staff.desk import person_of
from cdp.staff.models import StaffProvider, StaffSession
from cdp.staff.sessions import live_sessions, revoke, staff_subject
from cdp.unit_of_work import audited_transaction, operator_trail

T = TypeVar("T")


def _when(value: datetime) -> str:
    return as_utc(value).strftime("%Y-%m-%d %H:%M UTC")


def _run(settings: Settings, work: Callable[[AsyncSession, str], Awaitable[T]]) -> T:
    """`work(session, operator)` in one audited transaction as the operator; a one-line exit
    (1) when the database cannot be reached."""
    trail = operator_trail(keyring_or_exit(settings).keyring)

    async def run() -> T:
        database = Database(settings)
        try:
            async with audited_transaction(database, trail) as session:
                return await work(session, trail.actor_subject)
        finally:
            await database.dispose()

    try:
        return asyncio.run(run())
    except CdpError:
        raise
    except Exception as exc:
        if outage_of(exc) is None:
            raise
        typer.echo("cdp: the database cannot be reached; nothing was done", err=True)
        raise typer.Exit(1) from None


@staff_app.command("sessions")
def sessions() -> None:
    """List the live staff sessions (not ended, idle or past their lifetime), newest first."""
    settings = settings_or_exit()

    async def listed(session: AsyncSession, _operator: str) -> list[StaffSession]:
        rows = await live_sessions(session=session, settings=settings)
        audit.record(session, action="staff.list", detail={"returned": len(rows)})
        return rows

    rows = _run(settings, listed)
    if not rows:
        typer.echo("cdp: no live staff sessions")
        return
    table = Table(title=f"{len(rows)} live staff sessions")
    for column in ("id", "person", "provider", "role", "since", "last seen", "expires"):
        table.add_column(column, no_wrap=True)
    for row in rows:
        role = row.role or f"({row.roles.replace(',', ', ')}: not chosen)"
        table.add_row(
            row.public_id,
            staff_subject(row.provider, row.directory_id),
            row.provider.value,
            role,
            _when(row.created_at),
            _when(row.last_seen_at),
            _when(row.expires_at),
        )
    console = Console()
    if not console.is_terminal:  # a pipe or a file: whole lines, never cut to 80 columns
        console = Console(width=200)
    console.print(table)


@staff_app.command("revoke")
def revoke_sessions(
    session_id: Annotated[
        str | None, typer.Argument(help="The session's id, from `cdp staff sessions`.")
    ] = None,
    person: Annotated[
        str | None,
        typer.Option(help="Every live session of this person, e.g. wecom:zhangsan."),
    ] = None,
) -> None:
    """End one staff session, or every live one of a person, at their next request."""
    settings = settings_or_exit()
    if (session_id is None) == (person is None):
        typer.echo("cdp: give a SESSION_ID or --person PROVIDER:ID (one of the two)", err=True)
        raise typer.Exit(2)
    try:
        whom: tuple[StaffProvider, str] | None = person_of(person) if person else None
    except CdpError as exc:
        typer.echo(f"cdp: {exc.message}", err=True)
        raise typer.Exit(2) from None

    async def revoked(session: AsyncSession, operator: str) -> int:
        ended = await revoke(session=session, by=operator, public_id=session_id, person=whom)
        if not ended:  # nothing was live: the attempt is on the record all the same
            named = {"person": staff_subject(*whom)} if whom else {"session": session_id}
            audit.record(session, action="staff.revoke", detail={**named, "ended": 0})
        return ended

    try:
        ended = _run(settings, revoked)
    except CdpError as exc:
        typer.echo(f"cdp: {exc.message}", err=True)
        raise typer.Exit(1 if exc.code is ErrorCode.NOT_FOUND else 2) from None
    typer.echo(f"cdp: revoked {ended} staff session{'' if ended == 1 else 's'}")
