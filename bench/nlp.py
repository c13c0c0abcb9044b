"""NLP on this machine's CPU, in one run:

- sentiment latency per message (p50/p95) next to one bare MiniLM forward pass
  (target: within 1.5x);
- messages per second of the sentiment worker (huey on SQLite, the store on SQLite);
- summary latency for a 30-message conversation (target: under 1 s), and the whole analysis;
- complaint category accuracy and macro-F1 on the held-out CFPB split, next to TF-IDF + SVM
  (trains on the whole file: a few minutes; --skip-categories leaves it out);
- the whole stack's memory (Rasa, action server, app) with the models loaded.

    .venv/bin/python bench/nlp.py [--messages 200] [--skip-categories] [--skip-stack]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common
from bench.common import percentile_ms
from bot.core.db import Database
from bot.core.models import Channel, Message
from bot.core.settings import Settings
from bot.core.store.inbound import StoredInbound, record_inbound
from bot.core.store.outbound import record_outbound
from bot.nlp.analysis import Analyser, Analysis, NlpModels, ScoredMessage
from bot.nlp.categories import (
    CFPB_CSV,
    CFPB_LABEL_COLUMN,
    CFPB_TEXT_COLUMN,
    read_labelled_csv,
    train_categories,
)
from bot.nlp.context import gather
from bot.nlp.embeddings import sentence_encoder
from bot.nlp.jobs import NlpJobs
from bot.nlp.sentiment import DATA_DIR, HELDOUT_FILE, read_messages
from bot.processes import assistant_specs
from bot.schema import migrate

CONVERSATION = [
    "Hi, my order ORD-40017 still hasn't arrived, it was due on 28 November.",
    "It's been over a week now and the tracking hasn't moved since it left the depot.",
    "I paid £89.99 for it and my card was charged twice, once on the 21st and again on the 22nd.",
    "Yes, the card ending 4242.",
    "I want the duplicate charge refunded and the parcel found, or my money back.",
    "I've already called twice and nobody called me back like they promised.",
    "Honestly this is the worst service I've had from any shop this year.",
    "Fine, file the complaint then.",
    "Is there anyone there? I've been waiting ages.",
    "This is ridiculous. Third time I've had to chase you and still nothing.",
    "Can I at least get a reference number?",
    "I'm not paying for something I never received. Sort it out please.",
    "And why was I charged for next-day delivery when it's been 9 days?",
    "Just get me a person.",
    "Hello???",
]


def sentiment_latency(texts: list[str]) -> None:
    """Per-message latency of the sentiment model next to a bare MiniLM forward pass."""
    settings = Settings()
    scorer = NlpModels(settings).sentiment()
    encoder = sentence_encoder()
    scorer.score(texts[:5])  # load and warm up
    ours, bare = [], []
    for text in texts:
        started = time.perf_counter()
        encoder.encode([text])
        bare.append(time.perf_counter() - started)
        started = time.perf_counter()
        scorer.score([text])
        ours.append(time.perf_counter() - started)
    ratio = percentile_ms(ours, 50) / percentile_ms(bare, 50)
    print(
        f"sentiment per message ({len(texts)} held-out messages): "
        f"p50 {percentile_ms(ours, 50):.1f} ms, p95 {percentile_ms(ours, 95):.1f} ms; "
        f"bare MiniLM forward pass p50 {percentile_ms(bare, 50):.1f} ms, "
        f"p95 {percentile_ms(bare, 95):.1f} ms; ratio {ratio:.2f}x (target <= 1.5x)"
    )


class Counter:
    """Counts scored messages and says when `expected` are done."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.done = asyncio.Event()
        self.scored = 0

    async def message_scored(self, scored: ScoredMessage) -> None:
        self.scored += 1
        if self.scored >= self.expected:
            self.done.set()

    async def conversation_analysed(self, analysis: Analysis) -> None:
        return None


async def receive(database: Database, address: str, text: str) -> StoredInbound:
    """A customer's SMS stored as the channel stores it."""
    async with database.session() as session:
        return await record_inbound(
            session=session,
            channel=Channel.SMS,
            address=address,
            text=text,
            external_id=None,
            idle_after=common.IDLE,
        )


async def answer(database: Database, to: StoredInbound, text: str) -> None:
    """The assistant's reply to `to`."""
    async with database.session() as session:
        message = await session.get_one(Message, to.message.id)
        await record_outbound(session=session, reply_to=message, text=text, payload={})


