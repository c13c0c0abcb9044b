"""The database schema of the whole app (the core's tables, handoff's and the NLP results')
and its Alembic migrations."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData
from sqlalchemy.engine.url import make_url

import bot.nlp.models  # noqa: F401 - registers the NLP results' tables
import handoff.models  # noqa: F401 - registers handoff's tables with the shared metadata
from bot.core.models import Base

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
METADATA: MetaData = Base.metadata


def alembic_config(url: str) -> Config:
    """Alembic configuration pointing at our migrations and `url`."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(url: str, revision: str = "head") -> None:
    """Bring the database at `url` up to `revision` (blocking; call before serving)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), revision)
