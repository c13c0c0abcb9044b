"""All configuration, read once from the environment and `.env`."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Settings of the app, the action server and the processes `run` starts."""

    model_config = SettingsConfigDict(
        env_file=PROJECT_ROOT / ".env", env_file_encoding="utf-8", extra="ignore"
    )

    var_dir: Path = PROJECT_ROOT / "var"
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL; empty means the embedded SQLite file var/assistant.db.",
    )

    app_host: str = "127.0.0.1"
    app_port: int = 8000
    public_url: str = Field(
        default="", description="Public base URL of the app, if behind a proxy."
    )

    rasa_url: str = "http://127.0.0.1:5005"
    rasa_token: SecretStr = Field(default_factory=lambda: SecretStr(secrets.token_hex(16)))
    rasa_timeout_seconds: float = 30.0
    action_server_url: str = "http://127.0.0.1:5055"

    rasa_venv: Path = PROJECT_ROOT / ".venv-rasa"
    models_dir: Path = PROJECT_ROOT / "models"
    model_name: str = "assistant"

    max_message_bytes: int = 4096
    conversation_idle_minutes: int = 24 * 60
    retry_interval_seconds: float = 5.0
    stale_processing_seconds: float = 120.0
    health_cache_seconds: float = 2.0

    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "json"

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, url: str) -> str:
        """Accept plain `postgresql://` and `sqlite://` URLs; use the async drivers."""
        for plain, async_driver in (
            ("postgresql://", "postgresql+asyncpg://"),
            ("postgres://", "postgresql+asyncpg://"),
            ("postgresql+psycopg2://", "postgresql+asyncpg://"),
            ("sqlite://", "sqlite+aiosqlite://"),
        ):
            if url.startswith(plain):
                url = async_driver + url[len(plain) :]
                break
        if url and not url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "DATABASE_URL must be empty (embedded SQLite), sqlite:///path/to/file.db or "
                f"postgresql://user:password@host:5432/dbname; got {url.split(':', 1)[0]}://..."
            )
        return url

    @property
    def effective_database_url(self) -> str:
        """The configured database, or the embedded SQLite file under `var/`."""
        return self.database_url or f"sqlite+aiosqlite:///{self.var_dir / 'assistant.db'}"

    @property
    def model_path(self) -> Path:
        """Where the trained Rasa model archive lives."""
        return self.models_dir / f"{self.model_name}.tar.gz"

    @property
    def rasa_executable(self) -> Path:
        """The `rasa` command inside Rasa's own virtual environment."""
        return self.rasa_venv / "bin" / "rasa"

    @property
    def app_url(self) -> str:
        """Base URL customers use to reach the app."""
        return self.public_url.rstrip("/") or f"http://{self.app_host}:{self.app_port}"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (read once)."""
    return Settings()
