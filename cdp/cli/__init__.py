"""The `cdp` command."""

from cdp.cli import (
    analytics,
    audiences,
    audit,
    audit_tree,
    documents,
    keys,
    outbox,
    privacy,
    server,
    service_accounts,
    staff,
    tiers,
    wechat,
    worker,
)
from cdp.cli.common import app

__all__ = [
    "analytics",
    "app",
    "audiences",
    "audit",
    "audit_tree",
    "documents",
    "keys",
    "main",
    "outbox",
    "privacy",
    "server",
    "service_accounts",
    "staff",
    "tiers",
    "wechat",
    "worker",
]


def main() -> None:
    app()
