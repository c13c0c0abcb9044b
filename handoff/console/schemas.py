"""What the console API takes and answers (times are ISO 8601 strings, as `isoformat()`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from bot.core.ids import DbId
from handoff.models import AgentStatus


class Credentials(BaseModel):
    # Bounded so a huge body is refused by validation, before any hashing.
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=1024)


class StatusChange(BaseModel):
    status: AgentStatus


class ReplyText(BaseModel):
    text: str = Field(min_length=1, max_length=4000)


class NoteText(BaseModel):
    text: str = Field(min_length=1, max_length=4000)


class Transfer(BaseModel):
    note: str = Field(default="", max_length=2000)
    to_queue: str | None = None
    to_agent_id: DbId | None = None


class AgentView(BaseModel):
    id: int
    name: str
    email: str
    skills: list[str]
    status: str
    capacity: int


class SignedIn(BaseModel):
    token: str
    expires_at: str
    agent: AgentView


class StreamTicket(BaseModel):
    ticket: str
    expires_in: int


class StatusResult(BaseModel):
    status: str
    assigned: list[int]
    requeued: list[int]


class HandoffView(BaseModel):
    id: int
    queue: str
    status: str
    kind: str
    reason: str
    intent: str | None
    callback_number: str | None
    agent_id: int | None
    enqueued_at: str
    note: str | None
    sentiment_score: float | None


class MessageView(BaseModel):
    id: int
    at: str
    channel: str
    # "from" is a Python keyword: the field is `sender` in code, "from" in JSON.
    sender: str = Field(serialization_alias="from")
    agent: str | None
    text: str
    intent: str | None
    confidence: float | None
    entities: list[dict[str, Any]]
    sentiment: Any


class InboxItem(HandoffView):
    customer: str
    vip: bool
    queue_name: str
    last_message: MessageView | None


class Inbox(BaseModel):
    agent: AgentView
    assigned: list[InboxItem]
    queued: list[InboxItem]


class ChannelAddress(BaseModel):
    channel: str
    address: str


class CustomerView(BaseModel):
    id: int
    name: str | None
    vip: bool
    verified: bool
    channels: list[ChannelAddress]


class Understood(BaseModel):
    intents: list[str]
    slots: dict[str, Any]


class SentimentPoint(BaseModel):
    at: str
    score: float


class ComplaintView(BaseModel):
    case_id: str
    category: str
    status: str
    priority: str
    summary: str | None
    sentiment: str | None
    sentiment_score: float | None
    created_at: str


class PastHandoff(BaseModel):
    queue: str
    status: str
    agent: str | None
    reason: str


class PastConversationView(BaseModel):
    id: str
    current: bool
    channel: str
    started_at: str
    status: str
    messages: int
    handoffs: list[PastHandoff]


class NoteView(BaseModel):
    at: str
    agent: str
    text: str


class QueueChoice(BaseModel):
    key: str
    name: str


class Colleague(BaseModel):
    id: int
    name: str
    status: str
    load: int


class ConversationDetail(BaseModel):
    handoff: HandoffView
    customer: CustomerView
    transcript: list[MessageView]
    understood: Understood
    sentiment_trend: list[SentimentPoint]
    complaints: list[ComplaintView]
    conversations: list[PastConversationView]
    notes: list[NoteView]
    queues: list[QueueChoice]
    agents: list[Colleague]


class ReplyResult(BaseModel):
    message_id: int
    channel: str
    delivered: bool


class NoteResult(BaseModel):
    id: int
    text: str


class CannedResponse(BaseModel):
    title: str
    text: str
