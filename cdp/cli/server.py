"""Serving, migrating, tokens, demo data and the schema."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from typing import Annotated

import sqlalchemy as sa
import typer
from sqlmodel import col

from cdp.auth import Role, issue_token
from cdp.cli.common import app, keyring_or_exit, progress_bar, settings_or_exit, stores
from cdp.config import Settings
from cdp.db import Database
from cdp.profiles.models import Profile

DEMO_SUBJECTS = {
    Role.SUPPORT: "support-agent-001",
    Role.ANALYST: "analyst-001",
    Role.MARKETER: "marketer-001",
    Role.COMPLIANCE: "compliance-officer-001",
    Role.SERVICE: "order-service",
}


def refuse_in_production(settings: Settings, command: str) -> None:
    """Demo commands make up people and hand out long-lived tokens: never in production."""
    if settings.is_production:
        message = f"cdp: {command} is for development only; refused under CDP_ENV=production"
        typer.echo(message, err=True)
        raise typer.Exit(2)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
) -> None:
    """Serve GraphQL on http://HOST:PORT/graphql."""
    import uvicorn

    settings = settings_or_exit()
    keyring_or_exit(settings)  # refuse to start without a fit keyring, in one line
    if settings.wechat_sandbox:
        from cdp.cli.wechat import start_sandbox

        start_sandbox(settings, f"http://{host}:{port}")
    typer.echo(f"cdp: serving GraphQL on http://{host}:{port}/graphql ({settings.env.value})")
    sign_in = "" if settings.is_production else ", with a development sign-in per role"
    typer.echo(f"cdp: the staff console is http://{host}:{port}/console/{sign_in}")
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Each worker writes its metrics here; a scrape of any of them sums them all.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="cdp-metrics-")
    uvicorn.run(
        "cdp.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        log_level="warning",
    )


@app.command()
def migrate() -> None:
    """Bring the key store and the database to their newest schemas (moving any data keys
    still in the database to the key store first), then replay the erasure journal."""
    from cdp.erasure.journal import JournalTampered
    from cdp.erasure.replay import replay_erasure_journal
    from cdp.keys.relocation import move_keys_to_store
    from cdp.migrations import upgrade_to_head

    settings = settings_or_exit()
    keyring = keyring_or_exit(settings)

    async def prepare() -> int:
        async with stores(settings) as (database, store):
            await store.upgrade()
            return await move_keys_to_store(database, store)

    async def replay() -> int:
        async with stores(settings) as (database, store):
            return (await replay_erasure_journal(database, store, keyring)).reapplied

    moved = asyncio.run(prepare())
    if moved:
        typer.echo(f"cdp: moved {moved} data keys from the database to the key store")
    upgrade_to_head(settings)
    typer.echo("cdp: database is at the newest migration")
    from cdp.logs import configure_logging

    configure_logging(settings.log_level)  # the replay's one log line
    try:
        reapplied = asyncio.run(replay())
    except JournalTampered as exc:
        typer.echo(f"cdp: {exc}: nothing was replayed", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"cdp: erasure journal replayed: {reapplied} erasures re-applied")


