"""What an agent may do for the customer of the conversation they have, from the console:
approve a waiting refund up to their role's limit, reject one, resend a receipt, move a
complaint on. Each goes through the business systems' one interface (or the complaint store)
and is audited with the agent, the action, the amount and the rule that allowed or refused
it. Only for a verified customer, and only on that customer's records: another customer's
refund or payment is "not found", never "not yours"."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.business.protocol import (
    BusinessSystems,
    BusinessSystemsError,
    BusinessSystemsUnavailable,
    owned_by,
)
from bot.business.receipts import receipt_pdf, receipt_text
from bot.business.records import Money, Payment, Refund, RefundStatus
from bot.core.attachments import AttachmentRejected, AttachmentStore
from bot.core.db import Database
from bot.core.models import Complaint, ComplaintStatus
from bot.core.store import audit, outbound
from handoff.console.customer_view import OwnedConversation, owned_conversation, refund_limit
from handoff.models import Agent
from handoff.store.customer_updates import set_complaint_status
from handoff.updates import CustomerUpdates

RECEIPT_MAIL_TEXT = "Here is your receipt for payment {payment} of {amount}, attached as a PDF."


class ActionRefused(Exception):
    """An action the agent may not take (or the business systems refused); `status_code`
    and `code` for the one error shape, `detail` for the agent."""

    def __init__(self, status_code: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class ReceiptResent:
    """Where a receipt went, and whether the customer's channel took it."""

    payment_ref: str
    notice: outbound.Notice
    attached_pdf: bool
    delivered: bool


def _not_found(what: str, ref: str) -> ActionRefused:
    return ActionRefused(404, "not_found", f"This customer has no {what} {ref}.")


