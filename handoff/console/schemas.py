"""What the console API takes and answers (times are ISO 8601 strings, as `isoformat()`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from bot.core.ids import DbId
from bot.core.models import ComplaintStatus
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
    role: str


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


class AttachmentView(BaseModel):
    """A file that came with a message (never where it is kept): `url` serves its bytes to
    an agent who may see the conversation, with their bearer token."""

    id: int
    content_type: str
    filename: str | None
    size_bytes: int
    url: str


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
    attachments: list[AttachmentView] = Field(default_factory=list)


class InboxItem(HandoffView):
    customer: str
    vip: bool
    queue_name: str
    last_message: MessageView | None
    # From the NLP analysis, once it has run.
    priority: str | None = None
    priority_reason: str | None = None


class InsightView(BaseModel):
    """What the NLP analysis worked out about the conversation, for the agent."""

    summary: str
    summary_backend: str
    trend: str
    recent_scores: list[float]
    sentiment_score: float | None
    category: str | None
    category_confidence: float | None
    priority: str
    priority_reason: str
    updated_at: str


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
    insight: InsightView | None = None
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


# What the business systems know of the conversation's customer (the "customer" panel).


class MoneyView(BaseModel):
    minor: int
    currency: str
    text: str  # "£12.50", as customers see it


class VerificationView(BaseModel):
    # None when the customer proved who they are in an earlier conversation only.
    level: str | None
    at: str | None
    via: str | None


class ShipmentView(BaseModel):
    ref: str
    carrier: str
    tracking_number: str
    status: str
    last_event: str | None
    last_event_at: str | None
    eta: str | None
    tracking_url: str | None


class OrderView(BaseModel):
    ref: str
    status: str
    placed_at: str
    delivered_at: str | None
    total: MoneyView
    shipments: list[ShipmentView]


class PaymentView(BaseModel):
    ref: str
    order_ref: str | None
    at: str
    amount: MoneyView
    method: str
    card_last4: str | None


class RefundView(BaseModel):
    ref: str
    order_ref: str
    amount: MoneyView
    reason: str
    status: str
    requested_at: str
    decided_by: str | None
    paid_at: str | None
    # Whether this agent may approve it from the console (waiting, and within their limit).
    can_approve: bool


class BalanceView(BaseModel):
    ref: str
    kind: str
    number: str  # masked: only the last 4 digits are shown
    balance: MoneyView


class BusinessCustomer(BaseModel):
    """The panel beside the transcript. `state`: verified (data shown), not_verified (nothing
    from the business systems), unavailable (they did not answer), unknown (the verified
    reference has no record there)."""

    state: str
    detail: str
    customer_ref: str | None = None
    name: str | None = None
    vip: bool = False
    preferred_channel: str | None = None
    verification: VerificationView | None = None
    orders: list[OrderView] = Field(default_factory=list)
    payments: list[PaymentView] = Field(default_factory=list)
    refunds: list[RefundView] = Field(default_factory=list)
    balances: list[BalanceView] = Field(default_factory=list)
    role: str
    refund_limit: int  # minor units this agent may approve
    refund_limit_text: str | None = None  # in the customer's currency: "£50.00"


class RefundDecision(BaseModel):
    refund: RefundView


class ReceiptSent(BaseModel):
    payment_ref: str
    channel: str
    # "email": a mail with the PDF receipt; otherwise a short text on their channel.
    attached_pdf: bool
    delivered: bool


class ComplaintStatusChange(BaseModel):
    status: ComplaintStatus


class ComplaintStatusResult(BaseModel):
    complaint: ComplaintView
    notified: bool
