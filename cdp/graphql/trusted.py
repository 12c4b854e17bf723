"""Running trusted documents: `{"documentId": "sha256:<hex>", "variables": {...}}` (the
GraphQL-over-HTTP persisted-documents shape) names a document of cdp's own pages (the
manifests `cdp/documents/pages.json` and `cdp/documents/console.json`, in memory) or one a
brand registered (`trusted_documents`), which then runs as if its text had been sent: the
same limits, policy and audit.

Refusals are coded 4xx: a malformed id or both `query` and `documentId` (BAD_USER_INPUT), an
unknown id (NOT_FOUND, `reason` PERSISTED_DOCUMENT_NOT_FOUND), a role the document is not
registered for (FORBIDDEN, DOCUMENT_ROLE), a variable the document does not declare
(BAD_USER_INPUT), and a document's text from a principal that runs trusted documents only
(FORBIDDEN, TRUSTED_DOCUMENTS_ONLY: in production the customer and the console's session,
and the roles of `CDP_TRUSTED_DOCUMENTS_ONLY`).

The three refusals for the document itself are audited (`document.refused`: the id, or the
SHA-256 of the text refused, the reason and the credential; never the text or a variable)
and committed before the answer, and counted in `cdp_trusted_document_refusals_total`. The
request's rate budget is spent before anything is read, and each principal has a budget of
audited refusals besides: beyond it one record says so (outcome `throttled`) and the rest of
that minute's refusals are counted only, so that a client spraying ids cannot fill the log.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from graphql import GraphQLSchema, OperationDefinitionNode, parse
from prometheus_client import Counter

from cdp.audit.actions import AuditAction, AuditOutcome
from cdp.auth import Credential, Principal
from cdp.config import Settings
from cdp.documents import registry
from cdp.errors import CdpError, ErrorCode, bad_input
from cdp.graphql import console_documents
from cdp.graphql.context import Context
from cdp.graphql.documents import Operation, operations_in_manifest, runnable_by
from cdp.rate_stores import store_for
from cdp.roles import Role

PAGES_MANIFEST = Path(__file__).resolve().parent.parent / "documents" / "pages.json"
# Refusals audited one by one per principal and minute (bursts up to as many); then one
# `throttled` record a minute, and the rest counted only.
AUDITED_REFUSALS_PER_MINUTE = 10
# A registered document's text never changes (its id is its hash), but `cdp documents register`
# may change its roles from another process: a found row is kept this long for the roles it
# names, so a role taken away reaches every serving process within it (one given is read at
# once: a role the kept row lacks reads again), and a hot document costs no read per request.
FOUND_FOR_SECONDS = 10.0
FOUND_KEPT = 1024
REFUSALS = Counter(
    "cdp_trusted_document_refusals",
    "Requests refused for their document, by reason (PERSISTED_DOCUMENT_NOT_FOUND, "
    "DOCUMENT_ROLE, TRUSTED_DOCUMENTS_ONLY) and audit (recorded; throttled: recorded, saying "
    "that the next ones are not; counted: over the principal's audit budget, not recorded).",
    ["reason", "audit"],
)


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


def console_page_documents(schema: GraphQLSchema) -> dict[str, Trusted]:
    """The staff console's documents by id, each for the roles its manifest names that the
    policy lets run it (cdp.graphql.console_documents)."""
    text = console_documents.MANIFEST.read_text(encoding="utf-8")
    return {
        key: Trusted(document, name, roles)
        for key, name, document, roles in console_documents.load_manifest(schema, text)
    }


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
    text from a principal that may run trusted documents only."""

    def __init__(self, settings: Settings, schema: GraphQLSchema) -> None:
        self.settings = settings
        self.trusted_only = settings.trusted_only_roles
        self.pages = {**page_documents(schema), **console_page_documents(schema)}
        self.found: dict[str, tuple[float, Trusted]] = {}

    def runs_trusted_only(self, principal: Principal) -> bool:
        """The roles of `Settings.trusted_only_roles` (the customer in production), and in
        production the console's session, whatever its role: a staff member's browser sends
        the console's documents and nothing else."""
        session = principal.credential is Credential.SESSION and self.settings.is_production
        return session or principal.role in self.trusted_only

    async def find(self, key: str, context: Context, role: Role) -> Trusted | None:
        page = self.pages.get(key)
        if page is not None:
            return page
        now = time.monotonic()
        kept = self.found.get(key)
        if kept is not None and kept[0] > now and role in kept[1].roles:
            return kept[1]
        async with context.uow.session() as session:
            row = await registry.find(session, key)
        if row is None:  # unknown ids are not kept: they are refused, audited and budgeted
            return None
        found = Trusted(row.document, row.operation_name, row.role_set)
        if len(self.found) >= FOUND_KEPT:
            self.found.clear()
        self.found[key] = (now + FOUND_FOR_SECONDS, found)
        return found

    async def resolve(self, params: dict[str, Any], context: Context) -> dict[str, Any]:
        """`params` with the named document's text as the query; CdpError when refused."""
        principal = context.principal
        role = principal.role
        key = params.get("document_id")
        if key is None:
            if self.runs_trusted_only(principal):
                session = principal.credential is Credential.SESSION
                whose = "console's session" if session else f"{role.value} role"
                raise await self.refused(
                    context,
                    CdpError(
                        ErrorCode.FORBIDDEN,
                        f"The {whose} runs trusted documents only: send"
                        ' {"documentId": "sha256:<hex>", "variables": {...}}',
                        reason="TRUSTED_DOCUMENTS_ONLY",
                    ),
                    registry.document_id(str(params.get("query") or "")),
                )
            return params
        found = await self.find(key, context, role)
        if found is None:
            raise await self.refused(
                context,
                CdpError(
                    ErrorCode.NOT_FOUND,
                    "No trusted document has this id; register it with `cdp documents register`",
                    field="documentId",
                    reason="PERSISTED_DOCUMENT_NOT_FOUND",
                ),
                key,
            )
        if role not in found.roles:
            raise await self.refused(
                context,
                CdpError(
                    ErrorCode.FORBIDDEN,
                    f"This trusted document is not registered for the {role.value} role",
                    field="documentId",
                    reason="DOCUMENT_ROLE",
                ),
                key,
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

    async def refused(self, context: Context, error: CdpError, document: str) -> CdpError:
        """`error`, once its refusal is counted and, within the principal's audit budget,
        recorded and committed: the answer goes only with its record."""
        reason = error.reason or error.code.value
        audit = await self.audit_budget(context.principal, context)
        REFUSALS.labels(reason, audit).inc()
        if audit == "counted":
            return error
        detail: dict[str, object] = {
            "document": document,
            "reason": reason,
            "credential": context.principal.credential.value,
        }
        if audit == "throttled":
            detail["audited_per_minute"] = AUDITED_REFUSALS_PER_MINUTE
        outcome = AuditOutcome.THROTTLED if audit == "throttled" else error.code.value.lower()
        context.uow.trail.record(
            action=AuditAction.DOCUMENT_REFUSED, outcome=outcome, detail=detail
        )
        await context.uow.commit()
        return error

    async def audit_budget(self, principal: Principal, context: Context) -> str:
        """`recorded` within the principal's budget of audited refusals, then `throttled`
        once a minute, else `counted`."""
        store = store_for(self.settings, context.uow.database)
        who = f"{principal.role.value}:{principal.subject}"
        if not await store.take(f"document_refusals:{who}", AUDITED_REFUSALS_PER_MINUTE):
            return "recorded"
        if not await store.take(f"document_refusals_throttled:{who}", 1):
            return "throttled"
        return "counted"
