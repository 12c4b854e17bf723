"""The `cdp` command."""

from cdp.cli import audit, keys, server, service_accounts, staff, tiers
from cdp.cli.common import app

__all__ = ["app", "audit", "keys", "main", "server", "service_accounts", "staff", "tiers"]


def main() -> None:
    app()
