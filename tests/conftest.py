"""Fixtures shared by the whole suite: databases on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.core.db import Database
from bot.schema import migrate
from tests.support.databases import postgres_database, sqlite_url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database: once on SQLite, once on PostgreSQL."""
    if request.param == "sqlite":
        url = sqlite_url(tmp_path)
        migrate(url)
        yield url
    else:
        with postgres_database() as url:
            migrate(url)
            yield url


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """The store's database object on `database_url`."""
    db = Database(database_url)
    yield db
    await db.dispose()
