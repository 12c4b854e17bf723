"""The `cdp` command."""

from cdp.cli import audit, keys, server, service_accounts, staff, tiers, wechat
from cdp.cli.common import app

__all__ = ["app", "audit", "keys", "main", "server", "service_accounts", "staff", "tiers", "wechat"]


def main() -> None:
    app()
