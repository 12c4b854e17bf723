"""Running Alembic from code: `cdp migrate`, start-up checks and tests share this."""

from __future__ import annotations

from functools import cache

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from cdp.config import PROJECT_ROOT, Settings


def alembic_config(settings: Settings) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.attributes["database_url"] = settings.database_url
    config.attributes["database_pooler"] = settings.database_pooler
    return config


@cache
def head_revision() -> str | None:
    config = Config()
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    return ScriptDirectory.from_config(config).get_current_head()


def upgrade_to_head(settings: Settings) -> None:
    """`alembic upgrade head` on the configured database (blocking; run from the CLI)."""
    command.upgrade(alembic_config(settings), "head")
