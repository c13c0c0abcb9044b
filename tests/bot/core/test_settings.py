"""Settings: database URLs are normalised to async drivers, bad ones refused clearly."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.core.settings import Settings


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgresql://u:p@db:5432/app", "postgresql+asyncpg://u:p@db:5432/app"),
        ("postgres://u@db/app", "postgresql+asyncpg://u@db/app"),
        ("sqlite:////tmp/a.db", "sqlite+aiosqlite:////tmp/a.db"),
        ("postgresql+asyncpg://u@db/app", "postgresql+asyncpg://u@db/app"),
    ],
)
def test_database_urls_use_async_drivers(given: str, used: str) -> None:
    assert Settings(database_url=given).effective_database_url == used


def test_embedded_default_is_a_sqlite_file_under_var(tmp_path: Path) -> None:
    settings = Settings(database_url="", var_dir=tmp_path)
    assert settings.effective_database_url == f"sqlite+aiosqlite:///{tmp_path}/assistant.db"


def test_unsupported_database_is_refused_with_how_to_fix() -> None:
    with pytest.raises(ValidationError, match="postgresql://user:password@host:5432/dbname"):
        Settings(database_url="mysql://root@localhost/app")


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_PORT", "9123")
    monkeypatch.setenv("RASA_TOKEN", "s3cret")
    settings = Settings()
    assert settings.app_port == 9123
    assert settings.rasa_token.get_secret_value() == "s3cret"
    assert settings.app_url == "http://127.0.0.1:9123"
