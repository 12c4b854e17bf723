"""`cdp documents register FILE --role ROLE ...` (a brand's trusted documents), `cdp documents
list`, and `cdp documents manifest FILE ...` (the JSON manifest of cdp's own pages)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer

from cdp.cli.common import app, keyring_or_exit, settings_or_exit, stores
from cdp.documents import registry
from cdp.errors import CdpError
from cdp.roles import Role
from cdp.unit_of_work import audited_transaction, operator_trail

documents_app = typer.Typer(
    help="Trusted documents: what public clients may run, by id.", no_args_is_help=True
)
app.add_typer(documents_app, name="documents")


def _read(path: Path) -> list[object]:
    from cdp.graphql.documents import DocumentRefused, read_documents

    try:
        return list(read_documents(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError) as exc:
        typer.echo(f"cdp: {path}: {exc}", err=True)
        raise typer.Exit(2) from None
    except DocumentRefused as exc:
        typer.echo(f"cdp: {path}: {exc}", err=True)
        raise typer.Exit(1) from None


@documents_app.command("register")
def documents_register(
    file: Annotated[
        Path,
        typer.Argument(
            help="A .graphql file (each operation one document) or a JSON manifest of"
            ' "sha256:<hex>" to document text.'
        ),
    ],
    role: Annotated[
        list[Role], typer.Option("--role", help="A role that may run them (repeatable).")
    ],
) -> None:
    """Check each document against the schema and the policy, and register it (audited)."""
    from cdp.graphql.documents import DocumentRefused, Operation, check
    from cdp.graphql.execution import core_schema
    from cdp.graphql.limits import Limits
    from cdp.graphql.schema import build_schema

    settings = settings_or_exit()
    keyring = keyring_or_exit(settings).keyring
    operations = [op for op in _read(file) if isinstance(op, Operation)]
    limits = Limits.of(settings)
    schema = core_schema(build_schema(limits=limits))
    try:
        for operation in operations:
            check(schema, operation, role, limits)
    except DocumentRefused as exc:
        typer.echo(f"cdp: {file}: {exc}; nothing registered", err=True)
        raise typer.Exit(1) from None

    async def run() -> list[tuple[Operation, registry.Registered]]:
        async with (
            stores(settings) as (database, _keystore),
            audited_transaction(database, operator_trail(keyring)) as session,
        ):
            done = []
            for operation in operations:
                _row, outcome = await registry.register(
                    session=session,
                    text=operation.text,
                    operation_name=operation.name,
                    operation_type=operation.kind,
                    roles=role,
                )
                done.append((operation, outcome))
            return done

    try:
        done = asyncio.run(run())
    except CdpError as exc:
        typer.echo(f"cdp: {exc.message}", err=True)
        raise typer.Exit(1) from None
    roles = ", ".join(sorted({r.value for r in role}))
    for operation, outcome in done:
        typer.echo(f"{operation.id}\t{operation.label}\t{outcome} for {roles}")


@documents_app.command("list")
def documents_list() -> None:
    """Every registered document: id, operation, roles, when and by whom."""
    settings = settings_or_exit()

    async def run() -> list[str]:
        async with stores(settings) as (database, _keystore), database.transaction() as session:
            rows = await registry.all_documents(session)
        return [
            f"{r.id}\t{r.operation_name or '(anonymous)'}\t{','.join(r.roles)}"
            f"\t{r.registered_at.isoformat()}\t{r.registered_by}"
            for r in rows
        ]

    for line in asyncio.run(run()):
        typer.echo(line)


@documents_app.command("manifest")
def documents_manifest(
    files: Annotated[
        list[Path], typer.Argument(help=".graphql files, one document each operation.")
    ],
) -> None:
    """Print the JSON manifest ("sha256:<hex>" to text) of the files' operations; cdp's own
    pages' is cdp/documents/pages.json (`make documents`)."""
    from cdp.graphql.documents import Operation

    manifest = {op.id: op.text for path in files for op in _read(path) if isinstance(op, Operation)}
    typer.echo(json.dumps(manifest, ensure_ascii=False, indent=2))


@documents_app.command("console")
def documents_console() -> None:
    """Write the staff console's manifest (cdp/documents/console.json) and its table of ids
    (cdp/console/documents.js) from cdp/console/documents.graphql (`make documents`)."""
    from cdp.graphql import console_documents as console
    from cdp.graphql.documents import DocumentRefused
    from cdp.graphql.execution import core_schema
    from cdp.graphql.limits import Limits
    from cdp.graphql.schema import build_schema

    limits = Limits()
    schema = core_schema(build_schema(limits=limits))
    try:
        manifest = console.build_manifest(schema, limits, console.SOURCE.read_text("utf-8"))
    except DocumentRefused as exc:
        typer.echo(f"cdp: {console.SOURCE}: {exc}", err=True)
        raise typer.Exit(1) from None
    console.MANIFEST.write_text(console.manifest_json(manifest), encoding="utf-8")
    console.IDS_SCRIPT.write_text(console.ids_script(manifest), encoding="utf-8")
    typer.echo(f"{len(manifest)} console documents: {console.MANIFEST}, {console.IDS_SCRIPT}")
