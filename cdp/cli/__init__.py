"""The `cdp` command."""

from cdp.cli import audit, keys, server
from cdp.cli.common import app

__all__ = ["app", "audit", "keys", "main", "server"]


def main() -> None:
    app()
