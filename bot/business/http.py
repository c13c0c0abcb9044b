"""The HTTP backend: the company's own REST APIs, as written down in `openapi.yaml`.

Every call goes through a circuit breaker (purgatory) around a retry loop (tenacity):
- retried, with exponential backoff and jitter, on connection errors, timeouts, 5xx and 429
  (after the server's Retry-After when it gives one), for the calls that are safe to send
  twice: every GET, and POST /refunds, which carries an Idempotency-Key. A decision on a
  refund is sent again only when it never reached the server (no connection);
- never retried on any other 4xx; 404 is "no such record" (None, or an empty list);
- after `business_api_breaker_failures` calls in a row that failed (each after its retries),
  calls fail at once with `BusinessSystemsUnavailable` for `business_api_breaker_reset_seconds`;
  then calls go through again (half-open): the first success closes the circuit, a failure
  opens it again. Answers the server gave (4xx, malformed replies) are not outages.

Errors name the operation and the HTTP status, never the URL's query (a phone number, an
email address) nor the credentials.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import structlog
from purgatory import AsyncCircuitBreakerFactory, ContextChanged, Event
from purgatory.domain.model import OpenedState
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from bot.business import wire
from bot.business.protocol import BusinessSystemsError, BusinessSystemsUnavailable
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
from bot.core.settings import Settings

log = structlog.get_logger("bot.business.http")
T = TypeVar("T")
CIRCUIT = "business_api"
# Path segments that would change the path itself rather than name a record.
_NOT_A_REF = frozenset({"", ".", ".."})


@dataclass(frozen=True)
class Backoff:
    """The waits between attempts: `multiplier * 2**n` plus up to `multiplier` of jitter."""

    multiplier_seconds: float = 0.25
    max_seconds: float = 2.0
    # A server asking for a longer pause is not waited for: a customer is waiting.
    max_retry_after_seconds: float = 5.0


class _Transient(BusinessSystemsUnavailable):
    """One attempt failed in a way another attempt may not."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class _Outage(BusinessSystemsUnavailable):
    """A call that failed for good (after its retries): what the circuit breaker counts."""


