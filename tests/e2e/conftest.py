"""The whole assistant, for real: Rasa with the trained model, the action server and the app,
on free ports, once on SQLite and once on PostgreSQL."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.db import migrate
from bot.processes import ProcessSpec, Supervisor, assistant_specs, port_of
from bot.settings import Settings
from bot.training import train
from tests.support.databases import postgres_database, sqlite_url
from tests.support.ports import free_port
from tests.support.tcp_proxy import TcpProxy


@dataclass
class Stack:
    """A running assistant; the app reaches Rasa through a proxy the tests can cut."""

    settings: Settings
    supervisor: Supervisor
    rasa_proxy: TcpProxy
    action_server: ProcessSpec

    @property
    def app_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.app_port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.settings.app_port}/webchat/ws"

    @property
    def database_url(self) -> str:
        return self.settings.effective_database_url

    def stop_action_server(self) -> None:
        self.supervisor.stop(self.action_server.name)

    def start_action_server(self) -> None:
        self.supervisor.start(self.action_server)
        self.supervisor.wait_healthy(self.action_server)


def _settings(tmp: Path, database_url: str) -> Settings:
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
    )


@pytest.fixture(
    scope="session",
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """Start everything, wait until healthy, yield, stop everything."""
    tmp = tmp_path_factory.mktemp(f"stack-{request.param}")
    with (
        postgres_database() if request.param == "postgres" else nullcontext(sqlite_url(tmp))
    ) as database_url:
        rasa_settings = _settings(tmp, database_url)
        model = train(rasa_settings)
        migrate(database_url)
        proxy_port = free_port()
        app_settings = rasa_settings.model_copy(
            update={"rasa_url": f"http://127.0.0.1:{proxy_port}"}
        )
        proxy = TcpProxy(listen_port=proxy_port, target_port=port_of(rasa_settings.rasa_url))
        proxy.start()
        supervisor = Supervisor()
        specs = assistant_specs(rasa_settings, model=model, app_settings=app_settings)
        try:
            supervisor.start_all(specs)
            yield Stack(app_settings, supervisor, proxy, specs[0])
        finally:
            supervisor.stop_all()
            proxy.stop()
