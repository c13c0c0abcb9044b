"""The Rasa server, spoken to over its REST channel and HTTP API."""

from __future__ import annotations

from typing import Any

import httpx

from adapters.messages import BotReply


class RasaError(Exception):
    """Rasa answered, but not with something we can use."""


class RasaUnavailable(RasaError):
    """Rasa could not be reached, timed out or failed (the message should be retried)."""


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
        self, *, sender_id: str, text: str, metadata: dict[str, Any]
    ) -> list[BotReply]:
        """One customer turn: Rasa's replies to `text` from `sender_id`, in order."""
        try:
            response = await self._http.post(
                "/webhooks/rest/webhook",
                json={"sender": sender_id, "message": text, "metadata": metadata},
            )
        except httpx.HTTPError as error:
            raise RasaUnavailable(f"Rasa unreachable: {error!r}") from error
        if response.status_code >= 500:
            raise RasaUnavailable(f"Rasa failed with HTTP {response.status_code}")
        if response.status_code != 200:
            raise RasaError(f"Rasa refused the message: HTTP {response.status_code}")
        body = response.json()
        if not isinstance(body, list):
            raise RasaError(f"unexpected Rasa response: {body!r:.200}")
        return [BotReply.from_rasa(item) for item in body if isinstance(item, dict)]

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
