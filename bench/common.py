"""What the benchmarks share: the assistant's settings on free loopback ports, the trained
model, its processes running for the length of a block, the load options, running many
conversations a few at a time, and percentiles."""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from bot.core.db import Database
from bot.core.models import Channel
from bot.core.settings import Settings
from bot.core.store.conversations import start_conversation
from bot.core.store.customers import resolve_identity
from bot.processes import ProcessSpec, Supervisor
from bot.schema import migrate
from bot.testing.ports import free_port
from bot.training import train

# A conversation quiet for longer than this is over (as the app's default).
IDLE = timedelta(hours=24)
# One realistic conversation: small talk, a full complaint (form + database write), its
# status (database read), an answer from a plain response, and a goodbye.
CONVERSATION = (
    "hi there",
    "I want to file a complaint, my parcel arrived damaged",
    "ORD-482913",
    "a replacement please",
    "what's the status of my complaint",
    "what are your opening hours?",
    "thanks, bye",
)


def local_settings(var_dir: Path, **updates: Any) -> Settings:
    """Settings for an assistant on loopback: free ports for the app, Rasa and the action
    server and a fresh Rasa token, with `updates` on top (a fresh SQLite file under
    `var_dir` unless `database_url` is given)."""
    defaults: dict[str, Any] = {
        "app_port": free_port(),
        "rasa_url": f"http://127.0.0.1:{free_port()}",
        "action_server_url": f"http://127.0.0.1:{free_port()}",
        "rasa_token": SecretStr(secrets.token_hex(8)),
        # Every simulated visitor comes from 127.0.0.1: the per-address limits, meant for
        # one real client, would measure the limit instead of the message path.
        "webchat_address_rate": "1000000/minute",
        "webchat_new_session_rate": "1000000/minute",
    }
    return Settings(var_dir=var_dir, **(defaults | updates))


async def webchat_token(http: httpx.AsyncClient, app_url: str) -> str:
    """A new web chat visitor's session token, as the page gets it."""
    response = await http.post(f"{app_url}/webchat/sessions")
    response.raise_for_status()
    return str(response.json()["token"])


def prepare(settings: Settings) -> Path:
    """Bring the database schema up to date; the Rasa model, trained first if its inputs
    changed (kept in the project's var/, not the benchmark's temporary one, so runs share
    it)."""
    model = train(settings.model_copy(update={"var_dir": Path("var").resolve()}))
    migrate(settings.effective_database_url)
    return model


@contextmanager
def running(specs: Sequence[ProcessSpec]) -> Iterator[Supervisor]:
    """Start the processes, wait until each is healthy, and stop them all at the end."""
    supervisor = Supervisor()
    try:
        supervisor.start_all(specs)
        yield supervisor
    finally:
        supervisor.stop_all()


def machine_load() -> str:
    """The machine's load averages (1, 5 and 15 minutes) and CPU count, to print beside
    the figures: other work on the machine shows in them."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def add_load_options(parser: argparse.ArgumentParser, *, concurrency: int) -> None:
    """--conversations, --concurrency, --rounds and --database-url."""
    parser.add_argument("--conversations", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=concurrency)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")


async def run_concurrently(
    conversation: Callable[[], Awaitable[None]], *, conversations: int, concurrency: int
) -> float:
    """Run `conversations` conversations, `concurrency` at a time; seconds it took."""
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            await conversation()

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(conversations)))
    return time.perf_counter() - started


def percentile_ms(values: list[float], pct: float) -> float:
    """The pct-th percentile of `values` (seconds) in milliseconds; nan if there are none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))
    return ordered[index] * 1000


async def issued_sender(database: Database) -> str:
    """A new conversation in the store (as the app starts one); its Rasa sender id."""
    async with database.session() as session:
        identity = await resolve_identity(
            session=session, channel=Channel.RASA, address=f"bench-{uuid.uuid4().hex}"
        )
        conversation = await start_conversation(
            session=session, customer_id=identity.customer_id, channel=Channel.RASA
        )
        return conversation.public_id
