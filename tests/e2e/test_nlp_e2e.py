"""Summaries, sentiment, categories and priority end to end: customers file complaints with
the real Rasa server and ask for a person; the app's background jobs score every message and
analyse each conversation handed to people; the agent console shows the result, and the
angry customer is served before the calm one who asked first."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest

from bot.core.db import Database
from tests.support.chat import ChatClient
from tests.support.lookups import handoff_of
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

PASSWORD = "s3cure-enough-pass"
CASE_ID = re.compile(r"CMP-[0-9A-Z]{5}")
CALM = (
    "Hello, I'd like to file a complaint please, I was charged twice for one order",
    "ORD-482913",
    "could I speak to someone about it please",
)
ANGRY = (
    "I want to file a complaint. You charged my credit card TWICE for the same order and "
    "nobody has fixed it, this is disgraceful",
    "ORD-573021, and I've already called three times about this",
    "this is absolutely useless, get me a real person NOW",
)


async def _complain(stack: Stack, turns: tuple[str, str, str]) -> tuple[str, str]:
    """File a complaint (refund wanted) and ask for a person; the visitor id and case id."""
    async with ChatClient(stack.ws_url) as chat:
        await chat.say(turns[0])
        outcome = await chat.say(turns[1])
        confirmation = await chat.click(outcome[-1], "Refund")
        case_id = CASE_ID.search(" ".join(r.get("text", "") for r in confirmation))
        assert case_id, confirmation
        handed = await chat.say(turns[2])
        assert "team" in " ".join(r.get("text", "") for r in handed), handed
        return chat.visitor_id, case_id.group(0)


async def _analysed(
    http: httpx.AsyncClient, url: str, headers: dict[str, str], case_id: str
) -> dict[str, Any]:
    """The conversation as the console shows it, once its analysis has its complaint."""
    for _ in range(240):
        detail: dict[str, Any] = (await http.get(url, headers=headers)).json()
        insight = detail.get("insight")
        if insight and case_id in insight["summary"]:
            return detail
        await asyncio.sleep(0.5)
    raise AssertionError(f"no analysis of {url}: {detail}")


async def test_an_angry_complaint_is_summarised_prioritised_and_served_first(
    stack: Stack, db: Database, http: httpx.AsyncClient
) -> None:
    email = "nadia@shop.example"
    stack.cli(
        "agent",
        *("--email", email, "--name", "Nadia", "--skills", "complaints,general,orders"),
        extra_env={"AGENT_PASSWORD": PASSWORD},
    )
    login = await http.post(
        f"{stack.app_url}/agent/login", json={"email": email, "password": PASSWORD}
    )
    headers = {"Authorization": f"Bearer {login.json()['token']}"}

    calm_visitor, calm_case = await _complain(stack, CALM)
    angry_visitor, angry_case = await _complain(stack, ANGRY)
    calm = await handoff_of(db, calm_visitor)
    angry = await handoff_of(db, angry_visitor)
    assert calm.queue == angry.queue
    assert calm.enqueued_at < angry.enqueued_at

    base = f"{stack.app_url}/agent/conversations"
    detail = await _analysed(http, f"{base}/{angry.id}", headers, angry_case)
    await _analysed(http, f"{base}/{calm.id}", headers, calm_case)

    insight = detail["insight"]
    summary = insight["summary"]
    for expected in (angry_case, "ORD-573021", "Wants: refund", "filed complaint"):
        assert expected in summary, summary
    assert "negative" in summary.split("Sentiment:")[-1]
    assert insight["sentiment_score"] < -0.25
    assert insight["category"] == "Credit card or prepaid card"
    assert insight["priority"] in ("high", "urgent"), (insight, detail["sentiment_trend"])
    assert "negative" in insight["priority_reason"]
    # Every typed message is scored; the "Refund" button click is not (a choice, not a mood).
    scores = {m["text"]: m["sentiment"] for m in detail["transcript"] if m["from"] == "customer"}
    assert set(scores) == {*ANGRY, "Refund"}, scores
    assert scores.pop("Refund") is None
    assert all(s["label"] in ("negative", "neutral", "positive") for s in scores.values())
    assert "ORD-482913" not in summary  # the assistant's example order number
    assert detail["sentiment_trend"], detail

    # The queue: the angry customer first, with the reason the agent reads.
    inbox = (await http.get(f"{stack.app_url}/agent/inbox", headers=headers)).json()
    waiting = [item["id"] for item in inbox["queued"]]
    assert waiting.index(angry.id) < waiting.index(calm.id)
    item = next(i for i in inbox["queued"] if i["id"] == angry.id)
    assert item["priority_reason"] == insight["priority_reason"]
