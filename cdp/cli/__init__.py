"""The `cdp` command."""

from cdp.cli import audit, keys, server, staff, tiers
from cdp.cli.common import app

__all__ = ["app", "audit", "keys", "main", "server", "staff", "tiers"]


def main() -> None:
    app()
