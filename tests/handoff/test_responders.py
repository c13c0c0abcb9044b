"""Handoff's answers on the message path, on SQLite and PostgreSQL: silence while an agent
has the conversation, and the satisfaction survey after an agent resolved it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.db import Database
from bot.core.intents import LocalIntent
from bot.core.messages import BotReply
from bot.core.models import Channel, Conversation
from bot.core.responders import Claimed, LocalAnswer
from bot.core.store import inbound
from bot.core.texts import Text, say
from handoff.models import CsatResponse, Handoff
from handoff.responders import AgentHasIt, SurveyInProgress, handoff_responders
from handoff.store import agent_actions, assignment, survey
from handoff.store.queue import HandoffRequest, enqueue_handoff
from handoff.survey import question
from tests.support.handoff import IDLE_AFTER, new_agent

CUSTOMER = "+14155550142"


async def _claimed(session: AsyncSession, text: str) -> Claimed:
    """The customer's message `text`, stored and claimed as the pipeline does."""
    stored = await inbound.record_inbound(
        session=session,
        channel=Channel.SMS,
        address=CUSTOMER,
        text=text,
        external_id=None,
        idle_after=IDLE_AFTER,
    )
    return Claimed(stored.message, stored.conversation, stored.identity)


async def _agent_has_it(database: Database, text: str) -> LocalAnswer | None:
    async with database.session() as session:
        return await AgentHasIt().answer(session, await _claimed(session, text))


async def _rated(database: Database, text: str) -> LocalAnswer | None:
    async with database.session() as session:
        return await SurveyInProgress().answer(session, await _claimed(session, text))


async def _queued(database: Database) -> int:
    """The customer asked for a person; the handoff's id."""
    async with database.session() as session:
        claimed = await _claimed(session, "a person please")
        handoff = await enqueue_handoff(
            session=session,
            conversation_id=claimed.conversation.id,
            request=HandoffRequest(queue="support.general", reason="request_human"),
        )
        return handoff.id


async def _taken(database: Database, handoff_id: int) -> int:
    """An agent took the conversation; their id."""
    agent = await new_agent(database)
    async with database.session() as session:
        assert await assignment.take_handoff(session=session, handoff_id=handoff_id, agent_id=agent)
    return agent


async def _resolved(database: Database, handoff_id: int, agent: int) -> None:
    async with database.session() as session:
        await agent_actions.resolve_handoff(session=session, handoff_id=handoff_id, agent_id=agent)


async def test_the_assistant_stays_quiet_only_while_an_agent_has_the_conversation(
    database: Database,
) -> None:
    assert await _agent_has_it(database, "hello") is None
    handoff_id = await _queued(database)
    # Waiting for people is not being with one: the assistant still answers.
    assert await _agent_has_it(database, "anyone there?") is None
    agent = await _taken(database, handoff_id)
    assert await _agent_has_it(database, "my parcel is late") == LocalAnswer(
        (), LocalIntent.FOR_AGENT
    )
    await _resolved(database, handoff_id, agent)
    assert await _agent_has_it(database, "thanks") is None


async def _surveyed(database: Database) -> tuple[int, int]:
    """An agent resolved the customer's conversation and the survey started; the handoff's
    id and the agent's."""
    handoff_id = await _queued(database)
    agent = await _taken(database, handoff_id)
    await _resolved(database, handoff_id, agent)
    async with database.session() as session:
        await survey.start_survey(session=session, handoff_id=handoff_id)
    return handoff_id, agent


async def _answers(database: Database) -> list[tuple[int, int, int | None, int]]:
    async with database.session() as session:
        rows = await session.scalars(select(CsatResponse).order_by(CsatResponse.id))
        return [(r.handoff_id, r.statement, r.agent_id, r.score) for r in rows]


async def _survey_handoff_id(database: Database, handoff_id: int) -> int | None:
    async with database.session() as session:
        handoff = await session.get_one(Handoff, handoff_id)
        conversation = await session.get_one(Conversation, handoff.conversation_id)
        return conversation.survey_handoff_id


def _reply(text: str) -> LocalAnswer:
    return LocalAnswer((BotReply(text=text),), LocalIntent.CSAT)


async def test_ratings_are_recorded_and_the_next_statement_asked(database: Database) -> None:
    handoff_id, agent = await _surveyed(database)
    assert await _rated(database, "4") == _reply(question(1))
    assert await _rated(database, "5.") == _reply(question(2))
    assert await _rated(database, " 3 ") == _reply(say(Text.SURVEY_THANKS))
    assert await _answers(database) == [
        (handoff_id, 0, agent, 4),
        (handoff_id, 1, agent, 5),
        (handoff_id, 2, agent, 3),
    ]
    assert await _survey_handoff_id(database, handoff_id) is None
    # Done: a number now is for the assistant.
    assert await _rated(database, "4") is None
    assert len(await _answers(database)) == 3


async def test_anything_but_a_rating_ends_the_survey(database: Database) -> None:
    handoff_id, _ = await _surveyed(database)
    assert await _rated(database, "where is my order?") is None
    assert await _survey_handoff_id(database, handoff_id) is None
    assert await _rated(database, "4") is None
    assert await _answers(database) == []


async def test_no_survey_no_answer(database: Database) -> None:
    assert await _rated(database, "5") is None
    assert await _answers(database) == []


def test_the_pipeline_asks_whether_an_agent_has_it_before_the_survey() -> None:
    assert [type(r) for r in handoff_responders()] == [AgentHasIt, SurveyInProgress]