async def worker_throughput(tmp: Path, texts: list[str]) -> None:
    """Messages per second through the queue and the worker, results stored."""
    url = f"sqlite+aiosqlite:///{tmp / 'worker.db'}"
    await asyncio.to_thread(migrate, url)
    settings = Settings(var_dir=tmp, database_url=url)
    database = Database(url)
    stored = [await receive(database, f"+4477009{i:05d}", t) for i, t in enumerate(texts)]
    jobs = NlpJobs(settings)
    models = NlpModels(settings)
    models.sentiment().score(["warm up"])
    for message in stored:
        jobs.score_message(message.message.id)
    counter = Counter(len(stored))
    started = time.perf_counter()
    jobs.serve(Analyser(database, models, [counter]), asyncio.get_running_loop(), in_app=True)
    await counter.done.wait()
    seconds = time.perf_counter() - started
    await asyncio.to_thread(jobs.stop)
    await database.dispose()
    print(
        f"sentiment worker: {len(stored)} messages in {seconds:.1f} s, "
        f"{len(stored) / seconds:.1f} messages/s (1 worker thread, queued, scored, stored)"
    )


async def summary_latency(tmp: Path) -> None:
    """A 30-message conversation: the summary alone, and the whole analysis."""
    url = f"sqlite+aiosqlite:///{tmp / 'summary.db'}"
    await asyncio.to_thread(migrate, url)
    database = Database(url)
    for text in CONVERSATION:
        stored = await receive(database, "+447700900555", text)
        await answer(database, stored, "I'm sorry about that. Let me look into it for you.")
    models = NlpModels(Settings(var_dir=tmp, database_url=url))
    analyser = Analyser(database, models)
    analysis = await analyser.analyse(stored.conversation.id)  # loads models, scores
    assert analysis is not None
    summaries, analyses = [], []
    for _ in range(10):
        started = time.perf_counter()
        await analyser.analyse(stored.conversation.id)
        analyses.append(time.perf_counter() - started)
    async with database.session() as session:
        found = await gather(session=session, conversation_id=stored.conversation.id)
    assert found is not None
    facts = found.facts(trend=analysis.trend.describe(), category=None)
    for _ in range(10):
        started = time.perf_counter()
        models.summarizer().summarize(found.utterances(), facts)
        summaries.append(time.perf_counter() - started)
    await database.dispose()
    print(
        f"summary of a {len(found.utterances())}-message conversation: "
        f"p50 {percentile_ms(summaries, 50):.0f} ms (target < 1000 ms); whole analysis "
        f"(read, category, summary, priority, store) p50 {percentile_ms(analyses, 50):.0f} ms"
    )
    print("  " + analysis.summary.text.replace("\n", "\n  "))


def category_figures() -> None:
    """Held-out accuracy and macro-F1 of the category model next to TF-IDF + linear SVM."""
    texts, labels = read_labelled_csv(
        CFPB_CSV, text_column=CFPB_TEXT_COLUMN, label_column=CFPB_LABEL_COLUMN
    )
    _, report = train_categories(texts, labels, encoder=sentence_encoder())
    print("complaint categories (CFPB, stratified 20% held out):")
    for line in report.lines():
        print(f"  {line}")


async def stack_memory(tmp: Path) -> None:
    """RSS of each process of the running stack after the NLP models were loaded."""
    settings = common.local_settings(tmp)
    model = await asyncio.to_thread(common.prepare, settings)
    with common.running(assistant_specs(settings, model=model)) as supervisor:
        async with httpx.AsyncClient(timeout=60) as http:
            token = await common.webchat_token(http, settings.app_url)
            headers = {"Authorization": f"Bearer {token}"}
            for text in ("hi", "my parcel is late again, this is really annoying"):
                await http.post(
                    f"{settings.app_url}/webchat/messages", json={"text": text}, headers=headers
                )
        await asyncio.sleep(15)  # the jobs load the models and score the messages
        memory = {name: _tree_rss_mb(pid) for name, pid in supervisor.pids().items()}
    parts = ", ".join(f"{name} {mb:.0f} MB" for name, mb in memory.items())
    print(f"stack memory with the NLP models loaded: {parts}; total {sum(memory.values()):.0f} MB")


def _tree_rss_mb(root: int) -> float:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(stat[1]), []).append(int(entry))
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            continue
    return total


def main() -> int:
    """Print every figure."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--skip-categories", action="store_true")
    parser.add_argument("--skip-stack", action="store_true")
    args = parser.parse_args()
    print(common.machine_load())
    texts, _ = read_messages([DATA_DIR / HELDOUT_FILE])
    texts = (texts * (args.messages // len(texts) + 1))[: args.messages]
    sentiment_latency(texts)
    with tempfile.TemporaryDirectory(prefix="bench-nlp-") as tmp:
        asyncio.run(worker_throughput(Path(tmp), texts))
        asyncio.run(summary_latency(Path(tmp)))
        if not args.skip_stack:
            asyncio.run(stack_memory(Path(tmp) / "stack"))
    if not args.skip_categories:
        category_figures()
    return 0


if __name__ == "__main__":
    sys.exit(main())
