"""Running trusted documents: `{"documentId": "sha256:<hex>", "variables": {...}}` (the
GraphQL-over-HTTP persisted-documents shape) names a document of cdp's own pages (the manifest
`cdp/documents/pages.json`, in memory) or one a brand registered (`trusted_documents`), which
then runs as if its text had been sent: the same limits, policy and audit.

Refusals are coded 4xx: a malformed id or both `query` and `documentId` (BAD_USER_INPUT), an
unknown id (NOT_FOUND, `reason` PERSISTED_DOCUMENT_NOT_FOUND), a role the document is not
registered for (FORBIDDEN, DOCUMENT_ROLE), a variable the document does not declare
(BAD_USER_INPUT), and a document's text from a role that runs trusted documents only
(FORBIDDEN, TRUSTED_DOCUMENTS_ONLY: the customer in production, `CDP_TRUSTED_DOCUMENTS_ONLY`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from graphql import GraphQLSchema, OperationDefinitionNode, parse

from cdp.config import Settings
from cdp.documents import registry
from cdp.errors import CdpError, ErrorCode, bad_input
from cdp.graphql.context import Context
from cdp.graphql.documents import Operation, operations_in_manifest, runnable_by
from cdp.roles import Role

PAGES_MANIFEST = Path(__file__).resolve().parent.parent / "documents" / "pages.json"


@dataclass(frozen=True)
class Trusted:
    text: str
    name: str | None
    roles: frozenset[Role]


def page_documents(schema: GraphQLSchema) -> dict[str, Trusted]:
    """cdp's own pages' documents by id, each runnable by the roles the policy lets run its
    root fields (the member centre's: the customer)."""
    operations: list[Operation] = operations_in_manifest(PAGES_MANIFEST.read_text(encoding="utf-8"))
    return {op.id: Trusted(op.text, op.name, runnable_by(schema, op)) for op in operations}


@lru_cache(maxsize=1024)
def declared_variables(text: str) -> frozenset[str]:
    document = parse(text, no_location=True)
    return frozenset(
        v.variable.name.value
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode)
        for v in d.variable_definitions or ()
    )


class TrustedDocuments:
    """Turns a request's `documentId` into the document it names, and refuses a document's
    text from a role that may run trusted documents only."""

    def __init__(self, settings: Settings, schema: GraphQLSchema) -> None:
        self.trusted_only = settings.trusted_only_roles
        self.pages = page_documents(schema)

    async def find(self, key: str, context: Context) -> Trusted | None:
        page = self.pages.get(key)
        if page is not None:
            return page
        async with context.uow.session() as session:
            row = await registry.find(session, key)
        return None if row is None else Trusted(row.document, row.operation_name, row.role_set)

    async def resolve(self, params: dict[str, Any], context: Context) -> dict[str, Any]:
        """`params` with the named document's text as the query; CdpError when refused."""
        role = context.principal.role
        key = params.get("document_id")
        if key is None:
            if role in self.trusted_only:
                raise CdpError(
                    ErrorCode.FORBIDDEN,
                    f"The {role.value} role runs trusted documents only: send"
                    ' {"documentId": "sha256:<hex>", "variables": {...}}',
                    reason="TRUSTED_DOCUMENTS_ONLY",
                )
            return params
        found = await self.find(key, context)
        if found is None:
            raise CdpError(
                ErrorCode.NOT_FOUND,
                "No trusted document has this id; register it with `cdp documents register`",
                field="documentId",
                reason="PERSISTED_DOCUMENT_NOT_FOUND",
            )
        if role not in found.roles:
            raise CdpError(
                ErrorCode.FORBIDDEN,
                f"This trusted document is not registered for the {role.value} role",
                field="documentId",
                reason="DOCUMENT_ROLE",
            )
        wanted = params["operation_name"]
        if wanted is not None and wanted != found.name:
            raise bad_input("The document has no operation of that name", field="operationName")
        undeclared = sorted(set(params["variables"] or ()) - declared_variables(found.text))
        if undeclared:
            raise bad_input(
                f"The document declares no variable ${undeclared[0]}",
                field=f"variables.{undeclared[0]}",
            )
        return {**params, "query": found.text, "operation_name": found.name, "trusted": True}
