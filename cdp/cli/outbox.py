"""`cdp outbox status`: what the outbox holds, by kind and state, and the rows that need an
operator (DEAD with their last error, UNCERTAIN); `cdp outbox retry ID`: a DEAD row queued
again (an UNCERTAIN one is never resent by cdp: it may have gone)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import sqlalchemy as sa
import typer
from sqlmodel import col

from cdp.cli.common import app, settings_or_exit
from cdp.db import Database, utcnow
from cdp.outbox.models import OUTBOX, OutboxMessage, OutboxState

outbox_app = typer.Typer(help="The outbox of messages, webhooks and events.", no_args_is_help=True)
app.add_typer(outbox_app, name="outbox")


@outbox_app.command("status")
def outbox_status(
    last: Annotated[int, typer.Option(help="Problem rows to list.", min=0, max=1000)] = 20,
) -> None:
    """Counts by kind and state, then the latest DEAD and UNCERTAIN rows (no personal data:
    ids, kinds, keys and errors)."""
    settings = settings_or_exit()

    async def run() -> None:
        database = Database(settings)
        try:
            async with database.transaction() as session:
                counts = await session.execute(
                    sa.select(OUTBOX.c.kind, OUTBOX.c.state, sa.func.count())
                    .group_by(OUTBOX.c.kind, OUTBOX.c.state)
                    .order_by(OUTBOX.c.kind, OUTBOX.c.state)
                )
                for kind, state, n in counts:
                    typer.echo(f"{kind:18} {state:10} {n:>10,}")
                problems = await session.scalars(
                    sa.select(OutboxMessage)
                    .where(col(OutboxMessage.state).in_([OutboxState.DEAD, OutboxState.UNCERTAIN]))
                    .order_by(col(OutboxMessage.id).desc())
                    .limit(last)
                )
                for row in problems:
                    typer.echo(
                        f"#{row.id} {row.kind} {row.state.value} tries={row.attempts} "
                        f"key={row.idempotency_key} error={row.last_error or ''}"
                    )
        finally:
            await database.dispose()

    asyncio.run(run())


@outbox_app.command("retry")
def outbox_retry(outbox_id: Annotated[int, typer.Argument(help="A DEAD row's id.")]) -> None:
    """Queue a DEAD row again, due now, with its tries reset."""
    settings = settings_or_exit()

    async def run() -> bool:
        database = Database(settings)
        try:
            async with database.transaction() as session:
                done = await session.execute(
                    sa.update(OUTBOX)
                    .where(OUTBOX.c.id == outbox_id, OUTBOX.c.state == OutboxState.DEAD.value)
                    .values(
                        state=OutboxState.PENDING.value,
                        attempts=0,
                        due_at=utcnow(),
                        finished_at=None,
                    )
                )
                return bool(done.rowcount)  # type: ignore[attr-defined]
        finally:
            await database.dispose()

    if not asyncio.run(run()):
        typer.echo(f"cdp: no DEAD outbox row #{outbox_id}", err=True)
        raise typer.Exit(1)
    typer.echo(f"cdp: outbox row #{outbox_id} queued again")
