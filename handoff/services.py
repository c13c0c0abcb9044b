"""Handoff's long-lived objects in one app process, built by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from bot.business.protocol import BusinessSystems
from bot.core.db import Database
from bot.core.services import CoreServices
from bot.core.settings import Settings
from bot.nlp.jobs import NlpJobs
from handoff.announce import Announcer
from handoff.console.customer_actions import CustomerActions
from handoff.console.service import ConsoleReader
from handoff.console.signin import SignIn
from handoff.desk import AgentDesk
from handoff.escalation import Escalations
from handoff.insights import QueueInsights
from handoff.live import InboxWatcher
from handoff.queues import QueueDirectory, load_queues
from handoff.routing import Router
from handoff.updates import CustomerUpdates, PaysRefunds, RefundPayouts


@dataclass
class HandoffServices:
    """Queues, routing, escalation, the agents' desk, their sign-in, the console's reads and
    live feed, the agents' actions on the customer's business records, and the customers'
    proactive updates."""

    queues: QueueDirectory
    router: Router
    escalations: Escalations
    desk: AgentDesk
    console: ConsoleReader
    watcher: InboxWatcher
    sign_in: SignIn
    updates: CustomerUpdates
    customer_actions: CustomerActions
    # The demo backend's payment run (the HTTP backend tells us by webhook instead).
    payouts: RefundPayouts | None
    announcer: Announcer

    @classmethod
    def build(
        cls,
        core: CoreServices,
        business: BusinessSystems | None = None,
        jobs: NlpJobs | None = None,
    ) -> HandoffServices:
        """Everything handoff needs, on the core's database, Rasa, deliveries and rate
        limits, and the business systems (for the console's customer panel and actions);
        `jobs` analyse each conversation handed to people."""
        database, settings = core.database, core.settings
        queues = load_queues(settings.queues_file)
        announcer = Announcer(database=database, queues=queues, deliveries=core.deliveries)
        router = Router(database=database, queues=queues, announcer=announcer)
        updates = CustomerUpdates(database=database, deliveries=core.deliveries, business=business)
        limits = settings.agent_refund_limits_minor
        return cls(
            queues=queues,
            router=router,
            escalations=Escalations(database=database, queues=queues, router=router, jobs=jobs),
            desk=AgentDesk(
                database=database,
                queues=queues,
                router=router,
                announcer=announcer,
                rasa=core.rasa,
            ),
            console=ConsoleReader(
                database=database,
                queues=queues,
                rasa=core.rasa,
                business=business,
                refund_limits=limits,
            ),
            watcher=InboxWatcher(database),
            sign_in=SignIn(database=database, settings=settings, rate_limits=core.rate_limits),
            updates=updates,
            customer_actions=CustomerActions(
                database=database,
                business=business,
                updates=updates,
                attachments=core.attachments,
                refund_limits=limits,
            ),
            payouts=RefundPayouts(business, updates) if isinstance(business, PaysRefunds) else None,
            announcer=announcer,
        )

    def insights(self, database: Database, settings: Settings) -> QueueInsights:
        """Applies the NLP analyses to the queues (in the process that runs the jobs)."""
        return QueueInsights(
            database=database,
            settings=settings,
            queues=self.queues,
            router=self.router,
            escalations=self.escalations,
            announcer=self.announcer,
        )
