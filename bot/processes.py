"""The three processes of the assistant (Rasa, action server, app): how each is started,
how we know it is ready, and one supervisor that starts and stops them together."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import yaml
from pydantic import SecretStr
from sqlalchemy.engine.url import make_url

from bot.action_server import ACTION_SECRET_HEADER
from bot.core.settings import PROJECT_ROOT, Settings
from bot.log_files import LogFile, OutputPump
from bot.training import rasa_environment

# Our input channel inside Rasa, importable there through RASA_PLUGINS on its PYTHONPATH.
APP_CHANNEL = "app_channel.AppChannel"
RASA_PLUGINS = PROJECT_ROOT / "bot" / "rasa_plugins"


class ProcessFailed(RuntimeError):
    """A process exited or did not become healthy in time."""


@dataclass(frozen=True)
class ProcessSpec:
    """How to start one process and how to tell it is ready."""

    name: str
    argv: Sequence[str]
    health_url: str
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    startup_seconds: float = 120.0


def port_of(url: str) -> int:
    """The port of an http URL (80 if none is given)."""
    return urlsplit(url).port or 80


def app_environment(settings: Settings) -> dict[str, str]:
    """Environment for our own processes: every setting, so they see what the supervisor sees."""
    env = dict(os.environ)
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        # Collections are read back from the environment as JSON.
        if isinstance(value, set):
            value = sorted(value)
        env[name.upper()] = json.dumps(value) if isinstance(value, list | dict) else str(value)
    env["DATABASE_URL"] = settings.effective_database_url
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    return env


def rasa_tracker_store(settings: Settings) -> dict[str, object]:
    """Rasa's tracker store: our PostgreSQL if we use one, else a SQLite file under var/."""
    url = make_url(settings.effective_database_url)
    if url.get_backend_name() == "postgresql":
        return {
            "type": "SQL",
            "dialect": "postgresql",
            "url": url.host or "localhost",
            "port": url.port or 5432,
            "db": url.database,
            "username": url.username,
            "password": url.password,
        }
    return {"type": "SQL", "dialect": "sqlite", "db": str(settings.var_dir / "rasa-tracker.db")}


def write_rasa_config(settings: Settings, directory: Path) -> tuple[Path, Path]:
    """Rasa's endpoints.yml and credentials.yml, generated from our settings.

    Rasa listens to one channel only, ours (`bot/rasa_plugins/app_channel.py`), which takes
    messages from the app alone; it calls the action server with the shared secret. Both
    files hold secrets, so only their owner may read them.
    """
    directory.mkdir(parents=True, exist_ok=True)
    endpoints = directory / "endpoints.yml"
    credentials = directory / "credentials.yml"
    action_endpoint = {
        "url": settings.action_server_url.rstrip("/") + "/webhook",
        "headers": {ACTION_SECRET_HEADER: settings.action_server_secret.get_secret_value()},
    }
    _write_private(
        endpoints,
        yaml.safe_dump(
            {"action_endpoint": action_endpoint, "tracker_store": rasa_tracker_store(settings)}
        ),
    )
    channel = {"token": settings.rasa_token.get_secret_value()}
    _write_private(credentials, yaml.safe_dump({APP_CHANNEL: channel}))
    return endpoints, credentials


def _write_private(path: Path, text: str) -> None:
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(text)


def rasa_spec(settings: Settings, *, model: Path, config_dir: Path) -> ProcessSpec:
    """The Rasa server, in its own virtual environment, listening on loopback only."""
    endpoints, credentials = write_rasa_config(settings, config_dir)
    rasa_url = urlsplit(settings.rasa_url)
    return ProcessSpec(
        name="rasa",
        argv=[
            str(settings.rasa_executable),
            "run",
            "--model",
            str(model),
            "--endpoints",
            str(endpoints),
            "--credentials",
            str(credentials),
            "--enable-api",
            "--auth-token",
            settings.rasa_token.get_secret_value(),
            "--interface",
            rasa_url.hostname or "127.0.0.1",
            "--port",
            str(port_of(settings.rasa_url)),
            "--response-timeout",
            str(int(settings.rasa_timeout_seconds)),
        ],
        health_url=f"{settings.rasa_url.rstrip('/')}/status?token="
        + settings.rasa_token.get_secret_value(),
        log_path=settings.var_dir / "log" / "rasa.log",
        env={**rasa_environment(settings), "PYTHONPATH": str(RASA_PLUGINS)},
        startup_seconds=600.0,  # a busy 2-core machine can take minutes to load the model
    )


def action_server_spec(settings: Settings) -> ProcessSpec:
    """The action server serving `actions/` on Python 3.11, on the host and port of
    ACTION_SERVER_URL (loopback by default), for callers with the shared secret."""
    return ProcessSpec(
        name="action-server",
        argv=[sys.executable, "-m", "bot.action_server"],
        health_url=settings.action_server_url.rstrip("/") + "/health",
        log_path=settings.var_dir / "log" / "action-server.log",
        env=app_environment(settings),
    )


# Well inside the 15 s between the supervisor's SIGTERM and its SIGKILL.
GRACEFUL_SHUTDOWN_SECONDS = 5


