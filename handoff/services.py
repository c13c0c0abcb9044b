"""Handoff's long-lived objects in one app process, built by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.services import CoreServices
from handoff.announce import Announcer
from handoff.console.service import ConsoleReader
from handoff.console.signin import SignIn
from handoff.desk import AgentDesk
from handoff.escalation import Escalations
from handoff.live import InboxWatcher
from handoff.queues import QueueDirectory, load_queues
from handoff.routing import Router


@dataclass
class HandoffServices:
    """Queues, routing, escalation, the agents' desk, their sign-in, and the console's reads
    and live feed."""

    queues: QueueDirectory
    router: Router
    escalations: Escalations
    desk: AgentDesk
    console: ConsoleReader
    watcher: InboxWatcher
    sign_in: SignIn

    @classmethod
    def build(cls, core: CoreServices) -> HandoffServices:
        """Everything handoff needs, on the core's database, Rasa, deliveries and rate limits."""
        database, settings = core.database, core.settings
        queues = load_queues(settings.queues_file)
        announcer = Announcer(database=database, queues=queues, deliveries=core.deliveries)
        router = Router(database=database, queues=queues, announcer=announcer)
        return cls(
            queues=queues,
            router=router,
            escalations=Escalations(database=database, queues=queues, router=router),
            desk=AgentDesk(
                database=database,
                queues=queues,
                router=router,
                announcer=announcer,
                rasa=core.rasa,
            ),
            console=ConsoleReader(database=database, queues=queues, rasa=core.rasa),
            watcher=InboxWatcher(database),
            sign_in=SignIn(database=database, settings=settings, rate_limits=core.rate_limits),
        )
