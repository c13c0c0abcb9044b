"""Fixtures of the end-to-end tests: the whole assistant running for real (see
`tests.support.stack`), once on SQLite and once on PostgreSQL, its database, an HTTP client
and a browser."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from playwright.async_api import Browser

from bot.core.db import Database
from tests.support.browser import chromium
from tests.support.stack import Stack, running_stack


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The log test last: it reads what every other test made the processes log."""
    items.sort(key=lambda item: item.path.name == "test_zz_logs.py")


@pytest.fixture(
    scope="session",
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """Start everything, wait until healthy, yield, stop everything."""
    tmp = tmp_path_factory.mktemp(f"stack-{request.param}")
    with running_stack(tmp, request.param) as running:
        yield running


@pytest.fixture
async def db(stack: Stack) -> AsyncIterator[Database]:
    """The stack's database, to check what was stored."""
    database = Database(stack.database_url)
    yield database
    await database.dispose()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client with a timeout long enough for a turn through Rasa."""
    async with httpx.AsyncClient(timeout=60) as client:
        yield client


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """A headless Chromium."""
    async with chromium() as launched:
        yield launched