def app_spec(settings: Settings) -> ProcessSpec:
    """The FastAPI app: channels, health, retries."""
    return ProcessSpec(
        name="app",
        argv=[
            sys.executable,
            "-m",
            "uvicorn",
            "bot.app:create_app",
            "--factory",
            "--host",
            settings.app_host,
            "--port",
            str(settings.app_port),
            "--no-access-log",
            # Open live streams (the console's server-sent events) would hold uvicorn's
            # shutdown until the supervisor's SIGKILL, and the app's own shutdown (the jobs
            # in hand, the database) would never run: they are cut after this long.
            "--timeout-graceful-shutdown",
            str(GRACEFUL_SHUTDOWN_SECONDS),
        ],
        health_url=f"http://{settings.app_host}:{settings.app_port}/webchat",
        log_path=settings.var_dir / "log" / "app.log",
        env=app_environment(settings),
    )


def assistant_specs(
    settings: Settings, *, model: Path, app_settings: Settings | None = None
) -> list[ProcessSpec]:
    """The action server, Rasa and the app, in the order they should start.

    `app_settings` lets the app see different URLs than Rasa (tests put a proxy between).
    """
    return [
        action_server_spec(settings),
        rasa_spec(settings, model=model, config_dir=settings.var_dir / "rasa"),
        app_spec(app_settings or settings),
    ]


class Supervisor:
    """Starts processes, waits until each is healthy, and stops them all together."""

    def __init__(
        self,
        *,
        log_max_bytes: int = Settings.model_fields["log_max_bytes"].default,
        log_backups: int = Settings.model_fields["log_backups"].default,
    ) -> None:
        self._running: list[tuple[ProcessSpec, subprocess.Popen[bytes]]] = []
        self._pumps: dict[str, OutputPump] = {}
        self._log_max_bytes = log_max_bytes
        self._log_backups = log_backups

    def start(self, spec: ProcessSpec, *, echo: bool = False) -> None:
        """Start one process in its own session; its output, masked, goes to its rotated log
        file (and to the terminal if `echo`)."""
        log = LogFile(spec.log_path, max_bytes=self._log_max_bytes, backups=self._log_backups)
        process = subprocess.Popen(
            spec.argv,
            cwd=PROJECT_ROOT,
            # Unbuffered, so lines reach the log (and the terminal) as they are written.
            env={**(spec.env or os.environ), "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us; we stop the children in order
        )
        assert process.stdout is not None
        pump = OutputPump(spec.name, process.stdout, log, echo=sys.stderr if echo else None)
        pump.start()
        self._pumps[spec.name] = pump
        self._running.append((spec, process))

    def pids(self) -> dict[str, int]:
        """The process id of each running process, by name."""
        return {spec.name: process.pid for spec, process in self._running}

    def start_all(self, specs: Sequence[ProcessSpec], *, echo: Sequence[str] = ()) -> None:
        """Start every process at once, then wait until each is healthy (in order)."""
        for spec in specs:
            self.start(spec, echo=spec.name in echo)
        for spec in specs:
            print(f"Waiting for {spec.name} (log: {spec.log_path})...", file=sys.stderr)
            seconds = self.wait_healthy(spec)
            print(f"  {spec.name} ready after {seconds:.0f}s", file=sys.stderr)

    def wait_healthy(self, spec: ProcessSpec) -> float:
        """Block until `spec`'s health URL answers 200; seconds waited."""
        process = self._process(spec)
        started = time.monotonic()
        while time.monotonic() - started < spec.startup_seconds:
            if process.poll() is not None:
                self._drain(spec.name)
                raise ProcessFailed(
                    f"{spec.name} exited with code {process.returncode}; see {spec.log_path}"
                    + _tail(spec.log_path)
                )
            try:
                if httpx.get(spec.health_url, timeout=2.0).status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise ProcessFailed(f"{spec.name} was not healthy after {spec.startup_seconds:.0f}s")

    def first_exited(self) -> ProcessSpec | None:
        """A process that has stopped, if any."""
        return next((spec for spec, p in self._running if p.poll() is not None), None)

    def stop(self, name: str) -> None:
        """Stop one process (SIGTERM, then SIGKILL after 15 s)."""
        for spec, process in list(self._running):
            if spec.name == name:
                _terminate(process)
                self._running.remove((spec, process))
                self._drain(name)

    def stop_all(self) -> None:
        """Stop every process, newest first."""
        for spec, _ in reversed(list(self._running)):
            self.stop(spec.name)

    def _process(self, spec: ProcessSpec) -> subprocess.Popen[bytes]:
        return next(p for s, p in self._running if s.name == spec.name)

    def _drain(self, name: str) -> None:
        # The last lines a stopped process wrote reach its log file before anyone reads it.
        pump = self._pumps.pop(name, None)
        if pump is not None:
            pump.join(timeout=10)


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


def _tail(path: Path, lines: int = 30) -> str:
    # The end of the file only: a log can be many megabytes. Its lines are already masked.
    try:
        with path.open("rb") as file:
            file.seek(max(0, file.seek(0, os.SEEK_END) - 64 * 1024))
            text = file.read().decode("utf-8", errors="replace").splitlines()[-lines:]
    except OSError:
        return ""
    return "\n--- last lines ---\n" + "\n".join(text)
