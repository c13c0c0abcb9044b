"""Database engine and sessions (migrations: `bot.schema`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine.url import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from bot.core.messages import storable_data


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # The app and the action server write the same file: WAL lets readers run beside a
    # writer, and the busy timeout makes a second writer wait instead of failing.
    # The driver's own transaction handling is switched off so `_begin_immediate` decides.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _begin_immediate(connection: Any) -> None:
    # A deferred transaction that reads, then writes, fails at once with "database is
    # locked" when another process wrote in between; taking the write lock up front
    # makes it wait for the busy timeout instead.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _storable_parameters(
    _connection: Any, _cursor: Any, statement: str, parameters: Any, *_: Any
) -> tuple[str, Any]:
    # Text PostgreSQL refuses (NUL) or neither database takes (lone surrogates) becomes
    # U+FFFD in every statement, lookups included: the same on SQLite and PostgreSQL,
    # wherever the text came from.
    return statement, storable_data(parameters)


def create_engine(url: str) -> AsyncEngine:
    """An async engine for `url`; SQLite gets its folder created and safe pragmas."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 10})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _begin_immediate)
    else:
        engine = create_async_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)
    event.listen(engine.sync_engine, "before_cursor_execute", _storable_parameters, retval=True)
    return engine


class Database:
    """An engine and its session factory; one session per request or action."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine(url)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session that commits on success and rolls back on error."""
        async with self._sessions() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    async def ping(self) -> None:
        """Raise if the database cannot answer a trivial query."""
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
