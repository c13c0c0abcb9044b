"""The NLP results applied to conversations waiting for people: their place in the queue
follows the customer's sentiment and the complaint's priority, a predicted complaint
category moves a conversation out of the general queue, and (when configured) a customer
turning strongly negative is handed to people without having to ask."""

from __future__ import annotations

import structlog

from bot.core.db import Database
from bot.core.models import Conversation, ConversationStatus
from bot.core.settings import Settings
from bot.core.store import outbound
from bot.core.texts import Text, say
from bot.nlp.analysis import Analysis, ScoredMessage
from handoff.announce import Announcer
from handoff.escalation import Escalations
from handoff.queues import QueueDirectory
from handoff.routing import Router
from handoff.store.insights import reprioritise
from handoff.store.queue import open_handoff_of

log = structlog.get_logger("handoff.insights")
UPSET_REASON = "customer upset"
UNPLACED_CATEGORY = "other"
MOVE_CONFIDENCE = 0.5


class QueueInsights:
    """Listens to the NLP analyses (see `bot.nlp.analysis.AnalysisListener`)."""

    def __init__(
        self,
        *,
        database: Database,
        settings: Settings,
        queues: QueueDirectory,
        router: Router,
        escalations: Escalations,
        announcer: Announcer | None,
    ) -> None:
        self._database = database
        self._settings = settings
        self._queues = queues
        self._router = router
        self._escalations = escalations
        self._announcer = announcer

    async def message_scored(self, scored: ScoredMessage) -> None:
        """Move a waiting conversation by its customer's latest sentiment, or hand an upset
        customer to people."""
        async with self._database.session() as session:
            handoff = await open_handoff_of(session=session, conversation_id=scored.conversation_id)
            if handoff is not None:
                await reprioritise(
                    session=session,
                    conversation_id=scored.conversation_id,
                    sentiment_score=scored.trend.current,
                    reason=scored.trend.describe(),
                )
                return
        if self._upset(scored):
            await self._hand_over(scored)

    async def conversation_analysed(self, analysis: Analysis) -> None:
        """Apply an analysis to the conversation's waiting handoff: priority, sentiment and,
        from the general queue, the queue of its predicted category."""
        async with self._database.session() as session:
            handoff = await open_handoff_of(
                session=session, conversation_id=analysis.conversation_id
            )
            if handoff is None:
                return
            moved_to = self._better_queue(handoff.queue, analysis)
            await reprioritise(
                session=session,
                conversation_id=analysis.conversation_id,
                sentiment_score=analysis.trend.current,
                complaint_priority=analysis.priority.priority,
                queue=moved_to,
                reason=analysis.priority.reason,
            )
        if moved_to is not None:
            await self._router.dispatch()

    def _better_queue(self, current: str, analysis: Analysis) -> str | None:
        # Only a conversation the dialogue could not place (no complaint category, or
        # "other") is moved, and only on a confident prediction.
        predicted = analysis.category
        if predicted is None or predicted.confidence < MOVE_CONFIDENCE:
            return None
        if analysis.dialogue_category not in (None, UNPLACED_CATEGORY):
            return None
        target = self._queues.route(complaint_category=predicted.category)
        if target.key in (current, self._queues.default_key):
            return None
        return target.key

    def _upset(self, scored: ScoredMessage) -> bool:
        settings = self._settings
        needed = settings.auto_escalate_messages
        recent = scored.trend.recent[-needed:]
        return (
            settings.auto_escalate_on_sentiment
            and len(recent) >= needed
            and all(score <= settings.auto_escalate_score for score in recent)
        )

    async def _hand_over(self, scored: ScoredMessage) -> None:
        async with self._database.session() as session:
            conversation = await session.get_one(Conversation, scored.conversation_id)
            if conversation.status is not ConversationStatus.ACTIVE:
                return
            customer_id = conversation.customer_id
        escalation = await self._escalations.escalate(
            conversation_id=scored.conversation_id, customer_id=customer_id, reason=UPSET_REASON
        )
        log.info("handed_over_upset_customer", conversation_id=scored.conversation_id)
        async with self._database.session() as session:
            try:
                notice = await outbound.record_notice(
                    session=session,
                    conversation_id=scored.conversation_id,
                    text=say(Text.UPSET_HANDED_TO_PEOPLE, team=escalation.queue.name),
                    payload={"custom": {"notice": "handed_to_people"}},
                )
            except outbound.NothingToAnswer:
                return
        if self._announcer is not None:
            await self._announcer.deliver(notice)
