"""The satisfaction survey's state and answers, after an agent resolved a conversation."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.models import Conversation
from handoff.models import CsatResponse, Handoff


async def start_survey(*, session: AsyncSession, handoff_id: int) -> None:
    """The customer's next messages answer the satisfaction survey of this handoff."""
    handoff = await session.get_one(Handoff, handoff_id)
    handoff.survey_step = 0
    conversation = await session.get_one(Conversation, handoff.conversation_id)
    conversation.survey_handoff_id = handoff_id


async def answer_survey(
    *, session: AsyncSession, conversation_id: int, score: int, statements: int
) -> int | None:
    """Record the answer to the current statement; the next one, or None when done."""
    conversation = await session.get_one(Conversation, conversation_id)
    if conversation.survey_handoff_id is None:
        return None
    handoff = await session.get_one(Handoff, conversation.survey_handoff_id)
    step = handoff.survey_step or 0
    session.add(
        CsatResponse(
            handoff_id=handoff.id,
            conversation_id=conversation_id,
            agent_id=handoff.agent_id,
            statement=step,
            score=score,
        )
    )
    handoff.survey_step = step + 1
    if handoff.survey_step >= statements:
        conversation.survey_handoff_id = None
        return None
    return handoff.survey_step


async def end_survey(*, session: AsyncSession, conversation_id: int) -> None:
    """The customer moved on: no more survey questions."""
    conversation = await session.get_one(Conversation, conversation_id)
    conversation.survey_handoff_id = None
