"""The demo backend on a throwaway database (SQLite file, and PostgreSQL when marked),
seeded with the personas and a few generated customers at a fixed `NOW`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.business.demo.backend import DemoBusinessSystems
from bot.business.demo.seed import seed
from tests.support.databases import postgres_database

NOW = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def business_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database for the demo backend: once on SQLite, once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'business.db'}"
    else:
        with postgres_database() as url:
            yield url


@pytest.fixture
def now() -> datetime:
    """When the `backend` fixture was seeded, and what its clock says."""
    return NOW


@pytest.fixture
async def backend(business_url: str) -> AsyncIterator[DemoBusinessSystems]:
    """The demo backend, seeded at NOW, whose clock says NOW."""
    demo = DemoBusinessSystems(business_url, clock=lambda: NOW)
    await seed(demo, customers=15, now=NOW)
    yield demo
    await demo.aclose()
