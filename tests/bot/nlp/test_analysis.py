"""A complaint conversation turning angry, analysed with the real models on SQLite and
PostgreSQL: every customer message scored once, a summary with the identifiers and what was
done, a worsening trend, a predicted category, and a priority with its reason, kept on the
conversation and the complaint."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from bot.core.db import Database
from bot.core.models import AuditEvent, Channel, Complaint, Conversation, Priority
from bot.core.settings import Settings
from bot.core.store import complaints
from bot.nlp.analysis import Analyser, NlpModels
from bot.nlp.categories import model_file
from bot.nlp.models import ConversationInsight, MessageSentiment
from tests.support.store import answer, receive

CUSTOMER = "+447700900123"
TURNS = [
    ("Hi, my order 40017 hasn't arrived, it was due on 28 November.", "Sorry to hear that."),
    ("It's been a week. The tracking hasn't moved since the depot.", "I can file a complaint."),
    (
        "Yes please. I paid £89.99 for this and I was charged twice on my credit card.",
        "What would you like us to do?",
    ),
    ("I want the duplicate charge refunded. This is ridiculous.", "I've filed it."),
    ("Absolutely useless. Third time I've contacted you and still nothing.", "I'm sorry."),
]


async def _conversation(database: Database) -> tuple[int, str]:
    for text, reply in TURNS:
        stored = await receive(database, Channel.SMS, CUSTOMER, text=text)
        await answer(database, stored, reply)
    async with database.session() as session:
        conversation = await session.get_one(Conversation, stored.conversation.id)
        complaint = await complaints.open_complaint(
            session=session,
            customer_id=conversation.customer_id,
            conversation_id=conversation.id,
            channel=Channel.SMS,
            category="other",
            description="Charged twice for order 40017, which never arrived",
            order_ref="40017",
            desired_outcome="refund of the duplicate charge",
        )
        return conversation.id, complaint.case_id


def _analyser(database: Database, tmp_path: Path) -> Analyser:
    return Analyser(database, NlpModels(Settings(var_dir=tmp_path)))


async def test_an_angry_complaint_conversation_is_analysed_and_kept(
    database: Database, tmp_path: Path
) -> None:
    assert model_file(Settings().nlp_models_dir).exists(), (
        "train the category model first: python -m bot nlp train-categories"
    )
    conversation_id, case_id = await _conversation(database)
    analysis = await _analyser(database, tmp_path).analyse(conversation_id)
    assert analysis is not None

    assert analysis.trend.direction == "worsening"
    assert analysis.trend.current is not None and analysis.trend.current < -0.25
    assert analysis.category is not None
    assert analysis.category.category == "Credit card or prepaid card"
    assert analysis.priority.priority in (Priority.HIGH, Priority.URGENT)
    assert "worsening" in analysis.priority.reason
    summary = analysis.summary.text
    for expected in (
        case_id,
        "40017",
        "£89.99",
        "duplicate charge",
        "filed complaint",
        "worsening",
    ):
        assert expected in summary, expected

    async with database.session() as session:
        scored = (await session.scalars(select(MessageSentiment))).all()
        assert len(scored) == len(TURNS)
        insight = await session.get_one(ConversationInsight, conversation_id)
        assert insight.summary == summary
        assert insight.priority_reason == analysis.priority.reason
        complaint = await session.scalar(select(Complaint).where(Complaint.case_id == case_id))
        assert complaint is not None
        assert (complaint.summary, complaint.sentiment_label) == (summary, "negative")
        assert complaint.priority is analysis.priority.priority
        changed = await session.scalar(
            select(AuditEvent).where(AuditEvent.action == "complaint.priority_changed")
        )
        assert changed is not None and changed.details["reason"] == analysis.priority.reason


async def test_a_message_is_scored_once_and_only_customer_messages_are(
    database: Database, tmp_path: Path
) -> None:
    analyser = _analyser(database, tmp_path)
    stored = await receive(database, text="Thanks so much, that's perfect!")
    reply = await answer(database, stored, "You're welcome!")
    first = await analyser.score_message(stored.message.id)
    assert first is not None and first.sentiment.label == "positive"
    assert await analyser.score_message(stored.message.id) is None
    assert await analyser.score_message(reply.id) is None
    assert await analyser.score_message(10_000) is None
    assert await analyser.analyse(10_000) is None


async def test_a_conversation_without_a_complaint_is_summarised_too(
    database: Database, tmp_path: Path
) -> None:
    stored = await receive(database, text="My card 4929 1234 5678 9012 was blocked at the till.")
    analysis = await _analyser(database, tmp_path).analyse(stored.conversation.id)
    assert analysis is not None
    assert "4929 1234 5678 9012" not in analysis.summary.text
    assert "9012" in analysis.summary.text
