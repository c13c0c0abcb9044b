"""All configuration, read once from the environment and `.env`."""

from __future__ import annotations

import os
import re
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# A web origin in ALLOWED_ORIGINS and FRAME_ANCESTORS (lower case, no trailing slash).
_ORIGIN = re.compile(r"https?://[a-z0-9-]+(\.[a-z0-9-]+)*(:[0-9]{1,5})?")
_FRAME_ORIGIN = re.compile(r"https?://(\*\.)?[a-z0-9-]+(\.[a-z0-9-]+)*(:[0-9]{1,5})?")
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
    # A request/response channel (web chat REST) answers within this long; a slower turn
    # gets "saved, answering shortly" and its replies are pushed when they come.
    answer_wait_seconds: float = Field(default=20.0, gt=0)
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
    # Each process's log file under var/log is rotated at this size, keeping this many old ones.
    log_max_bytes: int = Field(default=10 * 1024 * 1024, ge=64 * 1024)
    log_backups: int = Field(default=5, ge=1)

    # Security. Secrets left empty are generated: per run for the ones only our own processes
    # share, and once (kept in var/secrets/) for the ones that must survive a restart.
    redis_url: str = Field(
        default="",
        description="redis://host:6379/0 to share rate limits between app instances; "
        "empty: limits are kept in each process.",
    )
    webchat_session_secret: SecretStr = Field(
        default=SecretStr(""),
        description="Signs web chat visitors' session credentials; the same on every instance.",
    )
    webchat_session_days: int = Field(default=30, ge=1)
    webchat_embed_secret: SecretStr = Field(
        default=SecretStr(""),
        description="Lets the company's own app (its server) open web chat sessions for its "
        "signed-in users; empty: that is off.",
    )
    action_server_secret: SecretStr = Field(
        default_factory=lambda: SecretStr(secrets.token_urlsafe(32)),
        description="Rasa sends it to the action server with every call.",
    )
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="Other web origins (https://shop.example.com) allowed to call the web "
        "chat API from a browser; empty: only the app's own pages.",
    )
    frame_ancestors: list[str] = Field(
        default_factory=list,
        description="Other web origins (https://shop.example.com, https://*.example.com) "
        "allowed to show the web chat page in a frame; empty: only the app's own pages.",
    )
    max_request_bytes: int = Field(default=64 * 1024, ge=4096)
    # Rate limits, in the `limits` notation: "20/minute", several separated by ";".
    webchat_visitor_rate: str = "30/10 seconds;120/minute"
    webchat_address_rate: str = "600/minute"
    webchat_new_session_rate: str = "30/minute;300/hour"
    sms_sender_rate: str = "20/minute;200/hour"
    call_sender_rate: str = "10/minute;60/hour"
    email_sender_rate: str = "20/minute;200/hour"
    agent_login_account_failures: str = "5/15 minutes"
    agent_login_address_failures: str = "20/15 minutes"

    # Business systems behind self-service (orders, shipments, balances, payments, refunds).
    business_backend: Literal["demo", "http"] = Field(
        default="demo",
        description="demo: the bundled SQLite backend (seed it with `python -m bot business "
        "seed`); http: the company's REST APIs, contract in bot/business/openapi.yaml.",
    )
    business_demo_database_url: str = Field(
        default="", description="The demo backend's database; empty: var/business.db."
    )
    business_api_url: str = ""
    business_api_auth_header: str = "Authorization"
    business_api_auth_value: SecretStr = Field(
        default=SecretStr(""), description='e.g. "Bearer <token>", sent with every call.'
    )
    business_api_timeout_seconds: float = Field(default=5.0, gt=0)
    business_api_retries: int = Field(default=2, ge=0)
    business_api_breaker_failures: int = Field(default=5, ge=1)
    business_api_breaker_reset_seconds: float = Field(default=30.0, gt=0)
    business_webhook_secret: SecretStr = Field(
        default=SecretStr(""),
        description="Signs the business systems' events to POST /business/events "
        "(X-Business-Signature: sha256=<hex HMAC of the body>); empty: events are refused.",
    )
    # The page customers follow to track a parcel (carrier and number filled in) when the
    # business systems give no link of their own.
    tracking_url_template: str = "https://track.example.com/{carrier}/{tracking_number}"

    # Verification of customers: one-time codes and the company app's signed tokens.
    otp_secret: SecretStr = Field(
        default=SecretStr(""),
        description="Keys the digests of one-time codes; the same on every instance.",
    )
    otp_ttl_seconds: int = Field(default=300, ge=30)
    otp_max_attempts: int = Field(default=5, ge=1)
    otp_lockout_minutes: int = Field(default=15, ge=1)
    # Codes sent, per customer record and per phone number / mailbox.
    otp_send_rate: str = "3/15 minutes;10/day"
    verification_lifetime_minutes: int = Field(
        default=0, ge=0, description="How long a verification lasts; 0: the whole conversation."
    )
    app_token_secret: SecretStr = Field(
        default=SecretStr(""),
        description="Shared secret of the company app's HS256 tokens; empty with no public "
        "key: in-app tokens are refused.",
    )
    app_token_public_key: str = Field(
        default="",
        description="PEM public key (or a path to one) of the company app's RS256/ES256 tokens.",
    )
    app_token_audience: str = "customer-assistant"
    app_token_issuer: str = ""
    app_token_leeway_seconds: int = Field(default=30, ge=0)

    # Refunds decided by the assistant: within all of these, approved at once; otherwise
    # a complaint for a person.
    refund_auto_max_minor: int = Field(default=10000, ge=0, description="100.00 in minor units")
    refund_max_days_since_delivery: int = Field(default=30, ge=0)
    refund_max_in_90_days: int = Field(default=2, ge=0)
    # Reasons (words in the customer's own text) that always go to a person.
    refund_review_reasons: list[str] = Field(
        default_factory=lambda: ["fraud", "stolen", "unauthorised", "unauthorized", "chargeback"]
    )
    # What agents may approve from the console, by role (minor units).
    agent_refund_limits_minor: dict[str, int] = Field(
        default_factory=lambda: {"agent": 5000, "supervisor": 50000}
    )

    # Where evidence documents (customers' photos, PDFs) are kept.
    documents_backend: Literal["local", "s3"] = "local"
    s3_bucket: str = ""
    s3_prefix: str = "evidence/"
    s3_endpoint_url: str = Field(default="", description="For S3-compatible stores (MinIO).")
    s3_region: str = "eu-west-2"
    s3_server_side_encryption: Literal["AES256", "aws:kms", ""] = "AES256"
    s3_kms_key_id: str = ""

    # NLP (sentiment, complaint categories, summaries, priority), on this machine's CPU.
    nlp_enabled: bool = Field(default=True, description="Score messages, summarise, classify.")
    nlp_models_dir: Path = PROJECT_ROOT / "models" / "nlp"
    sentence_model_path: str = Field(
        default="", description="A sentence-embedding model directory; empty: packaged MiniLM."
    )
    summarizer_model_path: str = Field(
        default="",
        description="A local Hugging Face seq2seq model directory (distilbart, flan-t5) to "
        "summarise with; empty: extractive summaries with the sentence model.",
    )
    nlp_backend: Literal["local", "comprehend"] = Field(
        default="local", description="Sentiment and entities on this machine, or by Comprehend."
    )
    comprehend_region: str = "eu-west-2"
    comprehend_endpoint_url: str = Field(default="", description="A Comprehend-compatible API.")
    comprehend_language: str = "en"
    # The background job queue: empty is a SQLite file under var/ (no server needed);
    # redis://host:6379/0 uses Redis, amqp://user:password@host:5672/%2F RabbitMQ.
    job_queue_url: str = ""
    job_queue_name: str = "assistant-nlp"
    # The app process runs the job worker itself; false when `python -m bot worker` runs it.
    jobs_in_app: bool = True
    job_workers: int = Field(default=1, ge=1, le=16)
    # A conversation whose customer turns strongly negative is handed to a person.
    auto_escalate_on_sentiment: bool = False
    auto_escalate_score: float = Field(default=-0.6, ge=-1.0, le=0.0)
    auto_escalate_messages: int = Field(
        default=2, ge=1, description="Consecutive customer messages at or below the score."
    )

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

    @field_validator("allowed_origins", "frame_ancestors")
    @classmethod
    def _origins(cls, origins: list[str], info: ValidationInfo) -> list[str]:
        """Origins are scheme://host[:port], nothing else: a path, a quote or a ";" would
        change what a header means, and "*" would let every site in. Frames may name every
        subdomain of one domain (https://*.example.com)."""
        pattern = _FRAME_ORIGIN if info.field_name == "frame_ancestors" else _ORIGIN
        cleaned = [origin.strip().rstrip("/").lower() for origin in origins]
        for origin in cleaned:
            if not pattern.fullmatch(origin):
                raise ValueError(f"{origin!r} is not an origin such as https://shop.example.com")
        return cleaned

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
        if self.business_backend == "http" and not self.business_api_url:
            raise ValueError("BUSINESS_BACKEND is http but BUSINESS_API_URL is empty; set it.")
        if self.documents_backend == "s3" and not self.s3_bucket:
            raise ValueError("DOCUMENTS_BACKEND is s3 but S3_BUCKET is empty; set it.")
        return self

    @model_validator(mode="after")
    def _kept_secrets(self) -> Settings:
        """Secrets that must outlive a restart are generated once and kept under var/."""
        if not self.webchat_session_secret.get_secret_value():
            self.webchat_session_secret = SecretStr(
                kept_secret(self.var_dir, "webchat_session_secret")
            )
        if not self.otp_secret.get_secret_value():
            self.otp_secret = SecretStr(kept_secret(self.var_dir, "otp_secret"))
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
    def effective_business_database_url(self) -> str:
        """The demo business backend's database, or its SQLite file under `var/`."""
        return self.business_demo_database_url or (
            f"sqlite+aiosqlite:///{self.var_dir / 'business.db'}"
        )

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


def kept_secret(var_dir: Path, name: str) -> str:
    """A random secret stored in `var_dir/secrets/name` (readable by its owner only)."""
    path = var_dir / "secrets" / name
    if path.exists():
        return path.read_text(encoding="ascii").strip()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    value = secrets.token_urlsafe(32)
    # Written to a private temporary file and renamed, so two processes agree on one value.
    temporary = path.with_suffix(f".{secrets.token_hex(4)}")
    temporary.touch(mode=0o600)
    temporary.write_text(value, encoding="ascii")
    try:
        os.link(temporary, path)
    except FileExistsError:
        value = path.read_text(encoding="ascii").strip()
    finally:
        temporary.unlink()
    return value


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (read once)."""
    return Settings()
