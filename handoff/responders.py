"""Handoff's answers on the message path, passed to the core pipeline by the composition root:
while an agent has the conversation the assistant stays quiet, and after an agent resolved
it the customer's ratings answer the satisfaction survey."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.intents import LocalIntent
from bot.core.messages import BotReply
from bot.core.models import ConversationStatus
from bot.core.responders import Claimed, LocalAnswer
from bot.core.texts import Text, say
from handoff import survey
from handoff.store import assignment
from handoff.store import survey as survey_store


class AgentHasIt:
    """The message is the agent's to read: no answer from the assistant."""

    async def answer(self, session: AsyncSession, claimed: Claimed) -> LocalAnswer | None:
        """An empty answer while an agent has the conversation."""
        # Only a conversation waiting for people can be with an agent: one look, no query,
        # for everyone else.
        if claimed.conversation.status is not ConversationStatus.AWAITING_AGENT:
            return None
        if not await assignment.with_agent(
            session=session, conversation_id=claimed.conversation.id
        ):
            return None
        return LocalAnswer((), LocalIntent.FOR_AGENT)


class SurveyInProgress:
    """A rating answers the survey's current statement; anything else ends the survey."""

    async def answer(self, session: AsyncSession, claimed: Claimed) -> LocalAnswer | None:
        """The next statement (or thanks) for a rating; None once the customer moved on."""
        conversation = claimed.conversation
        if conversation.survey_handoff_id is None:
            return None
        score = survey.parse_score(claimed.message.text)
        if score is None:
            await survey_store.end_survey(session=session, conversation_id=conversation.id)
            return None
        step = await survey_store.answer_survey(
            session=session,
            conversation_id=conversation.id,
            score=score,
            statements=len(survey.STATEMENTS),
        )
        text = say(Text.SURVEY_THANKS) if step is None else survey.question(step)
        return LocalAnswer((BotReply(text=text),), LocalIntent.CSAT)


def handoff_responders() -> list[AgentHasIt | SurveyInProgress]:
    """The responders the pipeline asks before Rasa, in order."""
    return [AgentHasIt(), SurveyInProgress()]
