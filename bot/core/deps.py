"""FastAPI dependencies on the core's objects, as narrow `Annotated` aliases for routes.

They work for HTTP requests and WebSockets alike (both are an `HTTPConnection`); the
composition root puts the `CoreServices` on `app.state.core`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from bot.core.attachments import AttachmentStore
from bot.core.background import BackgroundTasks
from bot.core.db import Database
from bot.core.delivery import Deliveries
from bot.core.pipeline import MessagePipeline
from bot.core.rasa_client import RasaClient
from bot.core.services import CoreServices
from bot.core.settings import Settings


def core_services(connection: HTTPConnection) -> CoreServices:
    """The core's objects of this app process."""
    core: CoreServices = connection.app.state.core
    return core


CoreDep = Annotated[CoreServices, Depends(core_services)]


def _settings(core: CoreDep) -> Settings:
    return core.settings


def _database(core: CoreDep) -> Database:
    return core.database


def _pipeline(core: CoreDep) -> MessagePipeline:
    return core.pipeline


def _deliveries(core: CoreDep) -> Deliveries:
    return core.deliveries


def _background(core: CoreDep) -> BackgroundTasks:
    return core.background


def _attachments(core: CoreDep) -> AttachmentStore:
    return core.attachments


def _rasa(core: CoreDep) -> RasaClient:
    return core.rasa


SettingsDep = Annotated[Settings, Depends(_settings)]
DatabaseDep = Annotated[Database, Depends(_database)]
PipelineDep = Annotated[MessagePipeline, Depends(_pipeline)]
DeliveriesDep = Annotated[Deliveries, Depends(_deliveries)]
BackgroundDep = Annotated[BackgroundTasks, Depends(_background)]
AttachmentsDep = Annotated[AttachmentStore, Depends(_attachments)]
RasaDep = Annotated[RasaClient, Depends(_rasa)]
