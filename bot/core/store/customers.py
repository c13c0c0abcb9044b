"""Customers and their channel identities (a phone number, an email address, a web chat id),
opt-outs, and linking a new identity to the customer the store already knows."""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from bot.core.models import Channel, ChannelIdentity, Customer, utcnow
from bot.core.store import audit

PHONE_CHANNELS = (Channel.SMS, Channel.VOICE)


def normalise_address(channel: Channel, address: str) -> str:
    """One spelling per address: emails lower-cased, phone numbers without spaces or dashes."""
    address = address.strip()
    if channel is Channel.EMAIL:
        return address.lower()
    if channel in PHONE_CHANNELS:
        return "".join(ch for ch in address if ch.isdigit() or ch == "+")
    return address


def identity_is(channel: Channel, address: str) -> ColumnElement[bool]:
    """The condition selecting the identity of an (already normalised) address on a channel."""
    return (ChannelIdentity.channel == channel) & (ChannelIdentity.address == address)


async def identity_of(
    *, session: AsyncSession, channel: Channel, address: str
) -> ChannelIdentity | None:
    """The identity of `address` on `channel`, if the store has seen it."""
    return await session.scalar(
        select(ChannelIdentity).where(identity_is(channel, normalise_address(channel, address)))
    )


async def resolve_identity(
    *, session: AsyncSession, channel: Channel, address: str
) -> ChannelIdentity:
    """The identity for `address` on `channel`; a new one joins the customer the store already
    knows by that email or phone, else a new customer."""
    address = normalise_address(channel, address)
    identity = await identity_of(session=session, channel=channel, address=address)
    if identity is not None:
        identity.last_seen_at = utcnow()
        return identity
    customer = await _customer_by_contact(session=session, channel=channel, address=address)
    created = customer is None
    if customer is None:
        customer = Customer(
            email=address if channel is Channel.EMAIL else None,
            phone=address if channel in PHONE_CHANNELS else None,
        )
        session.add(customer)
    identity = ChannelIdentity(channel=channel, address=address, customer=customer)
    session.add(identity)
    await session.flush()
    audit.record(
        session=session,
        actor=f"{channel.value}:{address}",
        action="customer.created" if created else "identity.linked",
        entity_type="customer",
        entity_id=str(customer.id),
        details={"channel": channel.value, "identity_id": identity.id},
    )
    return identity


async def _customer_by_contact(
    *, session: AsyncSession, channel: Channel, address: str
) -> Customer | None:
    # Until customers verify themselves (OTP), an address is linked only to a customer
    # whose record already holds it, and only when exactly one does.
    if channel is Channel.EMAIL:
        condition = func.lower(Customer.email) == address
    elif channel in PHONE_CHANNELS:
        condition = Customer.phone == address
    else:
        return None
    rows = list(await session.scalars(select(Customer).where(condition).limit(2)))
    return rows[0] if len(rows) == 1 else None


async def upsert_customer(
    *,
    session: AsyncSession,
    email: str | None = None,
    phone: str | None = None,
    display_name: str | None = None,
    is_vip: bool | None = None,
    actor: str = "admin",
) -> Customer:
    """Create or update a customer record (e.g. from the company's CRM), found by email or
    phone; channel identities with those addresses are linked to it from then on."""
    email = normalise_address(Channel.EMAIL, email) if email else None
    phone = normalise_address(Channel.SMS, phone) if phone else None
    if not email and not phone:
        raise ValueError("a customer needs an email address or a phone number")
    customer = await _customer_with(session=session, email=email, phone=phone) or Customer()
    session.add(customer)
    customer.email = email or customer.email
    customer.phone = phone or customer.phone
    customer.display_name = display_name or customer.display_name
    if is_vip is not None:
        customer.is_vip = is_vip
    await session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="customer.updated",
        entity_type="customer",
        entity_id=str(customer.id),
        details={"email": email, "phone": phone},
    )
    return customer


async def _customer_with(
    *, session: AsyncSession, email: str | None, phone: str | None
) -> Customer | None:
    conditions = []
    if email:
        conditions.append(func.lower(Customer.email) == email)
    if phone:
        conditions.append(Customer.phone == phone)
    return await session.scalar(
        select(Customer).where(or_(*conditions)).order_by(Customer.id).limit(1)
    )


async def set_opt_out(
    *, session: AsyncSession, channel: Channel, address: str, opted_out: bool
) -> ChannelIdentity:
    """Record that an address asked to receive nothing more (STOP), or asked again (START)."""
    identity = await resolve_identity(session=session, channel=channel, address=address)
    identity.opted_out_at = utcnow() if opted_out else None
    audit.record(
        session=session,
        actor=f"{channel.value}:{identity.address}",
        action="identity.opted_out" if opted_out else "identity.opted_in",
        entity_type="channel_identity",
        entity_id=str(identity.id),
    )
    return identity


async def is_opted_out(*, session: AsyncSession, channel: Channel, address: str) -> bool:
    """Whether nothing may be sent to this address."""
    identity = await identity_of(session=session, channel=channel, address=address)
    return identity is not None and identity.opted_out_at is not None


async def find_customer(
    *, session: AsyncSession, channel: Channel, address: str
) -> Customer | None:
    """The customer an address belongs to: by its channel identity, else by the record."""
    address = normalise_address(channel, address)
    identity = await session.scalar(
        select(ChannelIdentity).where(
            ChannelIdentity.channel.in_(
                PHONE_CHANNELS if channel in PHONE_CHANNELS else (channel,)
            ),
            ChannelIdentity.address == address,
        )
    )
    if identity is not None:
        return await session.get(Customer, identity.customer_id)
    return await _customer_by_contact(session=session, channel=channel, address=address)


async def identities_of(*, session: AsyncSession, customer_id: int) -> list[ChannelIdentity]:
    """A customer's addresses on every channel, oldest first."""
    rows = await session.scalars(
        select(ChannelIdentity)
        .where(ChannelIdentity.customer_id == customer_id)
        .order_by(ChannelIdentity.id)
    )
    return list(rows)
