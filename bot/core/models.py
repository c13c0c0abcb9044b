"""ORM models of the core store: customers, identities, conversations, messages, deliveries,
attachments, complaints and the audit log (handoff's tables are in `handoff.models`)."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored in UTC and always read back timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Channel(enum.StrEnum):
    WEBCHAT = "webchat"
    SMS = "sms"
    VOICE = "voice"
    EMAIL = "email"
    RASA = "rasa"  # a conversation that reached Rasa directly (tests, tools)


class Direction(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class MessageStatus(enum.StrEnum):
    # inbound
    RECEIVED = "received"
    PROCESSING = "processing"
    ANSWERED = "answered"
    AWAITING_RETRY = "awaiting_retry"
    # outbound
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class ConversationStatus(enum.StrEnum):
    ACTIVE = "active"
    AWAITING_AGENT = "awaiting_agent"
    CLOSED = "closed"


class RecordingConsent(enum.StrEnum):
    """What a caller agreed to about call recording."""

    DEFAULT = "default"  # told the call is recorded, where no opt-in is required
    OPTED_IN = "opted_in"  # pressed 1 where the law asks for explicit consent
    DECLINED = "declined"  # did not opt in: the call is not recorded


class ComplaintStatus(enum.StrEnum):
    PENDING = "pending"
    OPEN = "open"
    RESOLVED = "resolved"


class VerificationLevel(enum.StrEnum):
    """How a conversation's customer proved who they are."""

    CODE = "code"  # a one-time code sent to the phone or mailbox on their record
    APP_TOKEN = "app_token"  # signed in to the company's app, which vouched with a token


class Priority(enum.StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


def enum_column(kind: type[enum.StrEnum]) -> Enum:
    # Stored as plain strings with a CHECK constraint: portable and easy to migrate.
    return Enum(
        kind,
        native_enum=False,
        create_constraint=True,
        length=20,
        values_callable=lambda members: [m.value for m in members],
        name=kind.__name__.lower(),
    )


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    phone: Mapped[str | None] = mapped_column(String(32), index=True)
    is_vip: Mapped[bool] = mapped_column(default=False)
    # The customer's id in the company's business systems, set once they verify.
    external_ref: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    identities: Mapped[list[ChannelIdentity]] = relationship(back_populates="customer")


class ChannelIdentity(Base):
    """How a customer is addressed on one channel: a phone number, an email, an app user id."""

    __tablename__ = "channel_identities"
    __table_args__ = (UniqueConstraint("channel", "address"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    channel: Mapped[Channel] = mapped_column(enum_column(Channel))
    address: Mapped[str] = mapped_column(String(320))
    verified: Mapped[bool] = mapped_column(default=False)
    # Set when the customer texted STOP: nothing is sent to this address until START.
    opted_out_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)

    customer: Mapped[Customer] = relationship(back_populates="identities")


class Conversation(Base):
    """One continuous exchange with a customer; `public_id` is the Rasa sender id."""

    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_customer_activity", "customer_id", "last_activity_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(128), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    status: Mapped[ConversationStatus] = mapped_column(
        enum_column(ConversationStatus), default=ConversationStatus.ACTIVE
    )
    started_channel: Mapped[Channel] = mapped_column(enum_column(Channel))
    recording_consent: Mapped[RecordingConsent | None] = mapped_column(
        enum_column(RecordingConsent)
    )
    # Set while the customer is answering the satisfaction survey after an agent resolved.
    survey_handoff_id: Mapped[int | None] = mapped_column(
        ForeignKey("handoffs.id", use_alter=True, name="fk_conversations_survey_handoff_id")
    )
    # Who the customer proved to be in the business systems, how, when and on which channel.
    verified_customer_ref: Mapped[str | None] = mapped_column(String(64))
    verification_level: Mapped[VerificationLevel | None] = mapped_column(
        enum_column(VerificationLevel)
    )
    verified_at: Mapped[datetime | None]
    verified_via: Mapped[str | None] = mapped_column(String(20))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_activity_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]

    customer: Mapped[Customer] = relationship()


class Message(Base):
    """Every message in and out, on every channel, stored before it is processed."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("channel", "external_id"),
        Index("ix_messages_conversation_created", "conversation_id", "created_at"),
        Index("ix_messages_direction_status", "direction", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    identity_id: Mapped[int] = mapped_column(ForeignKey("channel_identities.id"))
    channel: Mapped[Channel] = mapped_column(enum_column(Channel))
    direction: Mapped[Direction] = mapped_column(enum_column(Direction))
    external_id: Mapped[str | None] = mapped_column(String(200))
    in_reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), index=True)
    text: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[MessageStatus] = mapped_column(enum_column(MessageStatus))
    intent: Mapped[str | None] = mapped_column(String(100))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    processing_started_at: Mapped[datetime | None]
    processed_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]

    attachments: Mapped[list[Attachment]] = relationship(back_populates="message")


class Delivery(Base):
    """One hand-over of an outbound message to a provider, and what the provider said since.

    A long SMS reply is several Twilio messages (one row per part); one email carries all
    the replies of a turn (one row per reply, same provider id).
    """

    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("channel", "provider_id", "message_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    channel: Mapped[Channel] = mapped_column(enum_column(Channel))
    # Twilio's message SID, or the Message-ID header of the email sent.
    provider_id: Mapped[str] = mapped_column(String(200), index=True)
    part: Mapped[int] = mapped_column(Integer, default=0)
    # The provider's own status word (Twilio: queued, sent, delivered, undelivered, failed).
    status: Mapped[str] = mapped_column(String(20))
    error_code: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Attachment(Base):
    """A file that came with a message; `storage_ref` says where its bytes are kept."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    content_type: Mapped[str] = mapped_column(String(200))
    size_bytes: Mapped[int]
    filename: Mapped[str | None] = mapped_column(String(300))
    storage_ref: Mapped[str] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    message: Mapped[Message] = relationship(back_populates="attachments")


class Complaint(Base):
    """A customer complaint with its human-friendly case ID (e.g. CMP-7K3Q9)."""

    __tablename__ = "complaints"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[str] = mapped_column(String(12), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    channel: Mapped[Channel] = mapped_column(enum_column(Channel))
    category: Mapped[str] = mapped_column(String(50))
    description: Mapped[str] = mapped_column(Text)
    order_ref: Mapped[str | None] = mapped_column(String(50))
    desired_outcome: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[ComplaintStatus] = mapped_column(
        enum_column(ComplaintStatus), default=ComplaintStatus.PENDING
    )
    priority: Mapped[Priority] = mapped_column(enum_column(Priority), default=Priority.NORMAL)
    # Filled by the NLP services (summary, sentiment) once they exist.
    summary: Mapped[str | None] = mapped_column(Text)
    sentiment_score: Mapped[float | None] = mapped_column(Float)
    sentiment_label: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    resolved_at: Mapped[datetime | None]


class AuditEvent(Base):
    """Who did what to which record, and when."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_entity", "entity_type", "entity_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(100))
    entity_type: Mapped[str] = mapped_column(String(50))
    entity_id: Mapped[str] = mapped_column(String(100))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class VerificationChallenge(Base):
    """A one-time code sent to the phone or mailbox on a customer's record. Only a keyed
    digest of the code is kept; a code is used once, within its time, in a few tries."""

    __tablename__ = "verification_challenges"
    __table_args__ = (Index("ix_verification_challenges_conversation", "conversation_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    customer_ref: Mapped[str] = mapped_column(String(64), index=True)
    # "sms" or "email": where the code went (the record's own number or address).
    sent_via: Mapped[str] = mapped_column(String(20))
    code_digest: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
