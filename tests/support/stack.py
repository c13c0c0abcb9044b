"""The whole assistant for end-to-end tests: Rasa with the trained model, the action server
and the app on free ports, over SQLite or a fresh PostgreSQL database, with the servers the
channels talk to: a local stand-in for Twilio's REST API (the only part that is remote),
Dovecot (IMAP) and aiosmtpd. The app reaches Rasa through a proxy the tests can cut."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import SecretStr

from bot.cli import seed_demo_if_empty
from bot.core.settings import Settings
from bot.processes import (
    ProcessSpec,
    Supervisor,
    app_environment,
    app_spec,
    assistant_specs,
    port_of,
)
from bot.schema import migrate
from bot.testing.ports import free_port
from bot.testing.twilio_api import FakeTwilio, fake_twilio
from bot.testing.twilio_webhooks import DEFAULT_ACCOUNT_SID
from bot.training import train
from tests.support.databases import postgres_database, sqlite_url
from tests.support.log_scan import sensitive_values
from tests.support.mail import DovecotServer, SmtpCapture, dovecot_server, smtp_server
from tests.support.tcp_proxy import TcpProxy

TWILIO_AUTH_TOKEN = "e231c197493a7122d475b4e2e0f1c6a7"
TWILIO_NUMBER = "+14155550199"
SUPPORT_ADDRESS = "support@shop.example"
# The company app's HS256 secret, which signs its customers' tokens (in-app web chat).
APP_TOKEN_SECRET = "e2e-company-app-token-secret-0123456789"
# Every queue open around the clock but complaints, so what customers are told does not
# depend on when the tests run.
QUEUES_FILE = Path(__file__).resolve().parent.parent / "e2e" / "queues.yml"

DatabaseKind = Literal["sqlite", "postgres"]

# Every stack started in this test session, in order (the log test reads their logs).
STACKS: list[Stack] = []


@dataclass
class Stack:
    """A running assistant; the app reaches Rasa through a proxy the tests can cut."""

    settings: Settings
    supervisor: Supervisor
    rasa_proxy: TcpProxy
    action_server: ProcessSpec
    twilio: FakeTwilio
    imap: DovecotServer
    smtp: SmtpCapture
    # What the stack's database held when it stopped (see `tests.support.log_scan`).
    sensitive: dict[str, str] | None = None

    @property
    def app_url(self) -> str:
        """The app's base URL."""
        return f"http://127.0.0.1:{self.settings.app_port}"

    @property
    def ws_url(self) -> str:
        """The web chat's WebSocket URL."""
        return f"ws://127.0.0.1:{self.settings.app_port}/webchat/ws"

    @property
    def database_url(self) -> str:
        """The database every process of the stack uses."""
        return self.settings.effective_database_url

    @property
    def log_dir(self) -> Path:
        """Where every process of the stack writes its log file (rotated ones too)."""
        return self.settings.var_dir / "log"

    @property
    def app_log(self) -> Path:
        """The app's log file (JSON lines)."""
        return self.log_dir / "app.log"

    def stop_action_server(self) -> None:
        """Take the action server down."""
        self.supervisor.stop(self.action_server.name)

    def start_action_server(self) -> None:
        """Bring the action server back and wait until it is healthy."""
        self.supervisor.start(self.action_server)
        self.supervisor.wait_healthy(self.action_server)

    def cli(self, *args: str, extra_env: dict[str, str] | None = None) -> str:
        """Run `python -m bot ...` against this stack; its output (it must succeed)."""
        result = subprocess.run(
            [sys.executable, "-m", "bot", *args],
            env=app_environment(self.settings) | (extra_env or {}),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    @contextmanager
    def extra_app(self, name: str, **updates: object) -> Iterator[str]:
        """Another app instance on the same Rasa and database, with some settings changed
        (and no mailbox poller, which the first instance runs); its base URL."""
        settings = self.settings.model_copy(
            update={"app_port": free_port(), "imap_host": "", **updates}
        )
        spec = app_spec(settings)
        spec = dataclasses.replace(
            spec, name=f"app-{name}", log_path=spec.log_path.with_name(f"app-{name}.log")
        )
        self.supervisor.start(spec)
        self.supervisor.wait_healthy(spec)
        try:
            yield f"http://127.0.0.1:{settings.app_port}"
        finally:
            self.supervisor.stop(spec.name)


def stack_settings(
    tmp: Path, database_url: str, twilio: FakeTwilio, imap: DovecotServer, smtp: SmtpCapture
) -> Settings:
    """The settings of a stack under `tmp`: free ports, fast retries, every channel on."""
    return Settings(
        var_dir=tmp / "var",
        database_url=database_url,
        app_port=free_port(),
        rasa_url=f"http://127.0.0.1:{free_port()}",
        action_server_url=f"http://127.0.0.1:{free_port()}",
        rasa_token=SecretStr(secrets.token_hex(8)),
        retry_interval_seconds=1.0,
        health_cache_seconds=0.5,
        log_level="INFO",
        twilio_account_sid=DEFAULT_ACCOUNT_SID,
        twilio_auth_token=SecretStr(TWILIO_AUTH_TOKEN),
        twilio_phone_number=TWILIO_NUMBER,
        twilio_api_base_url=twilio.base_url,
        voice_answer_timeout_seconds=12.0,
        imap_host=imap.host,
        imap_port=imap.port,
        imap_user=imap.user,
        imap_password=SecretStr(imap.password),
        imap_ssl=False,
        email_poll_seconds=2.0,
        smtp_host=smtp.host,
        smtp_port=smtp.port,
        smtp_security="none",
        email_from_address=SUPPORT_ADDRESS,
        email_from_name="Shop Support",
        queues_file=QUEUES_FILE,
        app_token_secret=SecretStr(APP_TOKEN_SECRET),
    )


@contextmanager
def running_stack(tmp: Path, database: DatabaseKind) -> Iterator[Stack]:
    """Start everything under `tmp`, wait until healthy, yield, stop everything."""
    with ExitStack() as servers:
        database_url = servers.enter_context(
            postgres_database() if database == "postgres" else nullcontext(sqlite_url(tmp))
        )
        twilio = servers.enter_context(fake_twilio(DEFAULT_ACCOUNT_SID, TWILIO_AUTH_TOKEN))
        imap = servers.enter_context(dovecot_server(tmp / "mail"))
        smtp = servers.enter_context(smtp_server())
        rasa_settings = stack_settings(tmp, database_url, twilio, imap, smtp)
        model = train(rasa_settings)
        migrate(database_url)
        # The demo business systems the self-service answers from, with their personas.
        asyncio.run(seed_demo_if_empty(rasa_settings))
        proxy_port = free_port()
        app_settings = rasa_settings.model_copy(
            update={"rasa_url": f"http://127.0.0.1:{proxy_port}"}
        )
        proxy = TcpProxy(listen_port=proxy_port, target_port=port_of(rasa_settings.rasa_url))
        proxy.start()
        supervisor = Supervisor(
            log_max_bytes=app_settings.log_max_bytes, log_backups=app_settings.log_backups
        )
        specs = assistant_specs(rasa_settings, model=model, app_settings=app_settings)
        stack = Stack(app_settings, supervisor, proxy, specs[0], twilio, imap, smtp)
        try:
            supervisor.start_all(specs)
            STACKS.append(stack)
            yield stack
            # Kept for the log test, which may run after this database is gone.
            stack.sensitive = sensitive_values(app_settings)
        finally:
            supervisor.stop_all()
            proxy.stop()
