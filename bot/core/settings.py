"""All configuration, read once from the environment and `.env`."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Where the law (GDPR and national rules) makes call recording opt-in: EU/EEA, UK, Switzerland.
EMEA_OPT_IN_COUNTRIES = [
    "AT",
    "BE",
    "BG",
    "CH",
    "CY",
    "CZ",
    "DE",
    "DK",
    "EE",
    "ES",
    "FI",
    "FR",
    "GB",
    "GR",
    "HR",
    "HU",
    "IE",
    "IS",
    "IT",
    "LI",
    "LT",
    "LU",
    "LV",
    "MT",
    "NL",
    "NO",
    "PL",
    "PT",
    "RO",
    "SE",
    "SI",
    "SK",
]


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

    # Twilio (SMS and Voice). Empty account SID: the Twilio webhooks answer 503.
    twilio_account_sid: str = ""
    twilio_auth_token: SecretStr = SecretStr("")
    twilio_phone_number: str = Field(default="", description="The number SMS replies come from.")
    twilio_api_base_url: str = "https://api.twilio.com"
    sms_reply_mode: Literal["rest", "twiml"] = Field(
        default="rest",
        description="rest: answer the webhook at once, send replies through the REST API with "
        "status callbacks; twiml: wait for the assistant and answer in the webhook response.",
    )
    sms_help_text: str = (
        "This is our customer-service assistant. Text your question any time; "
        "reply STOP to stop messages, START to resume."
    )
    voice_language: str = "en-US"
    voice_name: str = Field(
        default="", description="Twilio <Say> voice; empty: one for the language."
    )
    voice_answer_timeout_seconds: float = 10.0
    voice_record_calls: bool = True
    # A caller waiting for a person on hold longer than this is offered a call back instead.
    voice_max_hold_seconds: int = Field(default=600, ge=30)
    # Callers from these countries (Twilio's FromCountry) must press 1 to be recorded.
    voice_recording_opt_in_countries: set[str] = Field(
        default_factory=lambda: set(EMEA_OPT_IN_COUNTRIES)
    )

    # Email: IMAP in, SMTP out. Empty IMAP host: the email channel is off.
    imap_host: str = ""
    imap_port: int = 993
    imap_user: str = ""
    imap_password: SecretStr = SecretStr("")
    imap_mailbox: str = "INBOX"
    imap_ssl: bool = True
    email_poll_seconds: float = 30.0
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_user: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    email_from_address: str = ""
    email_from_name: str = "Customer Service"

    # Handoff to people: departments, queues, skills and hours (edited by content owners).
    queues_file: Path = PROJECT_ROOT / "handoff" / "queues.yml"
    canned_responses_file: Path = PROJECT_ROOT / "handoff" / "canned.yml"
    # Used to estimate the wait: how long an agent spends on a conversation, on average.
    handoff_average_minutes: float = 6.0
    # Signs agent sign-in tokens: the same on every app instance (random: sign-in per run).
    agent_token_secret: SecretStr = Field(
        default_factory=lambda: SecretStr(secrets.token_urlsafe(32))
    )
    agent_token_minutes: int = 8 * 60

    attachment_max_bytes: int = 5 * 1024 * 1024
    attachment_types: set[str] = Field(
        default_factory=lambda: {
            "image/jpeg",
            "image/png",
            "image/gif",
            "image/webp",
            "image/heic",
            "application/pdf",
            "text/plain",
        }
    )

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

    @model_validator(mode="after")
    def _channels_complete(self) -> Settings:
        """A half-configured channel fails at startup with what is missing."""
        if self.twilio_account_sid and not self.twilio_auth_token.get_secret_value():
            raise ValueError("TWILIO_ACCOUNT_SID is set but TWILIO_AUTH_TOKEN is empty; set both.")
        if self.imap_host:
            missing = [
                name.upper()
                for name in ("imap_user", "smtp_host", "email_from_address")
                if not getattr(self, name)
            ]
            if missing:
                raise ValueError(
                    f"IMAP_HOST is set, so the email channel is on, but {', '.join(missing)} "
                    "is empty; set it (see .env.example)."
                )
        return self

    @property
    def twilio_enabled(self) -> bool:
        """Whether Twilio credentials are configured (SMS and Voice webhooks accept calls)."""
        return bool(self.twilio_account_sid and self.twilio_auth_token.get_secret_value())

    @property
    def email_enabled(self) -> bool:
        """Whether the mailbox poller and the SMTP sender run."""
        return bool(self.imap_host)

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
