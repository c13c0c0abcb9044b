"""FastAPI dependencies on handoff's objects, as `Annotated` aliases for the routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from handoff.console.service import ConsoleReader
from handoff.desk import AgentDesk
from handoff.live import InboxWatcher
from handoff.queues import QueueDirectory
from handoff.services import HandoffServices


def handoff_services(connection: HTTPConnection) -> HandoffServices:
    """Handoff's objects of this app process (the composition root puts them on the app)."""
    services: HandoffServices = connection.app.state.handoff
    return services


HandoffDep = Annotated[HandoffServices, Depends(handoff_services)]


def _desk(handoff: HandoffDep) -> AgentDesk:
    return handoff.desk


def _console(handoff: HandoffDep) -> ConsoleReader:
    return handoff.console


def _queues(handoff: HandoffDep) -> QueueDirectory:
    return handoff.queues


def _watcher(handoff: HandoffDep) -> InboxWatcher:
    return handoff.watcher


DeskDep = Annotated[AgentDesk, Depends(_desk)]
ConsoleDep = Annotated[ConsoleReader, Depends(_console)]
QueuesDep = Annotated[QueueDirectory, Depends(_queues)]
WatcherDep = Annotated[InboxWatcher, Depends(_watcher)]
