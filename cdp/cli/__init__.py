"""The `cdp` command."""

from cdp.cli import (
    audiences,
    audit,
    audit_tree,
    keys,
    privacy,
    server,
    service_accounts,
    staff,
    tiers,
    wechat,
)
from cdp.cli.common import app

__all__ = [
    "app",
    "audiences",
    "audit",
    "audit_tree",
    "keys",
    "main",
    "privacy",
    "server",
    "service_accounts",
    "staff",
    "tiers",
    "wechat",
]


def main() -> None:
    app()
