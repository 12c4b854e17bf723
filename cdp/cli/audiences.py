"""`cdp audiences refresh [NAME]`: every audience's members (or one's) computed in full with
its compiled SQL and the difference applied in bulk. Idempotent; run it daily (e.g. from
cron): conditions on time ("within 30 days", "this month") move with no write to trigger."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated

import sqlalchemy as sa
import typer
from sqlmodel import col

from cdp.audiences.membership import Applied, refresh
from cdp.audiences.models import Audience
from cdp.cli.common import app, keyring_or_exit, progress_bar, settings_or_exit
from cdp.db import Database, utcnow
from cdp.errors import CdpError
from cdp.reevaluation import QUEUE
from cdp.unit_of_work import audited_transaction, operator_trail

audiences_app = typer.Typer(help="Audiences: rule-built tags.", no_args_is_help=True)
app.add_typer(audiences_app, name="audiences")


@audiences_app.command("refresh")
def audiences_refresh(
    name: Annotated[str | None, typer.Argument(help="One audience; all when omitted.")] = None,
) -> None:
    """Recompute audience memberships: who enters, who leaves, each recorded with why."""
    settings = settings_or_exit()
    keyring = keyring_or_exit(settings).keyring

    async def run() -> tuple[int, Applied]:
        database = Database(settings)
        try:
            async with database.transaction() as session:
                query = sa.select(col(Audience.name)).order_by(col(Audience.id))
                if name is not None:
                    query = query.where(col(Audience.name) == name.strip())
                names = list((await session.scalars(query)).all())
                queued = await session.scalar(sa.select(sa.func.max(QUEUE.c.id)))
            # Queued a moment before this read at the latest: committed before any refresh.
            settled = utcnow() - timedelta(seconds=5)
            if name is not None and not names:
                typer.echo(f"cdp: no audience named {name!r}", err=True)
                raise typer.Exit(1)
            total = Applied()
            with progress_bar("refreshing audiences") as bar:
                task = bar.add_task("audiences", total=len(names))
                for each in names:
                    trail = operator_trail(keyring)
                    async with audited_transaction(database, trail) as session:
                        audience = await session.scalar(
                            sa.select(Audience).where(col(Audience.name) == each)
                        )
                        if audience is not None:
                            total += await refresh(
                                session=session, audience=audience, settings=settings
                            )
                    bar.advance(task, 1)
            if name is None and queued is not None:
                # Every audience was recomputed since these were queued: they are done.
                async with database.transaction() as session:
                    await session.execute(
                        sa.delete(QUEUE).where(QUEUE.c.id <= queued, QUEUE.c.queued_at < settled)
                    )
            return len(names), total
        finally:
            await database.dispose()

    try:
        count, applied = asyncio.run(run())
    except CdpError as exc:  # a stored definition that no longer reads (never, in practice)
        typer.echo(f"cdp: {exc.message}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"cdp: {count} audiences refreshed, {applied.entered} entered, {applied.left} left")
