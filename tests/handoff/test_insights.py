"""The NLP results applied to the queues, on SQLite and PostgreSQL: an unhappy customer
moves ahead, a predicted category moves a conversation out of the general queue, and (when
configured) a customer turning strongly negative is handed to people."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from bot.core.db import Database
from bot.core.models import AuditEvent, Conversation, Direction, Message, Priority
from bot.core.settings import Settings
from bot.nlp.analysis import Analysis, ScoredMessage
from bot.nlp.priority import PriorityDecision
from bot.nlp.results import CategoryPrediction, Sentiment
from bot.nlp.summary import Summary
from bot.nlp.trend import trend_of
from handoff.escalation import Escalations
from handoff.insights import QueueInsights
from handoff.models import Handoff, HandoffStatus
from handoff.routing import Router
from tests.support.handoff import QUEUES, new_conversation, queued

MORTGAGE = CategoryPrediction("Mortgage", 0.91)


def _insights(database: Database, tmp_path: Path, **settings: object) -> QueueInsights:
    router = Router(database=database, queues=QUEUES)
    return QueueInsights(
        database=database,
        settings=Settings(var_dir=tmp_path, **settings),  # type: ignore[arg-type]
        queues=QUEUES,
        router=router,
        escalations=Escalations(database=database, queues=QUEUES, router=router),
        announcer=None,
    )


async def _conversation_of(database: Database, handoff_id: int) -> int:
    async with database.session() as session:
        return (await session.get_one(Handoff, handoff_id)).conversation_id


def _scored(conversation_id: int, *scores: float) -> ScoredMessage:
    latest = Sentiment("negative", scores[-1], 0.9)
    return ScoredMessage(0, conversation_id, latest, trend_of(scores))


def _analysis(
    conversation_id: int,
    category: CategoryPrediction | None,
    *,
    dialogue_category: str | None = None,
    priority: Priority = Priority.HIGH,
) -> Analysis:
    return Analysis(
        conversation_id,
        trend_of([-0.3, -0.7]),
        category,
        PriorityDecision(priority, "negative and worsening"),
        Summary("What happened: ...", "extractive"),
        dialogue_category,
    )


async def test_an_unhappy_customer_moves_ahead_of_an_earlier_one(
    database: Database, tmp_path: Path
) -> None:
    earlier = await queued(database, minutes_ago=6)
    later = await queued(database, minutes_ago=1)
    await _insights(database, tmp_path).message_scored(
        _scored(await _conversation_of(database, later), -0.5, -0.9, -0.95)
    )
    async with database.session() as session:
        first = await session.get_one(Handoff, earlier)
        second = await session.get_one(Handoff, later)
        assert second.sentiment_score is not None and second.sentiment_score < -0.7
        assert second.priority_at < first.priority_at
        audited = await session.scalar(
            select(AuditEvent).where(AuditEvent.action == "handoff.reprioritised")
        )
        assert audited is not None
        assert audited.details["handoff_id"] == later


async def test_a_priority_from_the_analysis_orders_the_queue(
    database: Database, tmp_path: Path
) -> None:
    earlier = await queued(database, minutes_ago=8)
    later = await queued(database, minutes_ago=1)
    conversation_id = await _conversation_of(database, later)
    await _insights(database, tmp_path).conversation_analysed(
        _analysis(conversation_id, None, priority=Priority.URGENT)
    )
    async with database.session() as session:
        first = await session.get_one(Handoff, earlier)
        second = await session.get_one(Handoff, later)
        assert second.complaint_priority is Priority.URGENT
        assert second.priority_at < first.priority_at


async def test_a_predicted_category_moves_a_conversation_out_of_the_general_queue(
    database: Database, tmp_path: Path
) -> None:
    handoff_id = await queued(database, queue=QUEUES.default_key)
    conversation_id = await _conversation_of(database, handoff_id)
    await _insights(database, tmp_path).conversation_analysed(_analysis(conversation_id, MORTGAGE))
    async with database.session() as session:
        assert (await session.get_one(Handoff, handoff_id)).queue == "accounts.lending"


async def test_what_the_dialogue_placed_or_an_unsure_guess_stays_put(
    database: Database, tmp_path: Path
) -> None:
    insights = _insights(database, tmp_path)
    placed = await queued(database, queue="sales.orders")
    unsure = await queued(database, queue=QUEUES.default_key)
    await insights.conversation_analysed(
        _analysis(await _conversation_of(database, placed), MORTGAGE, dialogue_category="delivery")
    )
    await insights.conversation_analysed(
        _analysis(await _conversation_of(database, unsure), CategoryPrediction("Mortgage", 0.3))
    )
    async with database.session() as session:
        assert (await session.get_one(Handoff, placed)).queue == "sales.orders"
        assert (await session.get_one(Handoff, unsure)).queue == QUEUES.default_key


async def test_a_customer_turning_strongly_negative_is_handed_to_people_when_configured(
    database: Database, tmp_path: Path
) -> None:
    conversation_id = await new_conversation(database)
    off = _insights(database, tmp_path)
    await off.message_scored(_scored(conversation_id, -0.8, -0.9))
    async with database.session() as session:
        assert await session.scalar(select(Handoff)) is None

    on = _insights(database, tmp_path, auto_escalate_on_sentiment=True)
    await on.message_scored(_scored(conversation_id, 0.2, -0.9))  # one angry message
    async with database.session() as session:
        assert await session.scalar(select(Handoff)) is None
    await on.message_scored(_scored(conversation_id, -0.7, -0.9))
    async with database.session() as session:
        handoff = await session.scalar(select(Handoff))
        assert handoff is not None
        assert (handoff.status, handoff.reason) == (HandoffStatus.QUEUED, "customer upset")
        conversation = await session.get_one(Conversation, conversation_id)
        told = await session.scalar(
            select(Message).where(
                Message.conversation_id == conversation.id,
                Message.direction == Direction.OUTBOUND,
            )
        )
        assert told is not None and "take over" in told.text
    # Scored again while waiting: it stays one handoff.
    await on.message_scored(_scored(conversation_id, -0.9, -0.95))
    async with database.session() as session:
        assert len((await session.scalars(select(Handoff))).all()) == 1
