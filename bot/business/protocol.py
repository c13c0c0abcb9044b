"""The one interface to what the company's systems know. The assistant, its actions and the
agent console only use this; `demo` (bundled SQLite) and `http` (the company's REST APIs,
contract in `openapi.yaml`) implement it.

Lookups by a customer-visible reference (an order number) return None when it does not
exist: callers must also treat "belongs to someone else" as None (see `owned_by`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bot.business.records import (
    Account,
    CustomerRecord,
    Order,
    Payment,
    Refund,
    RefundRequest,
    Shipment,
    Transaction,
)


class BusinessSystemsError(Exception):
    """The business systems could not answer (down, timed out, refused, broken reply)."""


class BusinessSystemsUnavailable(BusinessSystemsError):
    """Down or refusing for now (after retries, or the circuit is open): try again later."""


class BusinessSystems(Protocol):
    """What self-service and the agent console ask the company's systems."""

    async def customer(self, ref: str) -> CustomerRecord | None:
        """The customer with this id, if any."""
        ...

    async def customer_by_phone(self, phone: str) -> CustomerRecord | None:
        """The one customer whose record holds this E.164 number (None if none or several)."""
        ...

    async def customer_by_email(self, email: str) -> CustomerRecord | None:
        """The one customer whose record holds this email address (case-insensitive)."""
        ...

    async def order(self, ref: str) -> Order | None:
        """An order by its number, whoever it belongs to."""
        ...

    async def orders(self, customer_ref: str, *, limit: int = 10) -> Sequence[Order]:
        """A customer's orders, newest first."""
        ...

    async def shipment(self, ref: str) -> Shipment | None:
        """A shipment with its carrier events."""
        ...

    async def accounts(self, customer_ref: str) -> Sequence[Account]:
        """A customer's store-credit / wallet accounts."""
        ...

    async def transactions(self, account_ref: str, *, limit: int = 10) -> Sequence[Transaction]:
        """An account's transactions, newest first."""
        ...

    async def payments(self, customer_ref: str, *, limit: int = 10) -> Sequence[Payment]:
        """A customer's payments, newest first."""
        ...

    async def payment(self, ref: str) -> Payment | None:
        """A payment by its reference."""
        ...

    async def refunds(self, customer_ref: str, *, limit: int = 20) -> Sequence[Refund]:
        """A customer's refunds, newest first."""
        ...

    async def request_refund(self, request: RefundRequest) -> Refund:
        """Record a refund (approved, or waiting for a person); idempotent on its key."""
        ...

    async def decide_refund(self, ref: str, *, approved: bool, decided_by: str) -> Refund:
        """Approve or reject a refund waiting for a person."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


def owned_by(customer_ref: str, record: Order | Payment | Refund | None) -> bool:
    """Whether a looked-up record belongs to this customer (else treat it as not found)."""
    return record is not None and record.customer_ref == customer_ref
