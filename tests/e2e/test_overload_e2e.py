"""Overload, as a busy day meets it: one visitor firing 300 messages 50 at a time, and 300
visitors writing at once, while Rasa is slow. Every accepted message is answered exactly
once (our store and Rasa's tracker agree), messages over the visitor's limit get 429 and
are not stored, every accepted message gets replies or the "saved" notice in its response,
and liveness stays 200 throughout."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import select

from bot.core.db import Database
from bot.core.models import Conversation, Direction, Message, MessageStatus
from tests.support.chat import ChatSession, open_session
from tests.support.stack import Stack
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

MESSAGES = 300
CONCURRENCY = 50
VISITOR_RATE = "40/minute"
TEXTS = ("hi there", "where is my parcel", "thanks a lot", "what can you do", "goodbye")


@dataclass
class Run:
    """What the app answered, and what liveness said meanwhile."""

    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)  # client id -> body
    refused: Counter[int] = field(default_factory=Counter)
    liveness: Counter[int] = field(default_factory=Counter)


@asynccontextmanager
async def _overloaded(stack: Stack) -> AsyncIterator[str]:
    """A second app whose Rasa calls time out quickly, with Rasa slowed behind the proxy."""
    with stack.extra_app(
        "overload",
        rasa_timeout_seconds=3.0,
        answer_wait_seconds=5.0,
        webchat_visitor_rate=VISITOR_RATE,
        webchat_new_session_rate="10000/minute",
        webchat_address_rate="100000/minute",
    ) as app_url:
        stack.rasa_proxy.response_delay_seconds = 0.3
        try:
            yield app_url
        finally:
            stack.rasa_proxy.response_delay_seconds = 0.0


async def _watch_liveness(app_url: str, run: Run, stop: asyncio.Event) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        while not stop.is_set():
            try:
                run.liveness[(await http.get(f"{app_url}/health/live")).status_code] += 1
            except httpx.HTTPError:
                run.liveness[0] += 1
            await asyncio.sleep(0.5)


async def _fire(app_url: str, jobs: list[tuple[ChatSession, str, str]], run: Run) -> None:
    gate = asyncio.Semaphore(CONCURRENCY)
    async with httpx.AsyncClient(timeout=120) as http:

        async def post(session: ChatSession, client_id: str, text: str) -> None:
            async with gate:
                response = await http.post(
                    f"{app_url}/webchat/messages",
                    json={"id": client_id, "text": text},
                    headers=session.headers,
                )
            if response.status_code == 200:
                run.accepted[client_id] = response.json()
            else:
                run.refused[response.status_code] += 1

        await asyncio.gather(*(post(*job) for job in jobs))


async def _under_load(app_url: str, jobs: list[tuple[ChatSession, str, str]]) -> Run:
    run, stop = Run(), asyncio.Event()
    watcher = asyncio.create_task(_watch_liveness(app_url, run, stop))
    try:
        await _fire(app_url, jobs, run)
    finally:
        stop.set()
        await watcher
    return run


async def _inbound(db: Database, client_ids: set[str]) -> list[Message]:
    async with db.session() as session:
        rows = await session.scalars(select(Message).where(Message.direction == Direction.INBOUND))
        return [m for m in rows if (m.external_id or "").split(":")[-1] in client_ids]


async def _all_answered(db: Database, client_ids: set[str]) -> list[Message] | None:
    inbound = await _inbound(db, client_ids)
    done = all(m.status is MessageStatus.ANSWERED for m in inbound)
    return inbound if done and len(inbound) == len(client_ids) else None


async def _rasa_turns(stack: Stack, db: Database, inbound: list[Message]) -> Counter[str]:
    """How many times Rasa ran each of our message ids, from its trackers."""
    async with db.session() as session:
        conversation_ids = {m.conversation_id for m in inbound}
        senders = await session.scalars(
            select(Conversation.public_id).where(Conversation.id.in_(conversation_ids))
        )
        senders_list = list(senders)
    runs: Counter[str] = Counter()
    rasa = f"http://127.0.0.1:{stack.rasa_proxy.target_port}"
    async with httpx.AsyncClient(timeout=60) as http:
        for sender in senders_list:
            tracker = await http.get(
                f"{rasa}/conversations/{quote(sender, safe='')}/tracker",
                params={"token": stack.settings.rasa_token.get_secret_value()},
            )
            for event in tracker.json()["events"]:
                if event["event"] == "user":
                    runs[str(event.get("message_id"))] += 1
    return runs


async def _check_exactly_once(stack: Stack, db: Database, run: Run) -> None:
    client_ids = set(run.accepted)
    inbound = await wait_for(
        lambda: _all_answered(db, client_ids), timeout=600, interval=2, what="all answered"
    )
    assert inbound is not None
    # Every response carried replies or the "saved, answering shortly" notice.
    assert all(body["messages"] for body in run.accepted.values())
    runs = await _rasa_turns(stack, db, inbound)
    ours = {str(m.id) for m in inbound}
    assert {mid: runs[mid] for mid in ours if runs[mid] != 1} == {}
    async with db.session() as session:
        replies = Counter(
            await session.scalars(
                select(Message.in_reply_to_id).where(
                    Message.in_reply_to_id.in_([m.id for m in inbound])
                )
            )
        )
    assert all(replies[m.id] >= 1 for m in inbound)


async def _sessions(app_url: str, count: int) -> list[ChatSession]:
    return list(await asyncio.gather(*(open_session(app_url) for _ in range(count))))


async def _scenario(
    stack: Stack, db: Database, make_jobs: Callable[[str], Awaitable[list[Any]]]
) -> Run:
    async with _overloaded(stack) as app_url:
        run = await _under_load(app_url, await make_jobs(app_url))
        await _check_exactly_once(stack, db, run)
    assert set(run.liveness) == {200}, run.liveness
    return run


async def test_one_visitor_fires_300_messages(stack: Stack, db: Database) -> None:
    async def jobs(app_url: str) -> list[Any]:
        session = await open_session(app_url)
        return [(session, f"one{i}", TEXTS[i % len(TEXTS)]) for i in range(MESSAGES)]

    run = await _scenario(stack, db, jobs)
    assert run.refused[429] > 0, "the visitor's rate limit never applied"
    assert set(run.refused) == {429}
    assert len(run.accepted) + run.refused[429] == MESSAGES


async def test_300_visitors_write_at_once(stack: Stack, db: Database) -> None:
    async def jobs(app_url: str) -> list[Any]:
        sessions = await _sessions(app_url, MESSAGES)
        return [(s, f"many{i}", TEXTS[i % len(TEXTS)]) for i, s in enumerate(sessions)]

    run = await _scenario(stack, db, jobs)
    assert len(run.accepted) == MESSAGES, run.refused
