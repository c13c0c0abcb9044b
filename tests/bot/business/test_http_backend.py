"""The HTTP backend against the local contract server over TCP: every operation round-trips
(over the in-memory fake and over the seeded demo backend), and it behaves under failure:
404, retries, timeouts, the circuit breaker, refused credentials and broken replies."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bot.business.http import HttpBusinessSystems
from bot.business.protocol import BusinessSystems, BusinessSystemsError, BusinessSystemsUnavailable
from bot.business.records import Money, RefundRequest, RefundStatus
from bot.testing.business_api import BusinessApi, running_in_thread, serving
from bot.testing.ports import free_port
from tests.support.business_fakes import (
    AUTH,
    InMemoryBusinessSystems,
    http_backend,
    sample,
    seeded_demo,
)

Lookup = Callable[[BusinessSystems], Awaitable[Any]]
# The same question to both backends; (name, call) pairs: personas of the demo seed.
DEMO_LOOKUPS: list[tuple[str, Lookup]] = [
    ("customer", lambda b: b.customer("C-10001")),
    ("customer_by_phone", lambda b: b.customer_by_phone("+447700900002")),
    ("customer_by_email", lambda b: b.customer_by_email("Chloe.Davies@example.com")),
    ("order", lambda b: b.order("ORD-100001")),
    ("orders", lambda b: b.orders("C-10001", limit=2)),
    ("shipment", lambda b: b.shipment("SHP-100002")),
    ("held shipment", lambda b: b.shipment("SHP-100008")),
    ("accounts", lambda b: b.accounts("C-10001")),
    ("transactions", lambda b: b.transactions("ACC-100001", limit=3)),
    ("payments", lambda b: b.payments("C-10001")),
    ("payment", lambda b: b.payment("PAY-100005")),
    ("refunds", lambda b: b.refunds("C-10003")),
]
FAKE_LOOKUPS: list[tuple[str, Lookup]] = [
    ("customer", lambda b: b.customer("C-1")),
    ("customer_by_phone", lambda b: b.customer_by_phone("+447700900002")),
    ("customer_by_email", lambda b: b.customer_by_email("ADA@example.com")),
    ("order", lambda b: b.order("ORD-100001")),
    ("orders", lambda b: b.orders("C-1", limit=5)),
    ("shipment", lambda b: b.shipment("SHP-100001")),
    ("accounts", lambda b: b.accounts("C-1")),
    ("transactions", lambda b: b.transactions("ACC-100001", limit=1)),
    ("payments", lambda b: b.payments("C-1")),
    ("payment", lambda b: b.payment("PAY-100001")),
    ("refunds", lambda b: b.refunds("C-1")),
]


@pytest.fixture
def systems() -> InMemoryBusinessSystems:
    """The in-memory backend behind the server."""
    return sample()


@pytest.fixture
async def api(systems: InMemoryBusinessSystems) -> AsyncIterator[BusinessApi]:
    """The contract server over the in-memory backend, checking the test credentials."""
    async with serving(systems, auth_value=AUTH) as running:
        yield running


@pytest.fixture
async def client(tmp_path: Path, api: BusinessApi) -> AsyncIterator[HttpBusinessSystems]:
    """The HTTP backend on that server: 2 retries, circuit open after 3 failed calls."""
    async with http_backend(tmp_path, api.base_url) as backend:
        yield backend


def _same(direct: Any, remote: Any) -> bool:
    # Lists come back as tuples over the wire; the records themselves must be equal.
    if isinstance(direct, list | tuple):
        return list(direct) == list(remote)
    return bool(direct == remote)


async def test_every_lookup_round_trips(
    client: HttpBusinessSystems, systems: InMemoryBusinessSystems
) -> None:
    remote: BusinessSystems = client  # mypy checks it implements the Protocol
    for name, lookup in FAKE_LOOKUPS:
        direct = await lookup(systems)
        assert direct, name  # the sample data has an answer to every question
        assert _same(direct, await lookup(remote)), name


async def test_every_lookup_round_trips_over_the_demo_backend(tmp_path: Path) -> None:
    async with (
        seeded_demo(tmp_path) as demo,
        serving(demo, auth_value=AUTH) as api,
        http_backend(tmp_path, api.base_url) as client,
    ):
        for name, lookup in DEMO_LOOKUPS:
            direct = await lookup(demo)
            assert direct, name
            assert _same(direct, await lookup(client)), name


async def test_refunds_round_trip_over_the_demo_backend(tmp_path: Path) -> None:
    request = RefundRequest(
        "C-10001", "ORD-100001", Money(1000, "GBP"), "The lid is cracked", approved=False,
        decided_by="policy:over_limit", evidence=("doc-1",), idempotency_key="conv-1:refund",
    )  # fmt: skip
    async with (
        seeded_demo(tmp_path) as demo,
        serving(demo, auth_value=AUTH) as api,
        http_backend(tmp_path, api.base_url) as client,
    ):
        refund = await client.request_refund(request)
        assert refund.status is RefundStatus.REQUESTED
        assert refund.evidence == ("doc-1",)
        assert await client.request_refund(request) == refund  # the same key: one refund
        decided = await client.decide_refund(refund.ref, approved=True, decided_by="agent:a@x")
        assert (decided.status, decided.decided_by) == (RefundStatus.APPROVED, "agent:a@x")
        assert list(await demo.refunds("C-10001")) == [decided]
        with pytest.raises(BusinessSystemsError, match=r"decide_refund: HTTP 409"):
            await client.decide_refund(refund.ref, approved=False, decided_by="agent:a@x")
        with pytest.raises(BusinessSystemsError, match=r"request_refund: HTTP 422: customer"):
            await client.request_refund(
                RefundRequest("C-10002", "ORD-100001", Money(100, "GBP"), "mine", True, "x")
            )


async def test_not_found_is_none_or_empty(client: HttpBusinessSystems, api: BusinessApi) -> None:
    assert await client.customer("C-404") is None
    assert await client.order("ORD-404") is None
    assert await client.shipment("SHP-404") is None
    assert await client.payment("PAY-404") is None
    assert await client.customer_by_phone("+447700900999") is None
    assert await client.customer_by_email("nobody@example.com") is None
    assert await client.orders("C-404") == ()
    assert await client.accounts("C-404") == ()
    assert await client.refunds("C-404") == ()
    assert await client.transactions("ACC-404") == ()
    with pytest.raises(BusinessSystemsError, match=r"decide_refund: HTTP 409"):
        await client.decide_refund("RF-404", approved=True, decided_by="agent:a@x")


async def test_refs_cannot_change_the_path(client: HttpBusinessSystems, api: BusinessApi) -> None:
    assert await client.order("..") is None
    assert await client.orders("") == ()
    assert api.control.requests == []  # not even asked
    # Escaped, a slash stays inside its segment: no such customer, not their orders.
    assert await client.customer("C-1/orders") is None
    assert api.control.requests[-1].path == "/customers/C-1%2Forders"


async def test_a_flaky_server_is_retried_until_it_answers(
    client: HttpBusinessSystems, api: BusinessApi
) -> None:
    api.control.fail_next(2, status=503)
    order = await client.order("ORD-100001")
    assert order is not None
    assert [r.path for r in api.control.requests] == ["/orders/ORD-100001"] * 3


async def test_retries_give_up_with_unavailable(
    client: HttpBusinessSystems, api: BusinessApi
) -> None:
    api.control.fail_next(3, status=502)
    with pytest.raises(BusinessSystemsUnavailable) as raised:
        await client.customer_by_phone("+447700900001")
    message = str(raised.value)
    assert message == "business API customer_by_phone: HTTP 502 (after 3 attempts)"
    assert "+44" not in message and AUTH not in message
    assert len(api.control.requests) == 3


async def test_retry_after_is_honoured(client: HttpBusinessSystems, api: BusinessApi) -> None:
    api.control.fail_next(1, status=429, retry_after="1")
    started = time.monotonic()
    assert await client.customer("C-1") is not None
    assert time.monotonic() - started >= 0.95
    assert len(api.control.requests) == 2


async def test_a_longer_retry_after_than_a_customer_waits_is_not_waited_for(
    client: HttpBusinessSystems, api: BusinessApi
) -> None:
    api.control.fail_next(1, status=503, retry_after="120")
    with pytest.raises(BusinessSystemsUnavailable, match=r"customer: HTTP 503$"):
        await client.customer("C-1")
    assert len(api.control.requests) == 1


async def test_other_client_errors_are_never_retried(
    client: HttpBusinessSystems, api: BusinessApi
) -> None:
    api.control.fail_next(1, status=400)
    with pytest.raises(BusinessSystemsError) as raised:
        await client.order("ORD-100001")
    assert not isinstance(raised.value, BusinessSystemsUnavailable)
    assert str(raised.value) == (
        "business API order: HTTP 400: failure asked for by the test"
    )  # fmt: skip
    assert len(api.control.requests) == 1


async def test_a_refund_is_retried_with_the_same_key(
    client: HttpBusinessSystems, api: BusinessApi, systems: InMemoryBusinessSystems
) -> None:
    api.control.fail_next(1, status=503)
    request = RefundRequest("C-1", "ORD-100001", Money(799, "GBP"), "mug chipped", True, "p:ok")
    refund = await client.request_refund(request)  # no key of the caller's: one per call
    keys = [r.headers["idempotency-key"] for r in api.control.requests]
    assert len(keys) == 2 and keys[0] == keys[1] and keys[0]
    newest, *older = await systems.refunds("C-1")
    assert newest == refund
    assert len(older) == 1  # the sample's one: this one was recorded once


async def test_a_decision_is_not_retried_once_sent(
    client: HttpBusinessSystems, api: BusinessApi, systems: InMemoryBusinessSystems
) -> None:
    request = RefundRequest("C-1", "ORD-100001", Money(799, "GBP"), "mug chipped", False, "p")
    refund = await client.request_refund(request)
    api.control.clear()
    api.control.fail_next(1, status=503)
    with pytest.raises(BusinessSystemsUnavailable, match=r"decide_refund: HTTP 503"):
        await client.decide_refund(refund.ref, approved=True, decided_by="agent:a@x")
    assert len(api.control.requests) == 1


async def test_a_slow_server_times_out(tmp_path: Path, api: BusinessApi) -> None:
    api.control.delay_next(2, 1.0)
    async with http_backend(
        tmp_path, api.base_url, business_api_timeout_seconds=0.2, business_api_retries=1
    ) as client:
        started = time.monotonic()
        with pytest.raises(BusinessSystemsUnavailable) as raised:
            await client.order("ORD-100001")
    assert str(raised.value) == (
        "business API order: no reply within 0.2 s (after 2 attempts)"
    )  # fmt: skip
    assert time.monotonic() - started < 0.9


async def test_no_server_is_unavailable(tmp_path: Path) -> None:
    async with http_backend(tmp_path, f"http://127.0.0.1:{free_port()}") as client:
        with pytest.raises(BusinessSystemsUnavailable, match=r"order: cannot connect .*3 att"):
            await client.order("ORD-100001")


async def test_the_circuit_opens_fails_fast_and_recovers(tmp_path: Path, api: BusinessApi) -> None:
    async with http_backend(tmp_path, api.base_url, business_api_retries=0) as client:
        api.control.fail_next(3, status=500)
        for _ in range(3):
            with pytest.raises(BusinessSystemsUnavailable, match=r"HTTP 500"):
                await client.order("ORD-100001")
        with pytest.raises(BusinessSystemsUnavailable, match=r"not called, 3 calls in a row"):
            await client.customer("C-1")
        assert len(api.control.requests) == 3  # failed fast: the server was not asked
        await asyncio.sleep(0.6)  # past the reset time: half-open
        api.control.fail_next(1, status=500)
        with pytest.raises(BusinessSystemsUnavailable, match=r"HTTP 500"):
            await client.order("ORD-100001")  # the trial call fails: open again
        with pytest.raises(BusinessSystemsUnavailable, match=r"not called"):
            await client.order("ORD-100001")
        await asyncio.sleep(0.6)
        assert await client.order("ORD-100001") is not None  # the trial call closes it
        assert await client.customer("C-1") is not None
        assert len(api.control.requests) == 6


async def test_answers_that_are_not_outages_keep_the_circuit_closed(
    tmp_path: Path, api: BusinessApi
) -> None:
    async with http_backend(tmp_path, api.base_url, business_api_retries=0) as client:
        api.control.fail_next(4, status=409)
        api.control.garble_next(1)
        for _ in range(5):
            with pytest.raises(BusinessSystemsError):
                await client.order("ORD-100001")
        assert await client.order("ORD-404") is None
        assert await client.order("ORD-100001") is not None


@pytest.mark.parametrize("credentials", ["Bearer wrong-token", ""])
async def test_refused_credentials_are_a_clear_error(
    tmp_path: Path, api: BusinessApi, credentials: str
) -> None:
    async with http_backend(
        tmp_path, api.base_url, business_api_auth_value=SecretStr(credentials)
    ) as client:
        with pytest.raises(BusinessSystemsError) as raised:
            await client.customer("C-1")
    assert not isinstance(raised.value, BusinessSystemsUnavailable)
    assert str(raised.value) == (
        "business API customer: HTTP 401, our credentials were refused; check "
        "BUSINESS_API_AUTH_HEADER and BUSINESS_API_AUTH_VALUE"
    )
    assert len(api.control.requests) == 1


async def test_the_auth_header_name_is_a_setting(tmp_path: Path) -> None:
    async with (
        serving(sample(), auth_header="X-Api-Key", auth_value="key-1") as api,
        http_backend(
            tmp_path,
            api.base_url,
            business_api_auth_header="X-Api-Key",
            business_api_auth_value=SecretStr("key-1"),
        ) as client,
    ):
        assert await client.customer("C-1") is not None
    assert "authorization" not in api.control.requests[0].headers


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b'{"ref": ', "document: json_invalid"),
        (b"<html>oops</html>", "document: json_invalid"),
        (b'{"ref": 12, "name": "Ada", "email": null}', "ref: string_type; phone: missing"),
        (
            b'{"ref": "C-1", "name": "A", "email": null, "phone": null, "currency": "gbp"}',
            "currency: not an ISO 4217 code",
        ),
    ],
)
async def test_a_malformed_reply_is_an_error(
    client: HttpBusinessSystems, api: BusinessApi, body: bytes, problem: str
) -> None:
    api.control.garble_next(1, body)
    with pytest.raises(BusinessSystemsError) as raised:
        await client.customer("C-1")
    assert not isinstance(raised.value, BusinessSystemsUnavailable)
    assert str(raised.value).startswith("business API customer: malformed reply: ")
    assert problem.lower() in str(raised.value).lower()


async def test_a_time_without_offset_is_malformed(
    client: HttpBusinessSystems, api: BusinessApi
) -> None:
    body = (
        b'{"items": [{"ref": "TX-1", "account_ref": "A", "at": "2026-03-01T10:00:00",'
        b' "kind": "top_up", "amount": {"minor": 5, "currency": "GBP"}, "description": ""}]}'
    )
    api.control.garble_next(1, body)
    with pytest.raises(BusinessSystemsError, match=r"items\.0\.at: a time without a UTC"):
        await client.transactions("A")


def test_the_server_runs_in_a_thread_of_its_own() -> None:
    async def make() -> BusinessSystems:
        return sample()

    with running_in_thread(make, auth_value=AUTH) as api:
        reply = httpx.get(f"{api.base_url}/customers/C-1", headers={"Authorization": AUTH})
        refused = httpx.get(f"{api.base_url}/customers/C-1")
    assert reply.status_code == 200 and reply.json()["name"] == "Ada Lovelace"
    assert refused.status_code == 401
    assert refused.json() == {"code": "unauthorized", "detail": "missing or wrong credentials"}
