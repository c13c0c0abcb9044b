"""Fixtures of the web chat's tests: the app served in this process on a fresh database,
once on SQLite and once on PostgreSQL (see `tests.support.webchat_app`)."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest

from bot.core.db import Database
from tests.support.webchat_app import WebchatAppFactory
from tests.support.webchat_app import webchat_app as start


@pytest.fixture
def webchat_app(tmp_path: Path, database_url: str, database: Database) -> WebchatAppFactory:
    """Starts the app with some settings changed: `async with webchat_app(**updates) as app`."""
    return partial(start, tmp_path, database_url, database)
