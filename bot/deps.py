"""FastAPI dependencies, as `Annotated` aliases for the route signatures."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, WebSocket

from bot.services import Services


def _services_from_request(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _services_from_websocket(websocket: WebSocket) -> Services:
    services: Services = websocket.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(_services_from_request)]
SocketServicesDep = Annotated[Services, Depends(_services_from_websocket)]
