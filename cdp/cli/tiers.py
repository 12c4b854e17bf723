"""`cdp tiers refresh`: tiers follow the last 12 months of spend also when nobody orders
(run it daily, e.g. from cron)."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
import typer

from cdp.cli.common import app, keyring_or_exit, progress_bar, settings_or_exit
from cdp.db import Database, utcnow
from cdp.orders.tiers import TierThresholds, refresh_tiers
from cdp.profiles.models import Profile
from cdp.unit_of_work import audited_transaction, operator_trail

tiers_app = typer.Typer(help="Membership tiers.", no_args_is_help=True)
app.add_typer(tiers_app, name="tiers")


@tiers_app.command("refresh")
def tiers_refresh() -> None:
    """Recompute every profile's tier from its paid spend over the last 12 months."""
    settings = settings_or_exit()
    keyring = keyring_or_exit(settings).keyring

    async def run() -> int:
        database = Database(settings)
        try:
            async with database.transaction() as session:
                total = int(
                    await session.scalar(sa.select(sa.func.count()).select_from(Profile)) or 0
                )
            after, changed, now = 0, 0, utcnow()
            with progress_bar("refreshing tiers") as bar:
                task = bar.add_task("tiers", total=total)
                while True:
                    trail = operator_trail(keyring)
                    async with audited_transaction(database, trail) as session:
                        last, moved = await refresh_tiers(
                            session,
                            thresholds=TierThresholds.of(settings),
                            now=now,
                            after=after,
                            limit=500,
                        )
                    if last == after:
                        return changed
                    bar.advance(task, 500)
                    after, changed = last, changed + moved
        finally:
            await database.dispose()

    typer.echo(f"cdp: {asyncio.run(run())} tiers changed")
