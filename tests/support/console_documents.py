"""The staff console's trusted documents as the manifest holds them (cdp/documents/console.json),
by name: what the console's tests read a desk's documents from and send by id, the settings
under which the console's roles run them only, and a check of what a page posted."""

from __future__ import annotations

import json
from typing import Any

from cdp.config import Settings
from cdp.graphql.console_documents import CONSOLE_ROLES, MANIFEST

ENTRIES: dict[str, dict[str, Any]] = json.loads(MANIFEST.read_text(encoding="utf-8"))
BY_NAME: dict[str, str] = {entry["name"]: key for key, entry in ENTRIES.items()}


def console_document(name: str) -> str:
    """The exact text of the console's document `name`."""
    return str(ENTRIES[BY_NAME[name]]["document"])


def console_id(name: str) -> str:
    """`sha256:<hex>` of the console's document `name`: what the page sends."""
    return BY_NAME[name]


def console_roles(name: str) -> set[str]:
    return set(ENTRIES[BY_NAME[name]]["roles"])


def trusted_console(settings: Settings) -> Settings:
    """`settings` with the console's roles running trusted documents only: what the console's
    session does in production, whose page has no development sign-in to drive a browser with."""
    return settings.model_copy(update={"trusted_documents_only": tuple(sorted(CONSOLE_ROLES))})


# What the console's pages post to /graphql: a trusted document's id, never its text.
SENT_KEYS = {"documentId", "operationName", "variables"}


def sent_by_id(bodies: list[str]) -> None:
    """Every body is a trusted document of the console's manifest, by id, and nothing else."""
    for body in bodies:
        sent = json.loads(body)
        assert set(sent) == SENT_KEYS, sent
        assert sent["documentId"] == BY_NAME[sent["operationName"]], sent
