"""The staff console's trusted documents: every document the console sends is a named
operation of `cdp/console/documents.graphql`, compiled by `make documents` (`cdp documents
console`) into the manifest `cdp/documents/console.json` and the page's table of ids
`cdp/console/documents.js`.

The manifest gives each document its name and the roles that may run it: the console's roles
(the desks `console.js` opens) that the policy lets run every root field it selects, checked
as registration checks a brand's document. Loading it checks each id against its text and
keeps only the roles the policy still allows, so a stale manifest can never widen access.
"""

from __future__ import annotations

import json
from pathlib import Path

from graphql import GraphQLSchema

from cdp.documents.registry import document_id
from cdp.graphql.documents import (
    DocumentRefused,
    check,
    operation_of,
    operations_in_source,
    runnable_by,
)
from cdp.graphql.limits import Limits
from cdp.roles import Role

CDP = Path(__file__).resolve().parent.parent
SOURCE = CDP / "console" / "documents.graphql"
MANIFEST = CDP / "documents" / "console.json"
IDS_SCRIPT = CDP / "console" / "documents.js"
# The roles the console serves a desk to (console.js's ROLE_DESKS; a test holds them equal).
CONSOLE_ROLES = frozenset({Role.SUPPORT, Role.ANALYST, Role.COMPLIANCE})

Entry = dict[str, object]


def build_manifest(schema: GraphQLSchema, limits: Limits, source: str) -> dict[str, Entry]:
    """`"sha256:<hex>"` -> {name, roles, document} for each operation of `source`;
    DocumentRefused for an anonymous operation, a name used twice, or one no console role
    may run."""
    manifest: dict[str, Entry] = {}
    names: set[str] = set()
    for operation in operations_in_source(source):
        if operation.name is None or operation.name in names:
            raise DocumentRefused(f"{operation.label}: each console document needs its own name")
        names.add(operation.name)
        roles = runnable_by(schema, operation) & CONSOLE_ROLES
        check(schema, operation, roles, limits)
        manifest[operation.id] = {
            "name": operation.name,
            "roles": sorted(role.value for role in roles),
            "document": operation.text,
        }
    return manifest


def manifest_json(manifest: dict[str, Entry]) -> str:
    return json.dumps(manifest, ensure_ascii=False, indent=2) + "\n"


def ids_script(manifest: dict[str, Entry]) -> str:
    """The page's table of document ids by name, as a script loaded before console.js."""
    lines = [f'  {entry["name"]}: "{key}",' for key, entry in manifest.items()]
    return "\n".join(
        [
            "// Written by `make documents` from cdp/console/documents.graphql: do not edit.",
            "// The console's trusted documents by name; `gql(name, variables)` sends the id.",
            '"use strict";',
            "",
            "window.cdpDocuments = Object.freeze({",
            *lines,
            "});",
            "",
        ]
    )


def load_manifest(schema: GraphQLSchema, text: str) -> list[tuple[str, str, str, frozenset[Role]]]:
    """(id, name, text, roles) of each document of a console manifest: the roles it names
    that the policy lets run it. DocumentRefused when an id is not its text's SHA-256."""
    found = []
    for key, entry in json.loads(text).items():
        document, name = str(entry["document"]), str(entry["name"])
        if document_id(document) != key:
            raise DocumentRefused(f"{name}: {key} is not the SHA-256 of its document")
        operation = operation_of(document)
        allowed = runnable_by(schema, operation)
        roles = frozenset(Role(r) for r in entry["roles"] if Role(r) in allowed)
        found.append((key, name, document, roles))
    return found
