"""Single-use tickets to open the console's live event stream (see AgentStreamTicket)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from handoff.models import AgentStreamTicket


async def add_ticket(
    *,
    session: AsyncSession,
    digest: str,
    agent_id: int,
    generation: int,
    token_expires_at: datetime,
    now: datetime,
    expires_at: datetime,
) -> None:
    """Keep a ticket's digest until `expires_at` (expired ones are cleared meanwhile)."""
    await session.execute(delete(AgentStreamTicket).where(AgentStreamTicket.expires_at <= now))
    session.add(
        AgentStreamTicket(
            digest=digest,
            agent_id=agent_id,
            generation=generation,
            token_expires_at=token_expires_at,
            expires_at=expires_at,
        )
    )


async def redeem_ticket(
    *, session: AsyncSession, digest: str, now: datetime
) -> AgentStreamTicket | None:
    """The ticket with `digest`, used up: None if there is none, it has expired, or another
    request redeemed it first (the delete that removes it counts one row for one of them)."""
    ticket = await session.scalar(
        select(AgentStreamTicket).where(AgentStreamTicket.digest == digest)
    )
    if ticket is None:
        return None
    removed = await session.execute(
        delete(AgentStreamTicket).where(AgentStreamTicket.digest == digest)
    )
    if getattr(removed, "rowcount", 0) != 1 or ticket.expires_at <= now:
        return None
    return ticket
