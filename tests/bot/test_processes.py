"""How the processes are configured: Rasa's generated endpoints and credentials."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
import yaml
from pydantic import SecretStr

from bot.core.db import Database
from bot.core.settings import Settings
from bot.processes import (
    GRACEFUL_SHUTDOWN_SECONDS,
    Supervisor,
    app_environment,
    app_spec,
    assistant_specs,
    write_rasa_config,
)
from bot.schema import migrate
from bot.testing.ports import free_port
from tests.support.agents import add_agent, console_settings, sign_in
from tests.support.databases import sqlite_url


def test_rasa_config_on_embedded_sqlite(tmp_path: Path) -> None:
    settings = Settings(
        var_dir=tmp_path,
        action_server_url="http://127.0.0.1:6055",
        action_server_secret=SecretStr("action-secret"),
        rasa_token=SecretStr("rasa-token"),
    )
    endpoints, credentials = write_rasa_config(settings, tmp_path / "rasa")
    assert yaml.safe_load(endpoints.read_text()) == {
        "action_endpoint": {
            "url": "http://127.0.0.1:6055/webhook",
            "headers": {"X-Action-Secret": "action-secret"},
        },
        "tracker_store": {"type": "SQL", "dialect": "sqlite", "db": f"{tmp_path}/rasa-tracker.db"},
    }
    # Only our channel, which wants the token; Rasa's open REST channel is gone.
    assert yaml.safe_load(credentials.read_text()) == {
        "app_channel.AppChannel": {"token": "rasa-token"}
    }
    # Both hold secrets: readable by their owner only.
    assert endpoints.stat().st_mode & 0o077 == 0
    assert credentials.stat().st_mode & 0o077 == 0


def test_rasa_tracker_store_shares_postgresql(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path, database_url="postgresql://bot:pw@db.internal:6432/cs")
    endpoints, _ = write_rasa_config(settings, tmp_path)
    assert yaml.safe_load(endpoints.read_text())["tracker_store"] == {
        "type": "SQL",
        "dialect": "postgresql",
        "url": "db.internal",
        "port": 6432,
        "db": "cs",
        "username": "bot",
        "password": "pw",
    }


def test_processes_share_the_settings(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path, app_port=8123, rasa_url="http://127.0.0.1:5123")
    env = app_environment(settings)
    assert env["APP_PORT"] == "8123"
    assert env["RASA_URL"] == "http://127.0.0.1:5123"
    assert env["RASA_TOKEN"] == settings.rasa_token.get_secret_value()
    assert env["DATABASE_URL"] == f"sqlite+aiosqlite:///{tmp_path}/assistant.db"
    names = [spec.name for spec in assistant_specs(settings, model=tmp_path / "m.tar.gz")]
    assert names == ["action-server", "rasa", "app"]
    rasa = assistant_specs(settings, model=tmp_path / "m.tar.gz")[1]
    assert list(rasa.argv[rasa.argv.index("--interface") :][:2]) == ["--interface", "127.0.0.1"]
    assert "--enable-api" in rasa.argv


@pytest.mark.integration
async def test_the_app_shuts_down_cleanly_with_a_live_stream_open(tmp_path: Path) -> None:
    # An agent's console holds a server-sent event stream open; stopping the app must not
    # wait for it until the SIGKILL (which would skip the app's own shutdown).
    url = sqlite_url(tmp_path)
    await asyncio.to_thread(migrate, url)
    database = Database(url)
    await add_agent(database, "ana@shop.example")
    await database.dispose()
    settings = console_settings(tmp_path, url, app_port=free_port())
    spec = app_spec(settings)
    supervisor = Supervisor()
    supervisor.start(spec)
    try:
        await asyncio.to_thread(supervisor.wait_healthy, spec)
        app_url = f"http://{settings.app_host}:{settings.app_port}"
        async with httpx.AsyncClient(timeout=30) as http:
            headers = await sign_in(http, app_url, "ana@shop.example")
            ticket = (await http.post(f"{app_url}/agent/events/ticket", headers=headers)).json()
            events = f"{app_url}/agent/events"
            async with http.stream("GET", events, params={"ticket": ticket["ticket"]}) as stream:
                assert stream.status_code == 200
                started = time.monotonic()
                await asyncio.to_thread(supervisor.stop, "app")
                stopped_after = time.monotonic() - started
    finally:
        supervisor.stop_all()
    assert stopped_after < GRACEFUL_SHUTDOWN_SECONDS + 5
    assert "Application shutdown complete" in spec.log_path.read_text()
