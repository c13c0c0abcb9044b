"""The Rasa server, spoken to over its REST channel and HTTP API."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from bot.core.messages import BotReply


class RasaError(Exception):
    """Rasa answered, but not with something we can use."""


class RasaUnavailable(RasaError):
    """Rasa could not be reached, timed out or failed (the message should be retried)."""


class RasaBusy(RasaUnavailable):
    """Rasa took the message but did not answer in time: it may still be working on it."""


# Our input channel inside Rasa (bot/rasa_plugins/app_channel.py).
CHANNEL_WEBHOOK = "/webhooks/app/webhook"


# Slots that are Rasa's bookkeeping, not something the customer told us.
INTERNAL_SLOTS = frozenset({"requested_slot", "session_started_metadata"})
# Events after which Rasa starts again with empty slots.
SLOT_RESETS = frozenset({"restart", "reset_slots"})


@dataclass(frozen=True)
class Understanding:
    """What Rasa made of one customer message, and the slots it held after that turn."""

    intent: str | None
    confidence: float | None
    entities: list[dict[str, Any]] = field(default_factory=list)
    slots: dict[str, Any] = field(default_factory=dict)

    def as_payload(self) -> dict[str, Any]:
        """Kept with the stored message, for the agent console."""
        return {
            "intent": self.intent,
            "confidence": self.confidence,
            "entities": self.entities,
            "slots": self.slots,
        }


def understandings_in(events: list[dict[str, Any]]) -> dict[int, Understanding]:
    """Each of our messages in a Rasa tracker's events (by the message id we sent with it in
    the metadata): its intent, entities, and the slots once Rasa had answered it."""
    understood: dict[int, Understanding] = {}
    slots: dict[str, Any] = {}
    current: tuple[int, dict[str, Any]] | None = None

    def close_turn() -> None:
        if current is not None:
            message_id, parse = current
            understood[message_id] = _understanding(parse, slots)

    for event in events:
        kind = event.get("event")
        if kind == "user":
            close_turn()
            message_id = (event.get("metadata") or {}).get("message_id")
            parse = event.get("parse_data") or {}
            current = (message_id, parse) if isinstance(message_id, int) else None
        elif kind == "slot" and isinstance(event.get("name"), str):
            slots[event["name"]] = event.get("value")
        elif kind in SLOT_RESETS:
            slots = {}
    close_turn()
    return understood


def _understanding(parse: dict[str, Any], slots: dict[str, Any]) -> Understanding:
    intent = parse.get("intent") or {}
    confidence = intent.get("confidence")
    return Understanding(
        intent=str(intent["name"]) if intent.get("name") else None,
        confidence=round(float(confidence), 4) if confidence is not None else None,
        entities=[
            {"entity": str(e.get("entity")), "value": e.get("value")}
            for e in parse.get("entities") or []
            if isinstance(e, dict)
        ],
        slots={
            name: value
            for name, value in slots.items()
            if value is not None and name not in INTERNAL_SLOTS
        },
    )


class RasaClient:
    """Sends customer messages to Rasa and checks that it is ready."""

    def __init__(self, *, base_url: str, token: str, timeout_seconds: float) -> None:
        self._token = token
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(timeout_seconds, connect=3.0),
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=50),
        )

    async def send_message(
        self, *, sender_id: str, message_id: str, text: str, metadata: dict[str, Any]
    ) -> list[BotReply]:
        """One customer turn: Rasa's replies to `text` from `sender_id`, in order.

        The turn is known to Rasa by `message_id`: sending the same message again joins the
        first attempt if it is still running, or gets its recorded replies; it never runs
        twice. RasaBusy when Rasa took it but did not answer in time.
        """
        try:
            response = await self._http.post(
                CHANNEL_WEBHOOK,
                json={
                    "sender": sender_id,
                    "message": text,
                    "message_id": message_id,
                    "metadata": metadata,
                },
                headers={"Authorization": f"Bearer {self._token}"},
            )
        except (httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout) as error:
            raise RasaBusy("Rasa did not answer in time (busy)") from error
        except httpx.HTTPError as error:
            raise RasaUnavailable(f"Rasa unreachable: {error!r}") from error
        if response.status_code == 503:  # Rasa's own response timeout: the turn goes on
            raise RasaBusy("Rasa did not answer in time (busy)")
        if response.status_code >= 500:
            raise RasaUnavailable(f"Rasa failed with HTTP {response.status_code}")
        if response.status_code != 200:
            raise RasaError(f"Rasa refused the message: HTTP {response.status_code}")
        body = response.json()
        if not isinstance(body, list):
            raise RasaError(f"unexpected Rasa response: {body!r:.200}")
        return [BotReply.from_rasa(item) for item in body if isinstance(item, dict)]

    async def understandings(self, sender_id: str) -> dict[int, Understanding]:
        """What Rasa understood of each of our messages in a conversation (HTTP API)."""
        try:
            response = await self._http.get(
                f"/conversations/{quote(sender_id, safe='')}/tracker",
                params={"token": self._token, "include_events": "ALL"},
            )
        except httpx.HTTPError as error:
            raise RasaUnavailable(f"Rasa unreachable: {error!r}") from error
        if response.status_code != 200:
            raise RasaError(f"Rasa's tracker answered HTTP {response.status_code}")
        body = response.json()
        events = body.get("events") if isinstance(body, dict) else None
        if not isinstance(events, list):
            raise RasaError(f"unexpected tracker: {body!r:.200}")
        return understandings_in([e for e in events if isinstance(e, dict)])

    async def resume_cleanly(self, sender_id: str) -> None:
        """Give the conversation back to the assistant after people had it.

        A form the customer was half-way through when they asked for a person is dropped,
        so the assistant starts afresh from their next message instead of asking an old
        question (and a paused conversation is resumed).
        """
        events = [
            {"event": "resume"},
            {"event": "active_loop", "name": None},
            {"event": "slot", "name": "requested_slot", "value": None},
        ]
        try:
            response = await self._http.post(
                f"/conversations/{quote(sender_id, safe='')}/tracker/events",
                params={"token": self._token, "include_events": "NONE"},
                json=events,
            )
        except httpx.HTTPError as error:
            raise RasaUnavailable(f"Rasa unreachable: {error!r}") from error
        if response.status_code != 200:
            raise RasaError(f"Rasa refused the events: HTTP {response.status_code}")

    async def status(self) -> dict[str, Any]:
        """Rasa's `/status`: which model is loaded. Raises RasaUnavailable if not ready."""
        try:
            response = await self._http.get("/status", params={"token": self._token}, timeout=3.0)
        except httpx.HTTPError as error:
            raise RasaUnavailable(f"Rasa unreachable: {error!r}") from error
        if response.status_code != 200:
            raise RasaUnavailable(f"Rasa /status answered HTTP {response.status_code}")
        body: dict[str, Any] = response.json()
        if not body.get("model_file"):
            raise RasaUnavailable("Rasa has no model loaded")
        return body

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()
