"""Complaints in the store on SQLite and PostgreSQL: case ids, audit, a customer's list."""

from __future__ import annotations

import re
from datetime import UTC

from sqlalchemy import select

from bot.core.db import Database
from bot.core.models import AuditEvent, Channel, ComplaintStatus, Priority
from bot.core.store import complaints
from tests.support.store import receive


async def test_complaint_gets_a_case_id_and_is_audited(database: Database) -> None:
    stored = await receive(database, address="user-ffff6666")
    async with database.session() as session:
        complaint = await complaints.open_complaint(
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
        found = await complaints.find_complaint(
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
    stored = await receive(database, address="user-gggg7777")
    case_ids = []
    for category in ("billing", "delivery", "service"):
        async with database.session() as session:
            complaint = await complaints.open_complaint(
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
        latest = await complaints.complaints_for_customer(
            session=session, customer_id=stored.identity.customer_id, limit=2
        )
        assert [c.case_id for c in latest] == case_ids[::-1][:2]


def test_case_ids_normalise() -> None:
    assert complaints.normalise_case_id("cmp7k3q9") == "CMP-7K3Q9"
    assert complaints.normalise_case_id("CMP 7K3Q9") == "CMP-7K3Q9"
    assert complaints.normalise_case_id(" cmp-7k3q9 ") == "CMP-7K3Q9"
    assert all(
        re.fullmatch(r"CMP-[23456789ABCDEFGHJKMNPQRSTVWXYZ]{5}", complaints.new_case_id())
        for _ in range(200)
    )
