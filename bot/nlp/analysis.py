"""The analyses the background jobs run: one customer message's sentiment, and a whole
conversation's summary, trend, category and priority, kept in the store and passed on to
whoever listens (handoff re-orders its queue with them)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import structlog

from bot.core.db import Database
from bot.core.models import Complaint, Direction, Message
from bot.core.settings import Settings
from bot.core.store import audit
from bot.core.store import complaints as complaint_store
from bot.nlp import context as conversation_context
from bot.nlp import store
from bot.nlp.embeddings import sentence_encoder
from bot.nlp.priority import PriorityDecision, PriorityInputs, decide_priority
from bot.nlp.results import CategoryPrediction, Sentiment
from bot.nlp.summarizers import build_summarizer
from bot.nlp.summary import Summarizer, Summary
from bot.nlp.trend import NEGATIVE_BELOW, POSITIVE_ABOVE, Trend, trend_of

if TYPE_CHECKING:
    from bot.nlp.categories import CategoryModel

log = structlog.get_logger("bot.nlp.analysis")


class SentimentScorer(Protocol):
    """Anything that scores texts: the local model or Amazon Comprehend."""

    backend: str

    def score(self, texts: Sequence[str]) -> list[Sentiment]:
        """The sentiment of each text."""
        ...


class ComprehendScorer:
    """Amazon Comprehend as a sentiment scorer."""

    backend = "comprehend"

    def __init__(self, settings: Settings) -> None:
        from bot.nlp.comprehend import ComprehendAnalyzer

        self._analyzer = ComprehendAnalyzer.from_settings(settings)

    def score(self, texts: Sequence[str]) -> list[Sentiment]:
        """Comprehend's sentiment of each text."""
        return self._analyzer.sentiment(texts)


class NlpModels:
    """The models of one process, each loaded on first use (thread-safe)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.RLock()
        self._sentiment: SentimentScorer | None = None
        self._categories: CategoryModel | None = None
        self._summarizer: Summarizer | None = None

    def sentiment(self) -> SentimentScorer:
        """The configured sentiment scorer."""
        with self._lock:
            if self._sentiment is None:
                if self.settings.nlp_backend == "comprehend":
                    self._sentiment = ComprehendScorer(self.settings)
                else:
                    # scikit-learn and the models load with the first job, not on import
                    # (the action server only queues jobs).
                    from bot.nlp.sentiment import load_or_train

                    encoder = sentence_encoder(self.settings.sentence_model_path)
                    self._sentiment = load_or_train(self.settings.nlp_models_dir, encoder)
            return self._sentiment

    def categories(self) -> CategoryModel | None:
        """The trained complaint-category model, or None if none was trained yet."""
        from bot.nlp.categories import CategoryModel, model_file

        with self._lock:
            path = model_file(self.settings.nlp_models_dir)
            if self._categories is None and path.exists():
                self._categories = CategoryModel.load(path)
            return self._categories

    @property
    def loaded(self) -> bool:
        """Whether the sentiment scorer and the summariser are loaded."""
        return self._sentiment is not None and self._summarizer is not None

    def warm_up(self) -> None:
        """Load every model now, so that the first customer's message does not wait for it."""
        scorer = self.sentiment()
        if not isinstance(scorer, ComprehendScorer):  # a remote service needs no warming
            scorer.score(["Thanks, that helps."])  # the first call also sets up the tokenizer
        self.categories()
        self.summarizer()

    def summarizer(self) -> Summarizer:
        """Extractive, or the seq2seq model named by SUMMARIZER_MODEL_PATH."""
        with self._lock:
            if self._summarizer is None:
                self._summarizer = build_summarizer(
                    model_path=self.settings.summarizer_model_path,
                    encoder_path=self.settings.sentence_model_path,
                )
            return self._summarizer


@dataclass(frozen=True)
class ScoredMessage:
    """A customer message just scored, and where its conversation now stands."""

    message_id: int
    conversation_id: int
    sentiment: Sentiment
    trend: Trend


@dataclass(frozen=True)
class Analysis:
    """What was worked out about a conversation."""

    conversation_id: int
    trend: Trend
    category: CategoryPrediction | None
    priority: PriorityDecision
    summary: Summary
    # The category the dialogue gave the latest complaint ("other" when it could not tell).
    dialogue_category: str | None = None


class AnalysisListener(Protocol):
    """Told about every result (handoff re-orders its queue, may escalate)."""

    async def message_scored(self, scored: ScoredMessage) -> None:
        """A customer message was scored."""
        ...

    async def conversation_analysed(self, analysis: Analysis) -> None:
        """A conversation was analysed."""
        ...


