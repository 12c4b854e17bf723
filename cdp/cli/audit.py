"""`cdp audit`: verifying the log (with the keyring, or with the public key alone) and signing
checkpoints of the chain."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from cdp.audit.verify import Verdict, make_checkpoint, verify_chain
from cdp.cli.audit_tree import verify_with_public_key
from cdp.cli.common import audit_app, keyring_or_exit, settings_or_exit
from cdp.db import Database
from cdp.unit_of_work import audited_transaction, operator_trail


def read_checkpoint(value: str) -> dict[str, Any]:
    """A checkpoint given inline as JSON, or as the path of a file holding it."""
    text = value if value.lstrip().startswith("{") else Path(value).read_text(encoding="utf-8")
    document = json.loads(text)
    if not isinstance(document, dict):
        raise ValueError("a checkpoint is a JSON object")
    return document


@audit_app.command("verify")
def audit_verify(
    checkpoint: Annotated[
        str | None,
        typer.Option(
            help="A checkpoint (JSON or a file path): from `cdp audit checkpoint`, or with "
            "--public-key a signed head from `cdp audit head`."
        ),
    ] = None,
    public_key: Annotated[
        str | None,
        typer.Option(
            help="Check the signed Merkle tree with this public key (a file from "
            "`cdp audit public-key`, or a PEM) and no keyring."
        ),
    ] = None,
) -> None:
    """Check the audit log; exit 1 naming the first bad record when it is broken. Without
    --public-key: the chain, with the keyring (the check is audited)."""
    if public_key is not None:
        verify_with_public_key(public_key, checkpoint)
        return
    settings = settings_or_exit()
    keyring = keyring_or_exit(settings).keyring
    try:
        document = read_checkpoint(checkpoint) if checkpoint is not None else None
    except (OSError, ValueError) as exc:
        typer.echo(f"cdp: unusable checkpoint: {exc}", err=True)
        raise typer.Exit(2) from None

    async def run() -> Verdict:
        database = Database(settings)
        try:
            verdict = await verify_chain(database, keyring.audit_key, checkpoint=document)
            trail = operator_trail(keyring)
            trail.record(
                action="audit.verify",
                outcome="ok" if verdict.intact else "broken",
                detail={"checked": verdict.checked, "problem": str(verdict.problem or "")},
            )
            async with audited_transaction(database, trail):
                pass
            return verdict
        finally:
            await database.dispose()

    try:
        verdict = asyncio.run(run())
    except ValueError as exc:
        typer.echo(f"cdp: unusable checkpoint: {exc}", err=True)
        raise typer.Exit(2) from None
    if verdict.problem is not None:
        typer.echo(f"audit chain BROKEN at {verdict.problem}", err=True)
        raise typer.Exit(1)
    head = verdict.head.hex() if verdict.head else "-"
    unsealed = f"; {verdict.unsealed} not sealed yet" if verdict.unsealed else ""
    typer.echo(
        f"audit chain intact: {verdict.checked} records, head {verdict.head_seq} {head}{unsealed}"
    )


@audit_app.command("checkpoint")
def audit_checkpoint() -> None:
    """Print the signed head of the chain, to keep elsewhere (detects later truncation)."""
    settings = settings_or_exit()
    keyring = keyring_or_exit(settings).keyring

    async def run() -> dict[str, Any]:
        database = Database(settings)
        try:
            document = await make_checkpoint(database, keyring.audit_key)
            trail = operator_trail(keyring)
            trail.record(action="audit.checkpoint", detail={"seq": document["seq"]})
            async with audited_transaction(database, trail):
                pass
            return document
        finally:
            await database.dispose()

    try:
        typer.echo(json.dumps(asyncio.run(run())))
    except ValueError as exc:
        typer.echo(f"cdp: {exc}", err=True)
        raise typer.Exit(1) from None
