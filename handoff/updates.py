"""Proactive updates: telling a customer, without being asked, that their refund was paid or
their complaint moved on, with its case ID, on the channel they prefer.

The channel is the business record's preferred one (a call becomes a text: nobody is rung
for this), else the one they last wrote on in their latest conversation; an SMS opt-out
(STOP) is respected by trying email next, then giving up. Each update is stored like any
reply, so the retry worker resends it if the channel is down, and audited once, so a repeated
event (a webhook retried, two instances paying out) tells the customer once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bot.business.protocol import BusinessSystems, BusinessSystemsError
from bot.business.records import CustomerRecord, PreferredChannel, Refund, RefundStatus
from bot.core.db import Database
from bot.core.delivery import Deliveries
from bot.core.models import Channel, Complaint, ComplaintStatus, Customer
from bot.core.store import audit, complaints, customers
from bot.core.store.inbound import AttachmentRef
from bot.core.store.outbound import Notice
from bot.core.texts import Text, say
from handoff.store import customer_updates as store

log = structlog.get_logger("handoff.updates")

# How often the demo backend's payment run pays approved refunds.
PAYOUT_INTERVAL_SECONDS = 30.0
REFUND_PAID_ACTION = "customer.told_refund_paid"
COMPLAINT_STATUS_ACTION = "customer.told_complaint_status"
# The texts of these updates (the complaint's state words come from the catalogue).
REFUND_PAID_TEXT = (
    "Good news: your refund of {amount} for order {order} has been paid. "
    "Your reference is {case_id}."
)
COMPLAINT_UPDATE_TEXT = "An update on your complaint {case_id}: it is now {status}."
COMPLAINT_STATES = {
    ComplaintStatus.PENDING: Text.COMPLAINT_PENDING,
    ComplaintStatus.OPEN: Text.COMPLAINT_OPEN,
    ComplaintStatus.RESOLVED: Text.COMPLAINT_RESOLVED,
}
PHONE_CHANNELS = (Channel.SMS, Channel.VOICE)


@dataclass(frozen=True)
class Destination:
    """Where an update goes."""

    channel: Channel
    address: str


class CustomerUpdates:
    """Stores, delivers and audits the updates customers get without asking."""

    def __init__(
        self, *, database: Database, deliveries: Deliveries, business: BusinessSystems | None
    ) -> None:
        self._database = database
        self._deliveries = deliveries
        self._business = business

    async def refund_paid(self, refund: Refund) -> Notice | None:
        """Tell the customer a refund was paid (once); None if they were not told (not a
        customer who ever talked to us, nowhere to write, told already)."""
        if refund.status is not RefundStatus.PAID:
            return None
        record = await self._record(refund.customer_ref)
        async with self._database.session() as session:
            customer = await store.customer_with_ref(
                session=session, customer_ref=refund.customer_ref
            )
            # Only customers who talked to us and proved who they are: a refund the company
            # paid to someone else is not ours to announce.
            if customer is None or await store.already_told(
                session=session, action=REFUND_PAID_ACTION, entity_id=refund.ref
            ):
                return None
            text = say_refund_paid(refund, await _complaint_case_id(session, customer, refund))
            notice = await self._store(
                session,
                customer,
                record,
                text,
                {"custom": {"notice": "refund_paid", "refund_ref": refund.ref}},
            )
            _audit_told(session, REFUND_PAID_ACTION, "refund", refund.ref, notice)
        return await self._deliver(notice)

    async def complaint_status_changed(self, complaint_id: int) -> Notice | None:
        """Tell the customer their complaint's new status, with its case ID."""
        async with self._database.session() as session:
            complaint = await session.get_one(Complaint, complaint_id)
            customer = await session.get_one(Customer, complaint.customer_id)
            ref = customer.external_ref
        record = await self._record(ref) if ref else None
        async with self._database.session() as session:
            status = say(COMPLAINT_STATES[complaint.status])
            text = COMPLAINT_UPDATE_TEXT.format(case_id=complaint.case_id, status=status)
            payload = {
                "custom": {
                    "notice": "complaint_status",
                    "case_id": complaint.case_id,
                    "status": complaint.status.value,
                }
            }
            notice = await self._store(session, customer, record, text, payload)
            _audit_told(session, COMPLAINT_STATUS_ACTION, "complaint", complaint.case_id, notice)
        return await self._deliver(notice)

    async def email_with_file(
        self,
        *,
        conversation_id: int,
        customer_id: int,
        address: str,
        text: str,
        payload: dict[str, Any],
        attachments: Sequence[AttachmentRef],
    ) -> tuple[Notice, bool]:
        """Mail `text` with files to `address` (from the customer's record), stored in the
        conversation like every reply; the notice and whether the channel took it."""
        async with self._database.session() as session:
            identity = await store.identity_for(
                session=session, customer_id=customer_id, channel=Channel.EMAIL, address=address
            )
            notice = await store.record_update(
                session=session,
                conversation_id=conversation_id,
                identity=identity,
                text=text,
                payload=payload,
                attachments=attachments,
            )
        return notice, await self._deliveries.deliver_notice(notice)

    async def _record(self, customer_ref: str) -> CustomerRecord | None:
        # Without the business systems the update still goes, on the last channel used.
        if self._business is None:
            return None
        try:
            return await self._business.customer(customer_ref)
        except BusinessSystemsError as error:
            log.warning("customer_record_unavailable", error=str(error))
            return None

    async def _store(
        self,
        session: AsyncSession,
        customer: Customer,
        record: CustomerRecord | None,
        text: str,
        payload: dict[str, Any],
    ) -> Notice | None:
        conversation = await store.latest_conversation(session=session, customer_id=customer.id)
        if conversation is None:
            return None
        destination = await choose_destination(session, customer, record, conversation.id)
        if destination is None:
            return None
        identity = await store.identity_for(
            session=session,
            customer_id=customer.id,
            channel=destination.channel,
            address=destination.address,
        )
        return await store.record_update(
            session=session,
            conversation_id=conversation.id,
            identity=identity,
            text=text,
            payload=payload,
        )

    async def deliver(self, notice: Notice) -> bool:
        """Push a stored update or notice; whether the customer's channel took it (if not,
        it stays pending and is resent)."""
        return await self._deliveries.deliver_notice(notice)

    async def _deliver(self, notice: Notice | None) -> Notice | None:
        if notice is not None:
            await self.deliver(notice)
        return notice


