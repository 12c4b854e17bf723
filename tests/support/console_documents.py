"""The staff console's trusted documents as the manifest holds them (cdp/documents/console.json),
by name: what the console's tests read a desk's documents from, and send by id."""

from __future__ import annotations

import json
from typing import Any

from cdp.graphql.console_documents import MANIFEST

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
