"""`cdp retention run [--dry-run]`, `cdp erasure run-due` (cancellations whose cooling-off has
ended) and `cdp notices publish|list` (the privacy notice registry)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from cdp.cli.common import app, keyring_or_exit, progress_bar, settings_or_exit, stores
from cdp.consent import notices
from cdp.db import Database
from cdp.errors import CdpError
from cdp.keys.store import KeyStore
from cdp.privacy.runner import run_due_cancellations
from cdp.retention.leader import beat, claim, finish
from cdp.retention.policies import Kind
from cdp.retention.run import Outcome, run_retention
from cdp.unit_of_work import audited_transaction, operator_trail

retention_app = typer.Typer(
    help="Retention: nothing kept longer than needed.", no_args_is_help=True
)
app.add_typer(retention_app, name="retention")
erasure_app = typer.Typer(help="Erasure requests that run by themselves.", no_args_is_help=True)
app.add_typer(erasure_app, name="erasure")
CLI_HOLDER = "cli:retention run"
notices_app = typer.Typer(help="The privacy notice registry.", no_args_is_help=True)
app.add_typer(notices_app, name="notices")


@retention_app.command("run")
def retention_run(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would expire; change nothing.")
    ] = False,
) -> None:
    """Apply every retention policy (audited with its counts)."""
    settings = settings_or_exit()
    keyring = keyring_or_exit(settings)

    async def run() -> list[Outcome] | None:
        async with stores(settings) as (database, keystore):
            # A dry run changes nothing; a real one is the deployment's one run until it ends.
            run_id = None if dry_run else await claim(database, holder=CLI_HOLDER, interval=None)
            if not dry_run and run_id is None:
                return None
            try:
                outcomes = await _run(database, keystore, run_id)
            except BaseException:
                if run_id is not None:
                    await finish(database, run_id, failed=True)
                raise
            if run_id is not None:
                await finish(database, run_id, failed=False)
            return outcomes

    async def _run(database: Database, keystore: KeyStore, run_id: int | None) -> list[Outcome]:
        with progress_bar("retention") as bar:
            tasks: dict[Kind, object] = {}

            def started(outcomes: list[Outcome]) -> None:
                for o in outcomes:
                    total = 0 if dry_run else o.due
                    tasks[o.policy.kind] = bar.add_task(o.policy.kind.value, total=total)

            def advance(kind: Kind, done: int) -> None:
                bar.advance(tasks[kind], done)  # type: ignore[arg-type]

            async def heartbeat() -> None:
                if run_id is not None:
                    await beat(database, run_id)

            return await run_retention(
                database,
                keyring,
                settings,
                keystore=keystore,
                dry_run=dry_run,
                started=started,
                progress=advance,
                heartbeat=heartbeat,
            )

    outcomes = asyncio.run(run())
    if outcomes is None:
        typer.echo("cdp: another retention run is under way; try again when it ends", err=True)
        raise typer.Exit(1)
    verb = "would expire" if dry_run else "expired"
    for o in outcomes:
        count = o.due if dry_run else o.done
        typer.echo(f"{o.policy.describe()}: {count} {verb}")


@erasure_app.command("run-due")
def erasure_run_due() -> None:
    """Erase the accounts whose cancellation's cooling-off has ended."""
    settings = settings_or_exit()
    keyring = keyring_or_exit(settings)

    async def run() -> tuple[int, int]:
        async with stores(settings) as (database, keystore):
            done = await run_due_cancellations(database, keyring, keystore)
        return len(done.completed), done.unfinished

    completed, unfinished = asyncio.run(run())
    typer.echo(f"cdp: {completed} cancellations erased, {unfinished} to converge on a rerun")


@notices_app.command("publish")
def notices_publish(
    version: Annotated[str, typer.Argument(help="The version, e.g. 2027-01.")],
    text_file: Annotated[Path, typer.Argument(help="The notice's text (UTF-8).")],
    effective: Annotated[str, typer.Option(help="When it takes effect (ISO 8601, with zone).")],
    changes: Annotated[str, typer.Option(help="What changed, for the person.")],
    title: Annotated[str, typer.Option(help="Its title.")] = "会员隐私政策",
    material: Annotated[
        bool, typer.Option(help="A material change: people are asked to choose again.")
    ] = False,
) -> None:
    """Add a version of the privacy notice to the registry."""
    settings = settings_or_exit()
    keyring = keyring_or_exit(settings).keyring
    try:
        effective_at = datetime.fromisoformat(effective)
        text = text_file.read_text(encoding="utf-8")
    except (ValueError, OSError) as exc:
        typer.echo(f"cdp: {exc}", err=True)
        raise typer.Exit(2) from None

    async def run() -> None:
        async with (
            stores(settings) as (database, _keystore),
            audited_transaction(database, operator_trail(keyring)) as session,
        ):
            await notices.publish(
                session=session,
                version=version,
                title=title,
                text=text,
                changes=changes,
                material=material,
                effective_at=effective_at,
            )

    try:
        asyncio.run(run())
    except CdpError as exc:
        typer.echo(f"cdp: {exc.message}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"cdp: privacy notice {version} published, in effect from {effective_at}")


@notices_app.command("list")
def notices_list() -> None:
    """Every version, newest first."""
    settings = settings_or_exit()

    async def run() -> list[str]:
        async with stores(settings) as (database, _keystore), database.transaction() as session:
            rows = await notices.all_notices(session)
        return [
            f"{n.version}\t{n.effective_at.isoformat()}\t{'material' if n.material else 'minor'}"
            f"\t{n.changes}"
            for n in rows
        ]

    for line in asyncio.run(run()):
        typer.echo(line)
