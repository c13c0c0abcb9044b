"""The console's customer panel and the agent's actions over real HTTP, on the seeded demo
backend: a verified customer's orders, shipments, payments, refunds and masked balance; an
unverified one's nothing; another conversation's customer never; refunds approved within the
role's limit (403 over it, 404 for another customer's), each audited; and the business
systems down leave the rest of the console working."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from bot.business.protocol import BusinessSystems
from bot.business.records import Money, RefundRequest, RefundStatus
from bot.core.db import Database
from bot.core.models import AuditEvent, Channel
from bot.testing.ports import free_port
from handoff.models import Agent, AgentRole
from tests.support.agents import add_agent, console_settings, served_app, sign_in
from tests.support.business_fakes import seeded_demo
from tests.support.handoff import unique_number
from tests.support.verified import customer_writes, handed_to, verify

ALICE, BILAL = "C-10001", "C-10002"


@dataclass
class Console:
    """The app on the seeded demo backend, and a way in for each agent."""

    url: str
    http: httpx.AsyncClient
    database: Database
    backend: BusinessSystems
    agents: dict[str, tuple[int, dict[str, str]]]

    async def conversation(self, persona: str | None, agent: str) -> int:
        """A new conversation (verified as `persona` unless None) that `agent` has."""
        number = {ALICE: "+447700900001", BILAL: "+447700900002"}.get(persona or "", "")
        address = number or f"+44770091{unique_number():04d}"
        conversation_id = await customer_writes(self.database, Channel.SMS, address)
        if persona is not None:
            await verify(self.database, conversation_id, persona)
        return await handed_to(self.database, conversation_id, self.agents[agent][0])

    async def get(self, agent: str, path: str) -> httpx.Response:
        return await self.http.get(f"{self.url}{path}", headers=self.agents[agent][1])

    async def post(self, agent: str, path: str) -> httpx.Response:
        return await self.http.post(f"{self.url}{path}", headers=self.agents[agent][1])

    async def requested_refund(self, customer_ref: str, order_ref: str, minor: int) -> str:
        """A refund waiting for a person; its reference."""
        refund = await self.backend.request_refund(
            RefundRequest(
                customer_ref=customer_ref,
                order_ref=order_ref,
                amount=Money(minor, "GBP"),
                reason="arrived damaged",
                approved=False,
                decided_by="policy:review",
            )
        )
        assert refund.status is RefundStatus.REQUESTED
        return refund.ref


async def _agent(
    database: Database, http: httpx.AsyncClient, url: str, role: AgentRole
) -> tuple[int, dict[str, str]]:
    email = f"{role.value}{unique_number()}@shop.example"
    agent_id = await add_agent(database, email)
    async with database.session() as session:
        (await session.get_one(Agent, agent_id)).role = role
    return agent_id, await sign_in(http, url, email)


@pytest.fixture
async def console(tmp_path: Path, database: Database, database_url: str) -> AsyncIterator[Console]:
    async with seeded_demo(tmp_path) as backend:
        demo_url = f"sqlite+aiosqlite:///{tmp_path / 'business.db'}"
        settings = console_settings(tmp_path, database_url, business_demo_database_url=demo_url)
        async with served_app(settings) as url, httpx.AsyncClient(timeout=30) as http:
            agents = {
                "agent": await _agent(database, http, url, AgentRole.AGENT),
                "other": await _agent(database, http, url, AgentRole.AGENT),
                "supervisor": await _agent(database, http, url, AgentRole.SUPERVISOR),
            }
            yield Console(url, http, database, backend, agents)


async def _audit(database: Database, action: str) -> list[AuditEvent]:
    async with database.session() as session:
        rows = await session.scalars(select(AuditEvent).where(AuditEvent.action == action))
        return list(rows)


async def test_a_verified_customer_shows_orders_shipments_and_masked_balances(
    console: Console,
) -> None:
    handoff_id = await console.conversation(ALICE, "agent")
    response = await console.get("agent", f"/agent/conversations/{handoff_id}/customer")
    assert response.status_code == 200, response.text
    panel = response.json()
    assert panel["state"] == "verified"
    assert (panel["customer_ref"], panel["name"], panel["vip"]) == (ALICE, "Alice Morgan", False)
    assert panel["preferred_channel"] == "sms"
    assert panel["verification"]["level"] == "code"
    assert panel["verification"]["via"] == "sms"
    orders = {o["ref"]: o for o in panel["orders"]}
    assert {"ORD-100001", "ORD-100002", "ORD-100005"} <= set(orders)
    (shipment,) = orders["ORD-100002"]["shipments"]
    assert (shipment["carrier"], shipment["status"]) == ("DPD", "in_transit")
    assert shipment["last_event"] and shipment["eta"]
    assert "PAY-100001" in {p["ref"] for p in panel["payments"]}
    (balance,) = panel["balances"]
    assert balance["number"] == "•••• 0001"
    assert balance["balance"]["text"] == "£60.00"
    # The full account number is nowhere in the answer.
    assert "633800100001" not in response.text
    (viewed,) = await _audit(console.database, "agent.viewed_business_customer")
    assert viewed.details["customer_ref"] == ALICE


async def test_an_unverified_customer_shows_nothing_from_the_business_systems(
    console: Console,
) -> None:
    # Even a phone number that is on Alice's record proves nothing by itself.
    handoff_id = await console.conversation(None, "agent")
    response = await console.get("agent", f"/agent/conversations/{handoff_id}/customer")
    assert response.status_code == 200, response.text
    panel = response.json()
    assert panel["state"] == "not_verified"
    assert "Not verified" in panel["detail"]
    assert panel["customer_ref"] is None and panel["name"] is None
    assert panel["orders"] == panel["payments"] == panel["refunds"] == panel["balances"] == []
    for leak in ("C-1000", "ORD-", "PAY-", "Alice"):
        assert leak not in response.text
    # Nor may an agent act for them.
    refused = await console.post(
        "agent", f"/agent/conversations/{handoff_id}/payments/PAY-100001/resend-receipt"
    )
    assert refused.status_code == 409
    assert refused.json()["code"] == "not_verified"


async def test_another_conversations_customer_never_appears(console: Console) -> None:
    alice = await console.conversation(ALICE, "agent")
    bilal = await console.conversation(BILAL, "other")
    panel = await console.get("agent", f"/agent/conversations/{alice}/customer")
    for bilals in ("ORD-100003", "PAY-100003", "Bilal", BILAL):
        assert bilals not in panel.text
    # Bilal's conversation is someone else's: not even its panel.
    refused = await console.get("agent", f"/agent/conversations/{bilal}/customer")
    assert refused.status_code == 403
    assert set(refused.json()) == {"code", "detail"}
    assert "ORD-" not in refused.text


async def test_an_agent_approves_within_their_limit_and_it_is_audited(console: Console) -> None:
    handoff_id = await console.conversation(ALICE, "agent")
    ref = await console.requested_refund(ALICE, "ORD-100001", 2000)
    panel = (await console.get("agent", f"/agent/conversations/{handoff_id}/customer")).json()
    assert {r["ref"]: r["can_approve"] for r in panel["refunds"]}[ref] is True
    approved = await console.post(
        "agent", f"/agent/conversations/{handoff_id}/refunds/{ref}/approve"
    )
    assert approved.status_code == 200, approved.text
    refund = approved.json()["refund"]
    assert refund["status"] == "approved"
    assert refund["decided_by"].startswith("agent:agent")
    (entry,) = await _audit(console.database, "refund.approved")
    assert entry.entity_id == ref
    assert entry.actor == f"agent:{console.agents['agent'][0]}"
    assert entry.details["amount_minor"] == 2000
    assert entry.details["rule"] == "agent_limit:agent<=5000"
    assert entry.details["role"] == "agent"
    # Decided: it cannot be decided again.
    again = await console.post("agent", f"/agent/conversations/{handoff_id}/refunds/{ref}/reject")
    assert again.status_code == 409
    assert again.json()["code"] == "refund_not_waiting"


async def test_over_the_limit_is_403_for_an_agent_and_fine_for_a_supervisor(
    console: Console,
) -> None:
    ref = await console.requested_refund(BILAL, "ORD-100003", 20000)
    as_agent = await console.conversation(BILAL, "agent")
    refused = await console.post("agent", f"/agent/conversations/{as_agent}/refunds/{ref}/approve")
    assert refused.status_code == 403
    body = refused.json()
    assert set(body) == {"code", "detail"}
    assert body["code"] == "over_refund_limit"
    assert "£200.00" in body["detail"] and "£50.00" in body["detail"]
    (entry,) = await _audit(console.database, "refund.approval_refused")
    assert entry.details["amount_minor"] == 20000
    # The supervisor, with the customer's conversation, may.
    await console.post("agent", f"/agent/conversations/{as_agent}/resolve")
    as_supervisor = await console.conversation(BILAL, "supervisor")
    path = f"/agent/conversations/{as_supervisor}/refunds/{ref}/approve"
    approved = await console.post("supervisor", path)
    assert approved.status_code == 200, approved.text
    (entry,) = await _audit(console.database, "refund.approved")
    assert entry.details["rule"] == "agent_limit:supervisor<=50000"


async def test_another_customers_refund_is_not_found(console: Console) -> None:
    alice = await console.conversation(ALICE, "agent")
    bilals = await console.requested_refund(BILAL, "ORD-100003", 1000)
    for action in ("approve", "reject"):
        path = f"/agent/conversations/{alice}/refunds/{bilals}/{action}"
        response = await console.post("agent", path)
        assert response.status_code == 404
        assert response.json() == {
            "code": "not_found",
            "detail": f"This customer has no refund {bilals}.",
        }
    bilals_payment = f"/agent/conversations/{alice}/payments/PAY-100003/resend-receipt"
    assert (await console.post("agent", bilals_payment)).status_code == 404
    (refund,) = [r for r in await console.backend.refunds(BILAL) if r.ref == bilals]
    assert refund.status is RefundStatus.REQUESTED
    assert await _audit(console.database, "refund.approved") == []


async def test_business_systems_down_leave_the_console_working(
    tmp_path: Path, database: Database, database_url: str
) -> None:
    settings = console_settings(
        tmp_path,
        database_url,
        business_backend="http",
        business_api_url=f"http://127.0.0.1:{free_port()}",
        business_api_retries=0,
        business_api_timeout_seconds=1.0,
    )
    async with served_app(settings) as url, httpx.AsyncClient(timeout=30) as http:
        agent_id, headers = await _agent(database, http, url, AgentRole.AGENT)
        conversation_id = await customer_writes(database, Channel.SMS, "+447700900001")
        await verify(database, conversation_id, ALICE)
        handoff_id = await handed_to(database, conversation_id, agent_id)
        panel = await http.get(f"{url}/agent/conversations/{handoff_id}/customer", headers=headers)
        assert panel.status_code == 200
        assert panel.json()["state"] == "unavailable"
        assert "not answering" in panel.json()["detail"]
        detail = await http.get(f"{url}/agent/conversations/{handoff_id}", headers=headers)
        assert detail.status_code == 200
        approve = await http.post(
            f"{url}/agent/conversations/{handoff_id}/refunds/RF-1/approve", headers=headers
        )
        assert approve.status_code == 503
        assert approve.json()["code"] == "business_systems_unavailable"