class HttpBusinessSystems:
    """`BusinessSystems` over the company's REST APIs (settings `business_api_*`)."""

    def __init__(
        self,
        settings: Settings,
        *,
        backoff: Backoff | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Accept": "application/json", "User-Agent": "customer-service-assistant"}
        credentials = settings.business_api_auth_value.get_secret_value()
        if credentials:
            headers[settings.business_api_auth_header] = credentials
        self._timeout = settings.business_api_timeout_seconds
        self._client = httpx.AsyncClient(
            base_url=settings.business_api_url,
            headers=headers,
            timeout=httpx.Timeout(self._timeout),
            transport=transport,
        )
        self._retries = settings.business_api_retries
        self._backoff = backoff or Backoff()
        self._jitter = wait_exponential_jitter(
            multiplier=self._backoff.multiplier_seconds,
            max=self._backoff.max_seconds,
            jitter=self._backoff.multiplier_seconds,
        )
        self._failures = settings.business_api_breaker_failures
        self._reset_seconds = settings.business_api_breaker_reset_seconds
        self._breakers = AsyncCircuitBreakerFactory(
            default_threshold=self._failures,
            default_ttl=self._reset_seconds,
            # Only outages count; a cancelled call or a bug in a caller is not the server's.
            exclude=[(BaseException, lambda error: not isinstance(error, _Outage))],
        )
        self._breakers.add_listener(_log_circuit)

    # -- the Protocol ----------------------------------------------------------------------

    async def customer(self, ref: str) -> CustomerRecord | None:
        """The customer with this id, if any."""
        return await self._get_one("customer", CustomerRecord, "customers", ref)

    async def customer_by_phone(self, phone: str) -> CustomerRecord | None:
        """The one customer whose record holds this E.164 number (None if none or several)."""
        found = await self._get_items(
            "customer_by_phone", CustomerRecord, "/customers", {"phone": phone}
        )
        return found[0] if len(found) == 1 else None

    async def customer_by_email(self, email: str) -> CustomerRecord | None:
        """The one customer whose record holds this email address (case-insensitive)."""
        found = await self._get_items(
            "customer_by_email", CustomerRecord, "/customers", {"email": email}
        )
        return found[0] if len(found) == 1 else None

    async def order(self, ref: str) -> Order | None:
        """An order by its number, whoever it belongs to."""
        return await self._get_one("order", Order, "orders", ref)

    async def orders(self, customer_ref: str, *, limit: int = 10) -> Sequence[Order]:
        """A customer's orders, newest first."""
        path = _path("customers", customer_ref, "orders")
        return await self._get_items("orders", Order, path, {"limit": limit})

    async def shipment(self, ref: str) -> Shipment | None:
        """A shipment with its carrier events."""
        return await self._get_one("shipment", Shipment, "shipments", ref)

    async def accounts(self, customer_ref: str) -> Sequence[Account]:
        """A customer's store-credit / wallet accounts."""
        path = _path("customers", customer_ref, "accounts")
        return await self._get_items("accounts", Account, path, None)

    async def transactions(self, account_ref: str, *, limit: int = 10) -> Sequence[Transaction]:
        """An account's transactions, newest first."""
        path = _path("accounts", account_ref, "transactions")
        return await self._get_items("transactions", Transaction, path, {"limit": limit})

    async def payments(self, customer_ref: str, *, limit: int = 10) -> Sequence[Payment]:
        """A customer's payments, newest first."""
        path = _path("customers", customer_ref, "payments")
        return await self._get_items("payments", Payment, path, {"limit": limit})

    async def payment(self, ref: str) -> Payment | None:
        """A payment by its reference."""
        return await self._get_one("payment", Payment, "payments", ref)

    async def refunds(self, customer_ref: str, *, limit: int = 20) -> Sequence[Refund]:
        """A customer's refunds, newest first."""
        path = _path("customers", customer_ref, "refunds")
        return await self._get_items("refunds", Refund, path, {"limit": limit})

    async def request_refund(self, request: RefundRequest) -> Refund:
        """Record a refund (approved, or waiting for a person); idempotent on its key."""
        # Without a key of the caller's, one per call still makes this call's retries safe.
        key = request.idempotency_key or uuid.uuid4().hex
        response = await self._call(
            "request_refund",
            "POST",
            "/refunds",
            body=wire.refund_request_body(request),
            headers={"Idempotency-Key": key},
            idempotent=True,
        )
        if response is None:
            raise BusinessSystemsError("business API request_refund: HTTP 404")
        return _parse("request_refund", Refund, response)

    async def decide_refund(self, ref: str, *, approved: bool, decided_by: str) -> Refund:
        """Approve or reject a refund waiting for a person."""
        path = _path("refunds", ref, "decision")
        decision = wire.RefundDecision(approved=approved, decided_by=decided_by)
        response = None
        if path is not None:
            response = await self._call(
                "decide_refund", "POST", path, body=wire.dump(decision), idempotent=False
            )
        if response is None:
            raise BusinessSystemsError("business API decide_refund: HTTP 404, no such refund")
        return _parse("decide_refund", Refund, response)

    async def aclose(self) -> None:
        """Release connections."""
        await self._client.aclose()

    # -- one call ----------------------------------------------------------------------------

    async def _get_one(self, operation: str, kind: type[T], collection: str, ref: str) -> T | None:
        path = _path(collection, ref)
        if path is None:
            return None
        response = await self._call(operation, "GET", path)
        return None if response is None else _parse(operation, kind, response)

    async def _get_items(
        self, operation: str, kind: type[T], path: str | None, params: dict[str, Any] | None
    ) -> tuple[T, ...]:
        if path is None:
            return ()
        response = await self._call(operation, "GET", path, params=params)
        if response is None:
            return ()
        try:
            return wire.load_items(kind, response.content)
        except wire.WireError as error:
            raise BusinessSystemsError(
                f"business API {operation}: malformed reply: {error}"
            ) from None

    async def _call(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        idempotent: bool = True,
    ) -> httpx.Response | None:
        """The successful reply (None for 404), through the circuit breaker and retries."""
        request = self._client.build_request(
            method, path, params=params, json=body, headers=headers
        )
        try:
            breaker = await self._breakers.get_breaker(CIRCUIT)
            async with breaker:
                response = await self._attempts(operation, request, idempotent=idempotent)
        except OpenedState:
            raise BusinessSystemsUnavailable(
                f"business API {operation}: not called, {self._failures} calls in a row "
                f"failed; calls resume within {self._reset_seconds:g} s"
            ) from None
        return _outcome(operation, response)

    async def _attempts(
        self, operation: str, request: httpx.Request, *, idempotent: bool
    ) -> httpx.Response:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._retries + 1),
            wait=self._wait,
            retry=retry_if_exception_type(_Transient),
            before_sleep=lambda state: _log_retry(operation, state),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._attempt(operation, request, idempotent=idempotent)
        except _Transient as failure:
            tries = int(retrying.statistics.get("attempt_number", 1))
            raise _Outage(f"{failure} (after {tries} attempts)") from failure
        raise AssertionError("tenacity returns or raises")  # pragma: no cover

    async def _attempt(
        self, operation: str, request: httpx.Request, *, idempotent: bool
    ) -> httpx.Response:
        """One try; `_Transient` when another try may do better."""
        where = f"business API {operation}"
        try:
            response = await self._client.send(request)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
            # The request never reached the server: sending it again is safe, whatever it is.
            raise _Transient(f"{where}: cannot connect ({_describe(error)})") from error
        except httpx.TimeoutException as error:
            failure = f"{where}: no reply within {self._timeout:g} s"
            raise (_Transient(failure) if idempotent else _Outage(failure)) from error
        except httpx.TransportError as error:
            failure = f"{where}: connection failed ({_describe(error)})"
            raise (_Transient(failure) if idempotent else _Outage(failure)) from error
        status = response.status_code
        if status == 429 or status >= 500:
            failure = f"{where}: HTTP {status}"
            retry_after = _retry_after(response.headers.get("Retry-After"))
            patient = retry_after is None or retry_after <= self._backoff.max_retry_after_seconds
            if idempotent and patient:
                raise _Transient(failure, retry_after)
            raise _Outage(failure)
        return response

    def _wait(self, state: RetryCallState) -> float:
        failure = state.outcome.exception() if state.outcome is not None else None
        if isinstance(failure, _Transient) and failure.retry_after is not None:
            return failure.retry_after
        return float(self._jitter(state))


