"""The `cdp` command."""

from cdp.cli import (
    analytics,
    audiences,
    audit,
    audit_tree,
    keys,
    server,
    service_accounts,
    staff,
    tiers,
    wechat,
)
from cdp.cli.common import app

__all__ = [
    "analytics",
    "app",
    "audiences",
    "audit",
    "audit_tree",
    "keys",
    "main",
    "server",
    "service_accounts",
    "staff",
    "tiers",
    "wechat",
]


def main() -> None:
    app()
