"""The `cdp` command."""

from cdp.cli import audit, keys, server, service_accounts, tiers
from cdp.cli.common import app

__all__ = ["app", "audit", "keys", "main", "server", "service_accounts", "tiers"]


def main() -> None:
    app()
