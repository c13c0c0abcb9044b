"""The complaint store on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, timedelta

from sqlalchemy import func, select

from bot import store
from bot.db import Database
from bot.models import (
    AuditEvent,
    Channel,
    ComplaintStatus,
    Conversation,
    Customer,
    Message,
    MessageStatus,
    Priority,
    utcnow,
)

IDLE = timedelta(hours=24)
STALE = timedelta(minutes=2)


async def _inbound(
    db: Database, *, address: str = "user-0001", text: str = "hello", external_id: str | None = None
) -> store.StoredInbound:
    async with db.session() as session:
        return await store.record_inbound(
            session=session,
            channel=Channel.WEBCHAT,
            address=address,
            text=text,
            external_id=external_id,
            idle_after=IDLE,
        )


async def _count(db: Database, model: type[object]) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_first_message_creates_customer_identity_and_conversation(database: Database) -> None:
    stored = await _inbound(database, address="user-aaaa1111", text="hi there")
    assert stored.created
    assert stored.message.status is MessageStatus.RECEIVED
    assert stored.message.text == "hi there"
    assert stored.identity.address == "user-aaaa1111"
    assert stored.conversation.public_id.startswith("conv-")
    assert await _count(database, Customer) == 1
    async with database.session() as session:
        audit = (await session.scalars(select(AuditEvent))).all()
    assert [a.action for a in audit] == ["customer.created"]


async def test_same_address_is_same_customer_and_conversation(database: Database) -> None:
    first = await _inbound(database, address="user-bbbb2222")
    second = await _inbound(database, address="user-bbbb2222", text="again")
    other = await _inbound(database, address="user-cccc3333")
    assert second.identity.customer_id == first.identity.customer_id
    assert second.conversation.id == first.conversation.id
    assert other.identity.customer_id != first.identity.customer_id
    assert await _count(database, Customer) == 2


async def test_email_identity_fills_customer_email(database: Database) -> None:
    async with database.session() as session:
        identity = await store.resolve_identity(
            session=session, channel=Channel.EMAIL, address="ana@example.com"
        )
        customer = await store.get_customer(session=session, customer_id=identity.customer_id)
    assert customer is not None
    assert customer.email == "ana@example.com"
    assert customer.phone is None


async def test_redelivered_message_is_stored_once(database: Database) -> None:
    first = await _inbound(database, external_id="client-1", text="where is my parcel")
    again = await _inbound(database, external_id="client-1", text="where is my parcel")
    assert first.created and not again.created
    assert again.message.id == first.message.id
    assert await _count(database, Message) == 1
    await _inbound(database, external_id=None)
    await _inbound(database, external_id=None)
    assert await _count(database, Message) == 3


async def test_idle_conversation_is_followed_by_a_new_one(database: Database) -> None:
    first = await _inbound(database, address="user-dddd4444")
    async with database.session() as session:
        conversation = await session.get_one(Conversation, first.conversation.id)
        conversation.last_activity_at = utcnow() - IDLE - timedelta(minutes=1)
    later = await _inbound(database, address="user-dddd4444")
    assert later.conversation.id != first.conversation.id
    assert later.identity.customer_id == first.identity.customer_id


async def test_claim_is_exclusive_until_it_goes_stale(database: Database) -> None:
    stored = await _inbound(database)
    message_id = stored.message.id
    async with database.session() as session:
        assert await store.claim_inbound(session=session, message_id=message_id, stale_after=STALE)
    async with database.session() as session:
        assert not await store.claim_inbound(
            session=session, message_id=message_id, stale_after=STALE
        )
        message = await session.get_one(Message, message_id)
        message.processing_started_at = utcnow() - STALE - timedelta(seconds=1)
    async with database.session() as session:
        assert await store.claim_inbound(session=session, message_id=message_id, stale_after=STALE)
        message = await session.get_one(Message, message_id, populate_existing=True)
        assert message.attempts == 2
        assert message.status is MessageStatus.PROCESSING


async def test_due_for_retry_lists_waiting_and_abandoned_messages(database: Database) -> None:
    first = await _inbound(database, text="one")
    waiting = first.message.id
    fresh = (await _inbound(database, text="two")).message.id
    abandoned = (await _inbound(database, text="three")).message.id
    answered = (await _inbound(database, text="four")).message.id
    async with database.session() as session:
        await store.finish_inbound(
            session=session, message_id=waiting, status=MessageStatus.AWAITING_RETRY, error="down"
        )
        await store.finish_inbound(
            session=session, message_id=answered, status=MessageStatus.ANSWERED
        )
        message = await session.get_one(Message, abandoned)
        message.status = MessageStatus.PROCESSING
        message.processing_started_at = utcnow() - STALE - timedelta(seconds=5)
    async with database.session() as session:
        due = await store.inbound_due_for_retry(session=session, stale_after=STALE)
        earlier = await store.unanswered_before(
            session=session, conversation_id=first.conversation.id, message_id=answered
        )
    assert due == [waiting, abandoned]
    assert fresh not in due
    assert earlier == [waiting, fresh]


async def test_outbound_replies_wait_until_delivered(database: Database) -> None:
    stored = await _inbound(database, address="user-eeee5555")
    async with database.session() as session:
        reply = await store.record_outbound(
            session=session,
            reply_to=stored.message,
            text="Hi!",
            payload={"buttons": [{"title": "Yes", "payload": "/affirm"}]},
        )
    async with database.session() as session:
        pending = await store.undelivered_outbound(
            session=session, channel=Channel.WEBCHAT, address="user-eeee5555"
        )
        assert [m.id for m in pending] == [reply.id]
        assert pending[0].payload["buttons"][0]["payload"] == "/affirm"
        await store.mark_delivered(session=session, message_ids=[reply.id])
    async with database.session() as session:
        assert not await store.undelivered_outbound(
            session=session, channel=Channel.WEBCHAT, address="user-eeee5555"
        )
        delivered = await session.get_one(Message, reply.id)
        replies = await store.replies_to(session=session, message_id=stored.message.id)
    assert delivered.status is MessageStatus.DELIVERED
    assert delivered.delivered_at is not None and delivered.delivered_at.tzinfo is not None
    assert [r.id for r in replies] == [reply.id]


async def test_complaint_gets_a_case_id_and_is_audited(database: Database) -> None:
    stored = await _inbound(database, address="user-ffff6666")
    async with database.session() as session:
        complaint = await store.open_complaint(
            session=session,
            customer_id=stored.identity.customer_id,
            conversation_id=stored.conversation.id,
            channel=Channel.WEBCHAT,
            category="damaged_item",
            description="My parcel arrived damaged",
            order_ref="ORD-482913",
            desired_outcome="replacement",
            priority=Priority.NORMAL,
        )
    assert re.fullmatch(r"CMP-[23456789ABCDEFGHJKMNPQRSTVWXYZ]{5}", complaint.case_id)
    async with database.session() as session:
        found = await store.find_complaint(
            session=session, case_id=complaint.case_id.lower().replace("-", "")
        )
        audit = await session.scalar(
            select(AuditEvent).where(AuditEvent.action == "complaint.opened")
        )
    assert found is not None
    assert found.status is ComplaintStatus.PENDING
    assert found.order_ref == "ORD-482913"
    assert found.created_at.tzinfo is UTC
    assert found.summary is None and found.sentiment_score is None
    assert audit is not None and audit.entity_id == complaint.case_id
    assert audit.details["category"] == "damaged_item"


async def test_customer_complaints_newest_first_and_status_changes(database: Database) -> None:
    stored = await _inbound(database, address="user-gggg7777")
    case_ids = []
    for category in ("billing", "delivery", "service"):
        async with database.session() as session:
            complaint = await store.open_complaint(
                session=session,
                customer_id=stored.identity.customer_id,
                conversation_id=None,
                channel=Channel.WEBCHAT,
                category=category,
                description=f"about {category}",
            )
            case_ids.append(complaint.case_id)
    assert len(set(case_ids)) == 3
    async with database.session() as session:
        latest = await store.complaints_for_customer(
            session=session, customer_id=stored.identity.customer_id, limit=2
        )
        assert [c.case_id for c in latest] == case_ids[::-1][:2]
        await store.set_complaint_status(
            session=session, complaint=latest[0], status=ComplaintStatus.RESOLVED, actor="agent:1"
        )
    async with database.session() as session:
        resolved = await store.find_complaint(session=session, case_id=case_ids[-1])
        changes = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.action == "complaint.status_changed")
            )
        ).all()
    assert resolved is not None and resolved.status is ComplaintStatus.RESOLVED
    assert resolved.resolved_at is not None
    assert [(c.details["from"], c.details["to"]) for c in changes] == [("pending", "resolved")]


async def test_sender_we_never_issued_gets_its_own_conversation(database: Database) -> None:
    async with database.session() as session:
        first = await store.conversation_for_sender(
            session=session, sender_id="bench-42", channel=Channel.RASA
        )
    async with database.session() as session:
        again = await store.conversation_for_sender(
            session=session, sender_id="bench-42", channel=Channel.RASA
        )
    assert first.id == again.id
    assert first.public_id == "bench-42"


def test_case_ids_normalise() -> None:
    assert store.normalise_case_id("cmp7k3q9") == "CMP-7K3Q9"
    assert store.normalise_case_id("CMP 7K3Q9") == "CMP-7K3Q9"
    assert store.normalise_case_id(" cmp-7k3q9 ") == "CMP-7K3Q9"
    assert all(
        re.fullmatch(r"CMP-[23456789ABCDEFGHJKMNPQRSTVWXYZ]{5}", store.new_case_id())
        for _ in range(200)
    )


async def test_what_rasa_understood_is_stored_once_an_agent_asks(database: Database) -> None:
    rasa_answered = await _inbound(database, address="user-und1", text="my parcel is broken")
    keyword = await _inbound(database, address="user-und1", text="STOP")
    conversation_id = rasa_answered.conversation.id
    async with database.session() as session:
        for stored, intent in ((rasa_answered, None), (keyword, "sms_stop")):
            await store.finish_inbound(
                session=session,
                message_id=stored.message.id,
                status=MessageStatus.ANSWERED,
                intent=intent,
            )
    async with database.session() as session:
        assert await store.not_yet_understood(
            session=session, conversation_ids=[conversation_id]
        ) == {conversation_id}
        recorded = await store.record_understanding(
            session=session,
            conversation_id=conversation_id,
            understood={
                rasa_answered.message.id: {"intent": "file_complaint", "slots": {"c": "d"}},
                keyword.message.id: {"intent": "greet"},  # already has its own intent
            },
        )
    assert recorded == 1
    async with database.session() as session:
        assert not await store.not_yet_understood(
            session=session, conversation_ids=[conversation_id]
        )
        understood = await session.get_one(Message, rasa_answered.message.id)
        kept = await session.get_one(Message, keyword.message.id)
    assert understood.intent == "file_complaint"
    assert understood.payload["understanding"]["slots"] == {"c": "d"}
    assert kept.intent == "sms_stop"