@app.command()
def token(
    role: Annotated[Role, typer.Argument(help="customer, support, analyst, compliance, service")],
    subject: Annotated[
        str | None, typer.Option(help="Subject; a profile id for customers.")
    ] = None,
    ttl: Annotated[int, typer.Option(min=1, help="Lifetime in seconds.")] = 3600,
) -> None:
    """Print a signed bearer token (development and tests; production refuses it: staff
    sign in at /auth/staff/, services use `cdp service-account` and POST /auth/token)."""
    settings = settings_or_exit()
    refuse_in_production(settings, "token")
    if subject is None:
        if role is Role.CUSTOMER:
            typer.echo("cdp: a customer token needs --subject <profile id>", err=True)
            raise typer.Exit(2)
        subject = DEMO_SUBJECTS[role]
    try:
        typer.echo(issue_token(settings, role=role, subject=subject, ttl_seconds=ttl))
    except ValueError as exc:
        typer.echo(f"cdp: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command("demo-data")
def demo_data(
    profiles: Annotated[int, typer.Option(min=1, max=1_000_000, help="How many people.")] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same people).")] = 2026,
    if_empty: Annotated[bool, typer.Option(help="Do nothing if profiles exist.")] = False,
) -> None:
    """Seed realistic demo profiles with identities across the brand's apps."""
    from cdp.demo import seed_demo_data
    from cdp.demo.engine import seeding_database

    # Bulk inserts of up to a million people: no statement timeout.
    settings = settings_or_exit().model_copy(update={"statement_timeout_seconds": 0})
    refuse_in_production(settings, "demo-data")
    keyring = keyring_or_exit(settings)
    # Where aiosqlite still hands statements to its thread (a URI-configured SQLite), a short
    # GIL switch interval keeps each hand-off from waiting out the default 5 ms.
    sys.setswitchinterval(0.0002)

    async def run() -> None:
        async with stores(settings, seeding_database(settings)) as (database, store):
            if if_empty and await count_profiles(database):
                typer.echo("cdp: demo data present, nothing to seed")
                return
            with progress_bar("seeding profiles") as bar:
                task = bar.add_task("profiles", total=profiles)
                await seed_demo_data(
                    database,
                    keyring,
                    keystore=store,
                    profiles=profiles,
                    seed=seed,
                    progress=lambda n: bar.advance(task, n),
                )
            typer.echo(f"cdp: seeded {profiles} profiles")

    asyncio.run(run())


async def count_profiles(database: Database) -> int:
    async with database.transaction() as session:
        return int(
            (await session.execute(sa.select(sa.func.count()).select_from(Profile))).scalar_one()
        )


@app.command("demo-tokens")
def demo_tokens(
    ttl: Annotated[int, typer.Option(min=60, help="Lifetime in seconds.")] = 12 * 3600,
) -> None:
    """Print one demo token per role (the customer is the oldest profile), and the README's
    demo people to paste into its examples."""
    from cdp.demo.known import KNOWN_PEOPLE

    settings = settings_or_exit()
    refuse_in_production(settings, "demo-tokens")

    async def lookup() -> tuple[str | None, set[str]]:
        database = Database(settings)
        try:
            async with database.transaction() as session:
                query = sa.select(col(Profile.public_id)).order_by(col(Profile.id)).limit(1)
                first = (await session.execute(query)).scalar_one_or_none()
                known = sa.select(col(Profile.public_id)).where(
                    col(Profile.public_id).in_([p.public_id for p in KNOWN_PEOPLE])
                )
                return first, set((await session.scalars(known)).all())
        finally:
            await database.dispose()

    customer, present = asyncio.run(lookup())
    typer.echo("Demo tokens (send as 'Authorization: Bearer <token>'):")
    for role in Role:
        subject = customer if role is Role.CUSTOMER else DEMO_SUBJECTS[role]
        if subject is None:
            typer.echo(f"  {role.value:<11} (no profile yet: run cdp demo-data)")
            continue
        signed = issue_token(settings, role=role, subject=subject, ttl_seconds=ttl)
        typer.echo(f"  {role.value:<11} {signed}")
    typer.echo(
        "Staff console (as `make run` serves it): http://127.0.0.1:8000/console/ - press"
        " 客服 support, 数据分析 analyst, 合规 compliance or 客服 + 合规 to sign in locally"
        " in that role, and 第二位合规专员 in a second browser profile to approve the first"
        " officer's erasures; the desks: #/support, #/requests, #/audit, #/suppression,"
        " #/analytics. Without a browser:"
    )
    typer.echo(
        "  curl -c jar -H 'accept: application/json' -d role=support"
        " http://127.0.0.1:8000/auth/staff/dev   (then X-CDP-CSRF: <csrfToken> on /graphql)"
    )
    people = [p for p in KNOWN_PEOPLE if p.public_id in present]
    if people:
        typer.echo("Demo people of the README's examples (profile id, phone, UnionID):")
    for person in people:
        typer.echo(
            f"  {person.name}\t{person.public_id}  {person.phone}  {person.union_id}"
            f"  ({person.role_in_readme})"
        )


@app.command("export-schema")
def export_schema() -> None:
    """Print the GraphQL SDL (committed as schema/schema.graphql)."""
    from cdp.graphql.schema import sdl

    sys.stdout.write(sdl())
