"""Signing agents in and out, and tickets for the console's live stream.

A sign-in is refused (RateLimited, 429) while its email or the client's address has had too
many failures lately (AGENT_LOGIN_ACCOUNT_FAILURES, AGENT_LOGIN_ADDRESS_FAILURES), even with
the right password; a success clears the email's failures. The answer never tells whether
the email belongs to an agent: the same limits, the same work (a dummy scrypt hash for an
unknown email) and the same refusal. The password is checked in a thread and with no
database transaction open, so a burst of attempts neither stalls the event loop nor holds
SQLite's write lock; a few at a time (`slots`), so they cannot take every core either, and
so the limits are checked and counted in turn rather than all at once by a burst.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from bot.core.db import Database
from bot.core.models import utcnow
from bot.core.rate_limits import RateLimited, RateLimits, Rule
from bot.core.settings import Settings
from bot.core.store import audit
from handoff.auth import TokenClaims, check_password, issue_token
from handoff.models import Agent
from handoff.store import agents, stream_tickets

log = structlog.get_logger("handoff.signin")

WHAT = "sign-in attempts"
# A stream ticket is used at once by the page that asked for it.
TICKET_LIFETIME = timedelta(seconds=30)


class WrongCredentials(Exception):
    """No agent has this email and password (which of the two is not said)."""


class NotSignedIn(Exception):
    """A token or ticket that is no longer (or never was) good."""


@dataclass(frozen=True)
class SignedIn:
    """A successful sign-in: the agent and their bearer token."""

    agent: Agent
    token: str
    expires_at: datetime


@dataclass(frozen=True)
class StreamGrant:
    """Who a redeemed stream ticket lets in, and for how long."""

    agent: Agent
    generation: int
    until: datetime


def default_slots() -> int:
    """How many passwords are checked at once: half the cores, at least one."""
    return max(1, (os.cpu_count() or 2) // 2)


def _digest(ticket: str) -> str:
    return hashlib.sha256(ticket.encode(errors="replace")).hexdigest()


class SignIn:
    """Agents' sign-in, sign-out and stream tickets, for every instance alike (the state is
    in the database and in the rate limits' storage)."""

    def __init__(
        self,
        *,
        database: Database,
        settings: Settings,
        rate_limits: RateLimits,
        slots: int | None = None,
    ) -> None:
        self._database = database
        self._limits = rate_limits
        self._account = Rule.parse("agent_login_account", settings.agent_login_account_failures)
        self._address = Rule.parse("agent_login_address", settings.agent_login_address_failures)
        self._secret = settings.agent_token_secret.get_secret_value()
        self._lifetime = timedelta(minutes=settings.agent_token_minutes)
        self._slots = asyncio.Semaphore(slots or default_slots())

    async def sign_in(self, email: str, password: str, *, address: str) -> SignedIn:
        """A token for the agent with `email` and `password`; WrongCredentials if there is
        none, RateLimited while the email or `address` has failed too often."""
        email = email.strip().lower()
        async with self._slots:
            await self._check_limits(email, address)
            async with self._database.session() as session:
                agent = await agents.agent_by_email(session=session, email=email)
            # The session is closed: nothing is locked while scrypt runs.
            ok = await check_password(password, agent.password_hash if agent else None)
            if ok:
                await self._limits.clear(self._account, email)
            else:
                await self._limits.count(self._account, email)
                await self._limits.count(self._address, address)
        await self._audit(agent, email, ok)
        if not ok or agent is None:
            raise WrongCredentials
        return self._issue(agent)

    async def sign_out(self, agent: Agent) -> None:
        """Revoke every token (and stream ticket) of `agent`, on every instance."""
        async with self._database.session() as session:
            await agents.revoke_tokens(session=session, agent_id=agent.id, why="signed out")

    async def stream_ticket(self, agent: Agent, claims: TokenClaims) -> str:
        """A single-use ticket for the live stream, good for TICKET_LIFETIME."""
        ticket, now = secrets.token_urlsafe(32), utcnow()
        async with self._database.session() as session:
            await stream_tickets.add_ticket(
                session=session,
                digest=_digest(ticket),
                agent_id=agent.id,
                generation=claims.generation,
                token_expires_at=claims.expires_at,
                now=now,
                expires_at=now + TICKET_LIFETIME,
            )
        return ticket

    async def redeem(self, ticket: str) -> StreamGrant:
        """Use up a stream ticket; NotSignedIn if it is unknown, used, expired or its agent
        has signed out since."""
        async with self._database.session() as session:
            found = await stream_tickets.redeem_ticket(
                session=session, digest=_digest(ticket), now=utcnow()
            )
            agent = await session.get(Agent, found.agent_id) if found else None
        if found is None or agent is None or agent.token_generation != found.generation:
            raise NotSignedIn("no such stream ticket")
        return StreamGrant(agent, found.generation, found.token_expires_at)

    async def still_signed_in(self, grant: StreamGrant) -> bool:
        """Whether the token behind a stream is still good (not expired, not revoked)."""
        if utcnow() >= grant.until:
            return False
        async with self._database.session() as session:
            generation = await agents.token_generation(session=session, agent_id=grant.agent.id)
        return generation == grant.generation

    async def _check_limits(self, email: str, address: str) -> None:
        for rule, key in ((self._account, email), (self._address, address)):
            try:
                await self._limits.check(rule, key, what=WHAT)
            except RateLimited:
                log.warning("agent_login_limited", rule=rule.name)
                raise

    async def _audit(self, agent: Agent | None, email: str, ok: bool) -> None:
        async with self._database.session() as session:
            audit.record(
                session=session,
                actor=f"agent:{agent.id}" if agent else "anonymous",
                action="agent.login" if ok else "agent.login_failed",
                entity_type="agent",
                entity_id=str(agent.id) if agent else email[:100],
            )

    def _issue(self, agent: Agent) -> SignedIn:
        now = utcnow()
        token = issue_token(
            agent.id,
            secret=self._secret,
            now=now,
            lifetime=self._lifetime,
            generation=agent.token_generation,
        )
        return SignedIn(agent, token, now + self._lifetime)
