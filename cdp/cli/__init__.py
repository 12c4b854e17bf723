"""The `cdp` command."""

from cdp.cli import audit, keys, server, tiers
from cdp.cli.common import app

__all__ = ["app", "audit", "keys", "main", "server", "tiers"]


def main() -> None:
    app()
