"""Message-path benchmark: our web chat path against Rasa alone, same run.

Starts Rasa (trained model), the action server and the app on free ports with a fresh
SQLite database (or --database-url), then drives the same scripted conversations
  A) straight to Rasa through its one channel (POST /webhooks/app/webhook with RASA_TOKEN,
     for a conversation made in the store first, since the actions serve only those), and
  B) through our web chat WebSocket (store, identity, Rasa, store, deliver),
alternating A and B for several rounds, and prints messages/second and latency
percentiles for both and their ratio.

    .venv/bin/python bench/turns.py [--conversations 40] [--concurrency 10] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common
from bench.common import percentile_ms
from bot.core.db import Database
from bot.core.rasa_client import CHANNEL_WEBHOOK
from bot.core.settings import Settings
from bot.processes import assistant_specs

SCRIPT = list(common.CONVERSATION)


@dataclass
class Run:
    """Latencies of one pass over all conversations on one path."""

    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0


Conversation = Callable[[list[float]], Awaitable[None]]


async def rasa_conversation(
    http: httpx.AsyncClient, settings: Settings, database: Database, latencies: list[float]
) -> None:
    """One conversation straight to Rasa's channel."""
    sender = await common.issued_sender(database)
    headers = {"Authorization": f"Bearer {settings.rasa_token.get_secret_value()}"}
    for text in SCRIPT:
        started = time.perf_counter()
        response = await http.post(
            f"{settings.rasa_url}{CHANNEL_WEBHOOK}",
            json={"sender": sender, "message": text, "message_id": uuid.uuid4().hex},
            headers=headers,
        )
        response.raise_for_status()
        latencies.append(time.perf_counter() - started)


async def webchat_conversation(
    http: httpx.AsyncClient, app_url: str, latencies: list[float]
) -> None:
    """One conversation through our web chat WebSocket, as the page speaks it (a session
    first, its token in the socket's first frame)."""
    token = await common.webchat_token(http, app_url)
    ws_url = app_url.replace("http://", "ws://", 1) + "/webchat/ws"
    async with websockets.connect(ws_url) as socket:
        await socket.send(json.dumps({"type": "auth", "token": token}))
        await socket.recv()  # history
        for text in SCRIPT:
            started = time.perf_counter()
            await socket.send(json.dumps({"type": "message", "id": uuid.uuid4().hex, "text": text}))
            while json.loads(await socket.recv())["type"] != "replies":
                pass
            latencies.append(time.perf_counter() - started)


async def drive(conversation: Conversation, *, conversations: int, concurrency: int) -> Run:
    """Run `conversations` conversations, `concurrency` at a time."""
    run = Run()
    run.seconds = await common.run_concurrently(
        lambda: conversation(run.latencies), conversations=conversations, concurrency=concurrency
    )
    return run


def report(name: str, runs: list[Run]) -> tuple[float, list[float]]:
    """Print one path's figures; return its throughput and all latencies."""
    latencies = [lat for run in runs for lat in run.latencies]
    throughput = sum(len(r.latencies) for r in runs) / sum(r.seconds for r in runs)
    print(
        f"{name:<28} {throughput:8.1f} msg/s   p50 {percentile_ms(latencies, 50):7.1f} ms"
        f"   p95 {percentile_ms(latencies, 95):7.1f} ms"
        f"   mean {statistics.mean(latencies) * 1000:7.1f} ms"
        f"   ({len(latencies)} messages)"
    )
    return throughput, latencies


async def benchmark(args: argparse.Namespace, settings: Settings) -> None:
    """Warm up both paths, then alternate them over the rounds; print the figures."""
    app_url = f"http://127.0.0.1:{settings.app_port}"
    limits = httpx.Limits(max_connections=args.concurrency * 2)
    database = Database(settings.effective_database_url)
    async with httpx.AsyncClient(timeout=120, limits=limits) as http:

        def direct(latencies: list[float]) -> Awaitable[None]:
            return rasa_conversation(http, settings, database, latencies)

        def ours(latencies: list[float]) -> Awaitable[None]:
            return webchat_conversation(http, app_url, latencies)

        print("warming up...", file=sys.stderr)
        await drive(direct, conversations=args.concurrency, concurrency=args.concurrency)
        await drive(ours, conversations=args.concurrency, concurrency=args.concurrency)
        direct_runs, our_runs = [], []
        for round_number in range(args.rounds):
            print(f"round {round_number + 1}/{args.rounds}...", file=sys.stderr)
            options = {"conversations": args.conversations, "concurrency": args.concurrency}
            direct_runs.append(await drive(direct, **options))
            our_runs.append(await drive(ours, **options))
    print(
        f"\n{args.conversations} conversations x {len(SCRIPT)} messages, "
        f"{args.concurrency} at a time, {args.rounds} rounds, database "
        f"{settings.effective_database_url.split(':', 1)[0]}"
    )
    await database.dispose()
    rasa_throughput, rasa_latencies = report("Rasa alone (its channel)", direct_runs)
    our_throughput, our_latencies = report("our web chat path", our_runs)
    print(
        f"ratio ours/Rasa: throughput {our_throughput / rasa_throughput:.2f}x, "
        f"p50 {percentile_ms(our_latencies, 50) / percentile_ms(rasa_latencies, 50):.2f}x, "
        f"p95 {percentile_ms(our_latencies, 95) / percentile_ms(rasa_latencies, 95):.2f}x "
        f"(target: throughput >= 0.90x)"
    )


def main() -> int:
    """Start the assistant, run the benchmark, print its figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    common.add_load_options(parser, concurrency=10)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        settings = common.local_settings(Path(tmp), database_url=args.database_url)
        model = common.prepare(settings)
        with common.running(assistant_specs(settings, model=model)):
            asyncio.run(benchmark(args, settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