def _path(*segments: str) -> str | None:
    """`/customers/C%2F1/orders`; None when a ref could only be a trick (`..`, empty)."""
    if any(segment in _NOT_A_REF for segment in segments):
        return None
    return "/" + "/".join(quote(segment, safe="") for segment in segments)


def _outcome(operation: str, response: httpx.Response) -> httpx.Response | None:
    """The reply if it is a success, None for 404; else the error it stands for."""
    status = response.status_code
    if status in (200, 201):
        return response
    if status == 404:
        return None
    where = f"business API {operation}: HTTP {status}"
    if status in (401, 403):
        raise BusinessSystemsError(
            f"{where}, our credentials were refused; check BUSINESS_API_AUTH_HEADER and "
            "BUSINESS_API_AUTH_VALUE"
        )
    detail = wire.error_detail(response.content) if status >= 400 else ""
    raise BusinessSystemsError(f"{where}: {detail}" if detail else where)


def _parse(operation: str, kind: type[T], response: httpx.Response) -> T:
    try:
        return wire.load(kind, response.content)
    except wire.WireError as error:
        raise BusinessSystemsError(f"business API {operation}: malformed reply: {error}") from None


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (seconds or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _describe(error: httpx.TransportError) -> str:
    # httpx's texts name the socket error ("Connection refused"), not the request.
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _log_retry(operation: str, state: RetryCallState) -> None:
    failure = state.outcome.exception() if state.outcome is not None else None
    log.warning(
        "business_api_retry",
        operation=operation,
        attempt=state.attempt_number,
        reason=str(failure),
        wait_seconds=round(state.upcoming_sleep, 3),
    )


def _log_circuit(circuit: str, name: str, event: Event) -> None:
    if isinstance(event, ContextChanged):
        log.warning("business_api_circuit", circuit=circuit, state=event.state)
