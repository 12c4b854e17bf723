"""`cdp worker`: drains the outbox (messages, webhooks, events) and runs activation's rounds
(audience changes, expiries) and, on one worker of the deployment a day, retention, until
stopped; any number may run beside `cdp serve`. `--once` leaves retention to
`cdp retention run`."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated

import typer

from cdp.activation.workers import ActivationWorker
from cdp.cli.common import app, keyring_or_exit, settings_or_exit, stores
from cdp.db import utcnow
from cdp.logs import configure_logging
from cdp.retention.worker import RetentionWorker


@app.command()
def worker(
    once: Annotated[bool, typer.Option("--once", help="Drain what is due now, then exit.")] = False,
) -> None:
    """Send what the outbox holds: WeChat messages, SMS, webhooks; until stopped."""
    settings = settings_or_exit()
    keyring = keyring_or_exit(settings)
    configure_logging(settings.log_level)

    async def run() -> int:
        async with stores(settings) as (database, keystore):
            activation = ActivationWorker(settings, database, keyring, keystore)
            retention = RetentionWorker(settings, database, keyring, keystore)
            try:
                if not once:  # retention: one worker of the deployment, daily
                    await asyncio.gather(activation.run(), retention.run())
                total = await activation.round(utcnow())
                while done := await activation.worker.run_once():
                    total += done
                return total
            finally:
                await activation.aclose()

    with contextlib.suppress(KeyboardInterrupt):
        handled = asyncio.run(run())
        typer.echo(f"cdp: {handled} outbox rows handled")
