"""Rasa's door, as an outsider and as the app meet it: only our channel is open, only the
app (with RASA_TOKEN) may post to it, and a turn sent again is never run twice."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from bot.core.db import Database
from bot.core.models import Channel
from bot.core.store.conversations import start_conversation
from bot.core.store.customers import resolve_identity
from tests.support.stack import Stack

pytestmark = pytest.mark.integration


def _rasa(stack: Stack) -> str:
    return f"http://127.0.0.1:{stack.rasa_proxy.target_port}"


async def test_rasa_rest_channel_is_closed(stack: Stack, http: httpx.AsyncClient) -> None:
    rest = await http.post(
        f"{_rasa(stack)}/webhooks/rest/webhook", json={"sender": "outsider", "message": "hi"}
    )
    assert rest.status_code == 404
    for headers in ({}, {"Authorization": "Bearer guessed"}):
        ours = await http.post(
            f"{_rasa(stack)}/webhooks/app/webhook",
            json={"sender": "outsider", "message": "hi", "message_id": "1"},
            headers=headers,
        )
        assert ours.status_code == 401


async def test_a_turn_sent_again_runs_once(
    stack: Stack, db: Database, http: httpx.AsyncClient
) -> None:
    sender = await _conversation(db)
    body = {"sender": sender, "message": "hello there", "message_id": "990001", "metadata": {}}
    headers = {"Authorization": f"Bearer {stack.settings.rasa_token.get_secret_value()}"}
    url = f"{_rasa(stack)}/webhooks/app/webhook"
    # Twice at once (the second joins the first), then once more (answered from the record).
    together = await asyncio.gather(*(http.post(url, json=body, headers=headers) for _ in "ab"))
    again = await http.post(url, json=body, headers=headers)
    answers = [r.json() for r in (*together, again)]
    assert all(r.status_code == 200 for r in (*together, again))
    assert answers[0], "the assistant answered"
    assert answers[0] == answers[1] == answers[2]
    assert await _user_events(stack, http, sender, "990001") == 1


async def _user_events(stack: Stack, http: httpx.AsyncClient, sender: str, message_id: str) -> int:
    tracker = await http.get(
        f"{_rasa(stack)}/conversations/{quote(sender, safe='')}/tracker",
        params={"token": stack.settings.rasa_token.get_secret_value()},
    )
    events: list[dict[str, Any]] = tracker.json()["events"]
    return sum(1 for e in events if e["event"] == "user" and e.get("message_id") == message_id)


async def _conversation(db: Database) -> str:
    async with db.session() as session:
        identity = await resolve_identity(
            session=session, channel=Channel.SMS, address="+14155550177"
        )
        conversation = await start_conversation(
            session=session, customer_id=identity.customer_id, channel=Channel.SMS
        )
        return conversation.public_id
