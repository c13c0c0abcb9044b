"""FastAPI dependencies on handoff's objects, as `Annotated` aliases for the routes."""

from __future__ import annotations

from typing import Annotated

from bot.core.deps import from_app_state
from handoff.console.service import ConsoleReader
from handoff.console.signin import SignIn
from handoff.desk import AgentDesk
from handoff.live import InboxWatcher
from handoff.queues import QueueDirectory

DeskDep = Annotated[AgentDesk, from_app_state("desk")]
ConsoleDep = Annotated[ConsoleReader, from_app_state("console")]
QueuesDep = Annotated[QueueDirectory, from_app_state("queues")]
WatcherDep = Annotated[InboxWatcher, from_app_state("watcher")]
SignInDep = Annotated[SignIn, from_app_state("sign_in")]
