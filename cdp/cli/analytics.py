"""`cdp analytics release [--days N]`: release every closed day of the last N days (400) for
each measure of `analytics.series`, so that answers read kept results and no analyst waits
for a year's first computation. Idempotent (a released day is kept as it was); run it nightly
after midnight in CDP_ANALYTICS_TIMEZONE (e.g. from cron)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from cdp.analytics.series import release_recent
from cdp.cli.common import app, settings_or_exit
from cdp.db import Database, utcnow

analytics_app = typer.Typer(help="Analytics: released periods.", no_args_is_help=True)
app.add_typer(analytics_app, name="analytics")


@analytics_app.command("release")
def analytics_release(
    days: Annotated[int, typer.Option(min=1, max=3660, help="How many days back.")] = 400,
) -> None:
    """Release the closed days of every measure (those released already stay as they are)."""
    settings = settings_or_exit()

    async def run() -> int:
        database = Database(settings)
        try:
            async with database.transaction() as session:
                return await release_recent(
                    session, zone=settings.analytics_timezone, now=utcnow(), days=days
                )
        finally:
            await database.dispose()

    measures = asyncio.run(run())
    typer.echo(f"cdp: released the closed days of the last {days} days for {measures} measures")