class CustomerActions:
    """The agent's actions on the business systems, within their role's limits."""

    def __init__(
        self,
        *,
        database: Database,
        business: BusinessSystems | None,
        updates: CustomerUpdates,
        attachments: AttachmentStore,
        refund_limits: Mapping[str, int],
    ) -> None:
        self._database = database
        self._business = business
        self._updates = updates
        self._attachments = attachments
        self._limits = refund_limits

    async def approve_refund(self, agent: Agent, handoff_id: int, refund_ref: str) -> Refund:
        """Approve a waiting refund of the customer's, if it is within the agent's limit
        (403 `over_refund_limit` otherwise, audited too)."""
        owned, business = await self._verified(agent, handoff_id)
        assert owned.verified is not None
        refund = await self._waiting_refund(business, owned.verified.ref, refund_ref)
        limit = refund_limit(agent, self._limits)
        rule = f"agent_limit:{agent.role.value}<={limit}"
        if refund.amount.minor > limit:
            await self._audit(agent, owned, "refund.approval_refused", refund, rule)
            shown = Money(limit, refund.amount.currency).formatted()
            raise ActionRefused(
                403,
                "over_refund_limit",
                f"Refund {refund.ref} is {refund.amount.formatted()}: over your limit as "
                f"{agent.role.value} ({shown}). Ask a supervisor to approve it.",
            )
        decided = await self._decide(business, refund.ref, approved=True, agent=agent)
        await self._audit(agent, owned, "refund.approved", decided, rule)
        return decided

    async def reject_refund(self, agent: Agent, handoff_id: int, refund_ref: str) -> Refund:
        """Reject a waiting refund of the customer's (any role may say no)."""
        owned, business = await self._verified(agent, handoff_id)
        assert owned.verified is not None
        refund = await self._waiting_refund(business, owned.verified.ref, refund_ref)
        decided = await self._decide(business, refund.ref, approved=False, agent=agent)
        await self._audit(agent, owned, "refund.rejected", decided, "agent_decision")
        return decided

    async def resend_receipt(
        self, agent: Agent, handoff_id: int, payment_ref: str
    ) -> ReceiptResent:
        """Send a payment's receipt again: a PDF by email when the record has an address,
        else a short text on the channel the customer is writing on."""
        owned, business = await self._verified(agent, handoff_id)
        assert owned.verified is not None
        ref = owned.verified.ref
        async with _business_errors():
            payment = await business.payment(payment_ref.strip().upper())
            if not owned_by(ref, payment):
                raise _not_found("payment", payment_ref)
            assert payment is not None
            record = await business.customer(ref)
            order = await business.order(payment.order_ref) if payment.order_ref else None
        if record is None:
            raise _not_found("record", ref)
        order = order if owned_by(ref, order) else None
        if record.email:
            pdf = receipt_pdf(payment, record, order)
            resent = await self._mail_receipt(owned, payment, pdf, record.email)
        else:
            text = receipt_text(payment, order, short=True)
            resent = await self._text_receipt(owned, payment, text)
        await self._audit_receipt(agent, owned, payment, resent)
        return resent

    async def set_complaint_status(
        self, agent: Agent, handoff_id: int, case_id: str, status: ComplaintStatus
    ) -> tuple[Complaint, bool]:
        """Move one of the customer's complaints on; the customer is told (with its case
        ID) when its status changed. The complaint and whether they were told."""
        async with self._database.session() as session:
            owned = await owned_conversation(
                session=session, handoff_id=handoff_id, agent_id=agent.id
            )
            complaint = await session.scalar(
                select(Complaint).where(
                    Complaint.case_id == case_id.strip().upper(),
                    Complaint.customer_id == owned.customer.id,
                )
            )
            if complaint is None:
                raise _not_found("complaint", case_id)
            changed = await set_complaint_status(
                session=session, complaint=complaint, status=status, actor=f"agent:{agent.id}"
            )
        notice = await self._updates.complaint_status_changed(complaint.id) if changed else None
        return complaint, notice is not None

    async def _verified(
        self, agent: Agent, handoff_id: int
    ) -> tuple[OwnedConversation, BusinessSystems]:
        async with self._database.session() as session:
            owned = await owned_conversation(
                session=session, handoff_id=handoff_id, agent_id=agent.id
            )
        if owned.verified is None:
            raise ActionRefused(
                409,
                "not_verified",
                "The customer has not proved who they are: ask them to verify first.",
            )
        if self._business is None:
            raise _unavailable()
        return owned, self._business

    async def _waiting_refund(
        self, business: BusinessSystems, customer_ref: str, ref: str
    ) -> Refund:
        async with _business_errors():
            refunds = await business.refunds(customer_ref, limit=100)
        refund = next((r for r in refunds if r.ref == ref.strip().upper()), None)
        if refund is None or not owned_by(customer_ref, refund):
            raise _not_found("refund", ref)
        if refund.status is not RefundStatus.REQUESTED:
            raise ActionRefused(
                409,
                "refund_not_waiting",
                f"Refund {refund.ref} is {refund.status.value}: only a refund waiting for a "
                "person can be decided.",
            )
        return refund

    async def _decide(
        self, business: BusinessSystems, ref: str, *, approved: bool, agent: Agent
    ) -> Refund:
        async with _business_errors():
            return await business.decide_refund(
                ref, approved=approved, decided_by=f"agent:{agent.email}"
            )

    async def _mail_receipt(
        self, owned: OwnedConversation, payment: Payment, pdf: bytes, address: str
    ) -> ReceiptResent:
        try:
            kept = await self._attachments.save(
                pdf, content_type="application/pdf", filename=f"receipt-{payment.ref}.pdf"
            )
        except AttachmentRejected as error:
            raise ActionRefused(503, "receipt_not_kept", error.reason) from error
        text = RECEIPT_MAIL_TEXT.format(payment=payment.ref, amount=payment.amount.formatted())
        notice, delivered = await self._updates.email_with_file(
            conversation_id=owned.conversation.id,
            customer_id=owned.customer.id,
            address=address,
            text=text,
            payload=_receipt_payload(payment, kept.storage_ref, kept.filename),
            attachments=[kept],
        )
        return ReceiptResent(payment.ref, notice, attached_pdf=True, delivered=delivered)

    async def _text_receipt(
        self, owned: OwnedConversation, payment: Payment, text: str
    ) -> ReceiptResent:
        async with self._database.session() as session:
            try:
                notice = await outbound.record_notice(
                    session=session,
                    conversation_id=owned.conversation.id,
                    text=text,
                    payload={"custom": {"notice": "receipt", "payment_ref": payment.ref}},
                )
            except outbound.NothingToAnswer as error:
                raise ActionRefused(
                    409, "no_channel", "The customer has no channel to send it on."
                ) from error
        delivered = await self._updates.deliver(notice)
        return ReceiptResent(payment.ref, notice, attached_pdf=False, delivered=delivered)

    async def _audit(
        self, agent: Agent, owned: OwnedConversation, action: str, refund: Refund, rule: str
    ) -> None:
        async with self._database.session() as session:
            _record(
                session,
                agent,
                owned,
                action,
                "refund",
                refund.ref,
                amount=refund.amount,
                rule=rule,
                extra={"order_ref": refund.order_ref, "status": refund.status.value},
            )

    async def _audit_receipt(
        self, agent: Agent, owned: OwnedConversation, payment: Payment, resent: ReceiptResent
    ) -> None:
        async with self._database.session() as session:
            _record(
                session,
                agent,
                owned,
                "receipt.resent",
                "payment",
                payment.ref,
                amount=payment.amount,
                rule="agent_action",
                extra={
                    "channel": resent.notice.channel.value,
                    "attached_pdf": resent.attached_pdf,
                    "message_id": resent.notice.reply.message_id,
                },
            )


def _record(
    session: AsyncSession,
    agent: Agent,
    owned: OwnedConversation,
    action: str,
    entity_type: str,
    entity_id: str,
    *,
    amount: Money,
    rule: str,
    extra: dict[str, Any],
) -> None:
    assert owned.verified is not None
    audit.record(
        session=session,
        actor=f"agent:{agent.id}",
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        details={
            "agent": agent.email,
            "role": agent.role.value,
            "amount_minor": amount.minor,
            "currency": amount.currency,
            "rule": rule,
            "customer_ref": owned.verified.ref,
            "handoff_id": owned.handoff.id,
            **extra,
        },
    )


def _receipt_payload(payment: Payment, storage_ref: str, filename: str | None) -> dict[str, Any]:
    # The file is also attached to the stored message (the email channel mails it); the
    # payload says what it is for the transcript.
    return {
        "custom": {
            "notice": "receipt",
            "payment_ref": payment.ref,
            "attachments": [
                {
                    "content_type": "application/pdf",
                    "filename": filename,
                    "storage_ref": storage_ref,
                }
            ],
        }
    }


def _unavailable() -> ActionRefused:
    return ActionRefused(
        503, "business_systems_unavailable", "The business systems are not answering; try again."
    )


@asynccontextmanager
async def _business_errors() -> AsyncIterator[None]:
    """The business systems' failures as refusals the console shows."""
    try:
        yield
    except BusinessSystemsUnavailable as error:
        raise _unavailable() from error
    except BusinessSystemsError as error:
        raise ActionRefused(
            409, "business_systems_refused", f"The business systems refused: {error}"
        ) from error