class Analyser:
    """Runs the analyses on a database with the process's models."""

    def __init__(
        self, database: Database, models: NlpModels, listeners: Sequence[AnalysisListener] = ()
    ) -> None:
        self.database = database
        self._models = models
        self._listeners = list(listeners)

    def warm_up(self) -> None:
        """Load the process's models (blocking; call it from a thread)."""
        self._models.warm_up()

    def add_listener(self, listener: AnalysisListener) -> None:
        """Tell `listener` about every result from now on."""
        self._listeners.append(listener)

    async def score_message(self, message_id: int) -> ScoredMessage | None:
        """Score a customer message once (None if it is not one, or was scored already)."""
        async with self.database.session() as session:
            message = await session.get(Message, message_id)
            if message is None or not _scorable(message):
                return None
            if await store.sentiments_of(session=session, message_ids=[message_id]):
                return None
            text, conversation_id = conversation_context.words_of(message), message.conversation_id
        scorer = await asyncio.to_thread(self._models.sentiment)
        sentiment = (await asyncio.to_thread(scorer.score, [text]))[0]
        async with self.database.session() as session:
            message = await session.get_one(Message, message_id)
            stored = await store.record_sentiment(
                session=session, message=message, sentiment=sentiment, backend=scorer.backend
            )
            scores = [
                s.score
                for s in await store.sentiments_in(session=session, conversation_id=conversation_id)
            ]
        if not stored:
            return None
        scored = ScoredMessage(message_id, conversation_id, sentiment, trend_of(scores))
        for listener in self._listeners:
            await listener.message_scored(scored)
        return scored

    async def analyse(self, conversation_id: int) -> Analysis | None:
        """Summarise, classify and prioritise a conversation; keep and pass on the result."""
        await self._score_unscored(conversation_id)
        async with self.database.session() as session:
            found = await conversation_context.gather(
                session=session, conversation_id=conversation_id
            )
        if found is None:
            return None
        analysis = await asyncio.to_thread(self._analysis_of, found)
        await self._keep(found, analysis)
        for listener in self._listeners:
            await listener.conversation_analysed(analysis)
        return analysis

    def _analysis_of(self, found: conversation_context.ConversationContext) -> Analysis:
        trend = trend_of(found.customer_scores())
        category = self._category(found)
        label = category.category if category else _chosen_category(found)
        decision = decide_priority(
            PriorityInputs(
                trend=trend,
                category=label,
                is_vip=found.customer.is_vip,
                contacts_this_week=found.contacts_this_week,
                earlier_complaints=found.earlier_complaints,
                dialogue_priority=found.complaints[-1].priority if found.complaints else None,
            )
        )
        facts = found.facts(trend=trend.describe() if trend.recent else None, category=label)
        summary = self._models.summarizer().summarize(found.utterances(), facts)
        return Analysis(
            found.conversation.id, trend, category, decision, summary, _chosen_category(found)
        )

    def _category(
        self, found: conversation_context.ConversationContext
    ) -> CategoryPrediction | None:
        model = self._models.categories()
        text = found.customer_text()
        if model is None or not text.strip():
            return None
        return model.predict([text])[0]

    async def _keep(
        self, found: conversation_context.ConversationContext, analysis: Analysis
    ) -> None:
        trend = analysis.trend
        async with self.database.session() as session:
            await store.save_insight(
                session=session,
                conversation_id=analysis.conversation_id,
                summary=analysis.summary.text,
                summary_backend=analysis.summary.backend,
                trend=trend.direction,
                recent_scores=list(trend.recent),
                sentiment_score=trend.current,
                category=analysis.category.category if analysis.category else None,
                category_confidence=analysis.category.confidence if analysis.category else None,
                priority=analysis.priority.priority,
                priority_reason=analysis.priority.reason,
            )
            # Audited: the record of what the agent was shown, and the change that makes
            # open consoles reload.
            audit.record(
                session=session,
                actor="nlp",
                action="conversation.analysed",
                entity_type="conversation",
                entity_id=found.conversation.public_id,
                details={
                    "priority": analysis.priority.priority.value,
                    "reason": analysis.priority.reason,
                    "category": analysis.category.category if analysis.category else None,
                    "trend": trend.direction,
                    "summary_backend": analysis.summary.backend,
                },
            )
            for filed in found.complaints:
                complaint_store.record_analysis(
                    session=session,
                    complaint=await session.get_one(Complaint, filed.id),
                    summary=analysis.summary.text,
                    sentiment_label=_label_of(trend),
                    sentiment_score=trend.current,
                    priority=analysis.priority.priority,
                    reason=analysis.priority.reason,
                )

    async def _score_unscored(self, conversation_id: int) -> None:
        async with self.database.session() as session:
            found = await conversation_context.gather(
                session=session, conversation_id=conversation_id
            )
            if found is None:
                return
            pending = [m.id for m in found.messages if _scorable(m) and m.id not in found.scores]
        for message_id in pending:
            await self.score_message(message_id)


def _scorable(message: Message) -> bool:
    # A button click ("/inform{...}", shown as "Refund") says what was chosen, not how the
    # customer feels: only typed or spoken words are scored.
    return (
        message.direction is Direction.INBOUND
        and not message.text.startswith("/")
        and bool(conversation_context.words_of(message))
    )


def _chosen_category(found: conversation_context.ConversationContext) -> str | None:
    return found.complaints[-1].category if found.complaints else None


def _label_of(trend: Trend) -> str | None:
    current = trend.current
    if current is None:
        return None
    if current <= NEGATIVE_BELOW:
        return "negative"
    return "positive" if current >= POSITIVE_ABOVE else "neutral"
