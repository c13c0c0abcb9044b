"""Stream tickets and token revocation in the store, on SQLite and PostgreSQL: a ticket is
used once (even by two requests at the same moment), not after it expires, and not after its
agent signs out or gets a new password."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.core.db import Database
from bot.core.models import utcnow
from handoff.models import Agent, AgentStreamTicket
from handoff.store import agents, stream_tickets
from tests.support.handoff import new_agent


async def _ticket(db: Database, agent_id: int, digest: str, *, seconds: float = 30) -> None:
    now = utcnow()
    async with db.session() as session:
        await stream_tickets.add_ticket(
            session=session,
            digest=digest,
            agent_id=agent_id,
            generation=0,
            token_expires_at=now + timedelta(hours=1),
            now=now,
            expires_at=now + timedelta(seconds=seconds),
        )


async def _redeem(db: Database, digest: str) -> int | None:
    async with db.session() as session:
        ticket = await stream_tickets.redeem_ticket(session=session, digest=digest, now=utcnow())
        return ticket.agent_id if ticket else None


async def test_a_ticket_is_used_once(database: Database) -> None:
    agent_id = await new_agent(database)
    await _ticket(database, agent_id, "a" * 64)
    assert await _redeem(database, "a" * 64) == agent_id
    assert await _redeem(database, "a" * 64) is None
    assert await _redeem(database, "b" * 64) is None


async def test_two_requests_with_one_ticket_at_once_let_one_in(database: Database) -> None:
    agent_id = await new_agent(database)
    for n in range(5):
        digest = f"{n}" * 64
        await _ticket(database, agent_id, digest)
        results = await asyncio.gather(*(_redeem(database, digest) for _ in range(4)))
        assert sorted(results, key=str) == [agent_id, None, None, None]


async def test_an_expired_ticket_is_refused_and_cleared(database: Database) -> None:
    agent_id = await new_agent(database)
    await _ticket(database, agent_id, "c" * 64, seconds=-1)
    assert await _redeem(database, "c" * 64) is None
    await _ticket(database, agent_id, "d" * 64, seconds=-1)
    # Adding a ticket clears the expired ones.
    await _ticket(database, agent_id, "e" * 64)
    async with database.session() as session:
        assert await session.get(AgentStreamTicket, "d" * 64) is None
    assert await _redeem(database, "e" * 64) == agent_id


async def test_signing_out_and_a_new_password_revoke(database: Database) -> None:
    agent_id = await new_agent(database)
    await _ticket(database, agent_id, "f" * 64)
    async with database.session() as session:
        assert await agents.token_generation(session=session, agent_id=agent_id) == 0
        await agents.revoke_tokens(session=session, agent_id=agent_id, why="signed out")
        assert await agents.token_generation(session=session, agent_id=agent_id) == 1
    assert await _redeem(database, "f" * 64) is None
    async with database.session() as session:
        email = (await session.get_one(Agent, agent_id)).email
        changed = await agents.set_password(session=session, email=email, password_hash="new")
        assert changed is not None and changed.password_hash == "new"
        assert await agents.set_password(session=session, email="x@y.z", password_hash="") is None
    async with database.session() as session:
        assert await agents.token_generation(session=session, agent_id=agent_id) == 2
        assert await agents.token_generation(session=session, agent_id=agent_id + 99) is None
