"""Alembic migrations build exactly the schema the models describe, and undo cleanly."""

from __future__ import annotations

import asyncio

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect

from bot.core.db import Database
from bot.schema import METADATA, alembic_config


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, METADATA))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_migrations_match_models(database: Database) -> None:
    async with database.engine.connect() as connection:
        assert await connection.run_sync(_diff) == []


async def _table_names(url: str) -> set[str]:
    db = Database(url)
    try:
        async with db.engine.connect() as connection:
            return await connection.run_sync(_tables)
    finally:
        await db.dispose()


def test_downgrade_and_upgrade_again(database_url: str) -> None:
    config = alembic_config(database_url)
    command.downgrade(config, "base")
    assert asyncio.run(_table_names(database_url)) <= {"alembic_version"}
    command.upgrade(config, "head")
    tables = asyncio.run(_table_names(database_url))
    assert {"customers", "messages", "complaints", "audit_events"} <= tables
