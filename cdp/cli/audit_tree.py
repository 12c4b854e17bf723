"""`cdp audit` for the signed Merkle tree: the sealer, the public key and its rotation, the
latest signed head, proofs, and the check an outside auditor runs with the public key alone."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from sqlalchemy.exc import DBAPIError

from cdp.audit.sealer import LogChanged, seal, seal_until
from cdp.audit.signing import TreeHead, load_public_keys, public_keys_document, rotate
from cdp.audit.tree import TreeVerdict, consistency, inclusion, latest_head, verify_tree
from cdp.cli.common import audit_app, keyring_or_exit, settings_or_exit
from cdp.config import Settings
from cdp.db import Database
from cdp.unit_of_work import audited_transaction, operator_trail

T = TypeVar("T")


def _run(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    """Run `work` on the database; one line and exit 2 when it cannot be read (down, not
    migrated, no such file)."""

    async def run() -> T:
        database = Database(settings)
        try:
            return await work(database)
        finally:
            await database.dispose()

    try:
        return asyncio.run(run())
    except (DBAPIError, OSError) as exc:
        reason = str(getattr(exc, "orig", exc)).splitlines()[0][:200]
        typer.echo(f"cdp: the database could not be read ({reason}); is it migrated?", err=True)
        raise typer.Exit(2) from None


def _text_of(value: str, what: str) -> str:
    """A document given inline or as the path of a file holding it; exit 2 when unreadable."""
    if value.lstrip().startswith(("{", "-----BEGIN")):
        return value
    try:
        return Path(value).read_text(encoding="utf-8")
    except OSError as exc:
        typer.echo(f"cdp: unusable {what}: {exc}", err=True)
        raise typer.Exit(2) from None


@audit_app.command("public-key")
def audit_public_key() -> None:
    """Print the public keys that check the signed tree heads (every version), as JSON: what an
    outside auditor needs, and nothing secret."""
    settings = settings_or_exit()
    typer.echo(json.dumps(public_keys_document(keyring_or_exit(settings).keyring), indent=2))


@audit_app.command("rotate-key")
def audit_rotate_key() -> None:
    """Add a new signing key version to the keyring; heads signed before still verify."""
    settings = settings_or_exit()
    keyring = rotate(keyring_or_exit(settings).keyring)
    keyring.save(settings.keyring)
    versions = sorted(int(v) for v in public_keys_document(keyring)["keys"])

    async def record(database: Database) -> None:
        trail = operator_trail(keyring)
        trail.record(action="audit.key_rotate", detail={"version": versions[-1]})
        async with audited_transaction(database, trail):
            pass

    _run(settings, record)
    typer.echo(f"cdp: tree heads are signed with key version {versions[-1]} from now on")
    typer.echo("cdp: give outside auditors the new `cdp audit public-key`")


@audit_app.command("seal")
def audit_seal(
    follow: Annotated[bool, typer.Option(help="Keep sealing until interrupted.")] = False,
    interval: Annotated[float, typer.Option(min=0.05, help="Seconds between rounds.")] = 1.0,
) -> None:
    """Seal the committed records into the Merkle tree and sign the new head (one sealer at a
    time: another one running makes this round a no-op)."""
    settings = settings_or_exit()
    keyring = keyring_or_exit(settings).keyring

    async def once(database: Database) -> TreeHead | None:
        head = None
        while (sealed := await seal(database, keyring)) is not None:
            head = sealed
        return head

    async def forever(database: Database) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await seal_until(database, lambda: keyring, interval=interval, stop=stop)

    if follow:
        _run(settings, forever)
        return
    try:
        head = _run(settings, once)
    except LogChanged as exc:
        typer.echo(f"cdp: not sealed: the log was changed: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo("cdp: nothing to seal" if head is None else json.dumps(head.to_document()))


@audit_app.command("head")
def audit_head() -> None:
    """Print the latest signed tree head (JSON): keep it somewhere the database's owner cannot
    rewrite, and check a later log against it with `verify --checkpoint`."""
    settings = settings_or_exit()

    async def head_of(database: Database) -> TreeHead | None:
        async with database.transaction() as session:
            return await latest_head(session)

    head = _run(settings, head_of)
    if head is None:
        typer.echo("cdp: no signed tree head yet (run `cdp audit seal`)", err=True)
        raise typer.Exit(1)
    typer.echo(json.dumps(head.to_document()))


def _proved(settings: Settings, work: Callable[[Database], Awaitable[dict[str, Any]]]) -> None:
    try:
        typer.echo(json.dumps(_run(settings, work), indent=2))
    except LookupError as exc:
        typer.echo(f"cdp: {exc.args[0]}", err=True)
        raise typer.Exit(1) from None


@audit_app.command("prove")
def audit_prove(seq: Annotated[int, typer.Argument(min=1, help="The record's seq.")]) -> None:
    """Print the inclusion proof of one record against the latest signed head."""
    _proved(settings_or_exit(), lambda database: inclusion(database, seq))


@audit_app.command("prove-consistency")
def audit_prove_consistency(
    old_size: Annotated[int, typer.Argument(min=0, help="The older signed head's size.")],
    new_size: Annotated[int, typer.Argument(min=0, help="The newer signed head's size.")],
) -> None:
    """Print the consistency proof that the older signed head is a prefix of the newer one."""
    _proved(settings_or_exit(), lambda database: consistency(database, old_size, new_size))


def verify_with_public_key(public_key: str, checkpoint: str | None) -> None:
    """`cdp audit verify --public-key FILE [--checkpoint FILE]`: no keyring read or needed."""
    settings = settings_or_exit()
    try:
        keys = load_public_keys(_text_of(public_key, "public key"))
        saved = (
            TreeHead.from_document(json.loads(_text_of(checkpoint, "checkpoint")))
            if checkpoint is not None
            else None
        )
    except (ValueError, TypeError) as exc:
        typer.echo(f"cdp: unusable public key or checkpoint: {exc}", err=True)
        raise typer.Exit(2) from None
    verdict: TreeVerdict = _run(
        settings, lambda database: verify_tree(database, keys, checkpoint=saved)
    )
    unsealed = f"; {verdict.unsealed} committed records not sealed yet" if verdict.unsealed else ""
    if verdict.problem is not None:
        typer.echo(f"audit log BROKEN at {verdict.problem}{unsealed}", err=True)
        raise typer.Exit(1)
    root = verdict.head.root.hex() if verdict.head else "-"
    against = f", consistent with the checkpoint of {saved.size}" if saved else ""
    typer.echo(
        f"audit log intact: {verdict.size} sealed records under a signed head, "
        f"root {root}{against}{unsealed}"
    )