def say_refund_paid(refund: Refund, case_id: str | None) -> str:
    """The update for a paid refund; its case ID is the complaint's, else the refund's."""
    return REFUND_PAID_TEXT.format(
        amount=refund.amount.formatted(), order=refund.order_ref, case_id=case_id or refund.ref
    )


async def _complaint_case_id(
    session: AsyncSession, customer: Customer, refund: Refund
) -> str | None:
    # A refund that came out of a complaint is known to the customer by the complaint's case.
    filed = await complaints.complaints_for_customer(session=session, customer_id=customer.id)
    return next((c.case_id for c in filed if c.order_ref == refund.order_ref), None)


def _audit_told(
    session: AsyncSession, action: str, entity_type: str, entity_id: str, notice: Notice | None
) -> None:
    audit.record(
        session=session,
        actor="assistant",
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        details={
            "sent": notice is not None,
            "channel": notice.channel.value if notice else None,
            "message_id": notice.reply.message_id if notice else None,
        },
    )


async def choose_destination(
    session: AsyncSession, customer: Customer, record: CustomerRecord | None, conversation_id: int
) -> Destination | None:
    """The first of: the record's preferred channel, the channel last written on, the
    record's email; skipping phone numbers that texted STOP."""
    candidates: list[Destination] = []
    if record is not None:
        preferred = await _preferred(session, customer, record)
        if preferred is not None:
            candidates.append(preferred)
    last = await store.last_channel_of(session=session, conversation_id=conversation_id)
    if last is not None:
        channel, address = last
        # A caller is texted, not rung: the call channel's replies go out as texts anyway.
        candidates.append(Destination(channel, address))
    if record is not None and record.email:
        candidates.append(Destination(Channel.EMAIL, record.email))
    for candidate in candidates:
        if candidate.channel in PHONE_CHANNELS and await customers.is_opted_out(
            session=session, channel=Channel.SMS, address=candidate.address
        ):
            continue
        return candidate
    return None


async def _preferred(
    session: AsyncSession, customer: Customer, record: CustomerRecord
) -> Destination | None:
    preferred = record.preferred_channel
    if preferred in (PreferredChannel.SMS, PreferredChannel.VOICE) and record.phone:
        return Destination(Channel.SMS, record.phone)
    if preferred is PreferredChannel.EMAIL and record.email:
        return Destination(Channel.EMAIL, record.email)
    if preferred is PreferredChannel.WEBCHAT:
        address = await store.webchat_address(session=session, customer_id=customer.id)
        return Destination(Channel.WEBCHAT, address) if address else None
    return None


@runtime_checkable
class PaysRefunds(Protocol):
    """A backend with its own payment run (the demo): the refunds it paid just now."""

    async def pay_due_refunds(self) -> Sequence[Refund]:
        """Pay every approved refund; the refunds paid now."""
        ...


class RefundPayouts:
    """The demo backend's payment run, every few seconds, telling each customer paid."""

    def __init__(
        self,
        backend: PaysRefunds,
        updates: CustomerUpdates,
        *,
        interval_seconds: float = PAYOUT_INTERVAL_SECONDS,
    ) -> None:
        self._backend = backend
        self._updates = updates
        self._interval = interval_seconds
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> int:
        """Pay what is due and tell the customers; how many refunds were paid."""
        paid = await self._backend.pay_due_refunds()
        for refund in paid:
            try:
                await self._updates.refund_paid(refund)
            except Exception:  # one customer's trouble must not stop the others' updates
                log.exception("refund_update_failed", refund_ref=refund.ref)
        return len(paid)

    def start(self) -> None:
        """Run the payment run in the background of the current event loop."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="refund-payouts")

    async def stop(self) -> None:
        """Stop the payment run."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.run_once()
            except Exception:  # the backend was away: next time
                log.exception("refund_payouts_failed")
