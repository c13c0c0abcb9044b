"""The business API's contract (`bot/business/openapi.yaml`): a valid OpenAPI 3.1 document
that covers the whole Protocol and matches the records, and both sides speak it: every
request the HTTP backend sends and every reply of the local server (over the seeded demo
backend), successes and errors alike, validate against it (openapi-core, offline)."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_spec_validator import validate
from werkzeug.datastructures import Headers, ImmutableMultiDict

from bot.business import records
from bot.business.http import HttpBusinessSystems
from bot.business.protocol import BusinessSystems, BusinessSystemsError
from bot.business.records import Money, RefundRequest
from bot.core.settings import PROJECT_ROOT
from bot.testing.business_api import BusinessApi, serving
from tests.support.business_fakes import AUTH, FAST, http_settings, seeded_demo

SPEC_PATH = PROJECT_ROOT / "bot" / "business" / "openapi.yaml"
# Each Protocol operation and the resource it calls.
RESOURCES = {
    "customer": ("get", "/customers/{customer_ref}"),
    "customer_by_phone": ("get", "/customers"),
    "customer_by_email": ("get", "/customers"),
    "order": ("get", "/orders/{order_ref}"),
    "orders": ("get", "/customers/{customer_ref}/orders"),
    "shipment": ("get", "/shipments/{shipment_ref}"),
    "accounts": ("get", "/customers/{customer_ref}/accounts"),
    "transactions": ("get", "/accounts/{account_ref}/transactions"),
    "payments": ("get", "/customers/{customer_ref}/payments"),
    "payment": ("get", "/payments/{payment_ref}"),
    "refunds": ("get", "/customers/{customer_ref}/refunds"),
    "request_refund": ("post", "/refunds"),
    "decide_refund": ("post", "/refunds/{refund_ref}/decision"),
}
SCHEMAS = {
    "Money": records.Money,
    "Customer": records.CustomerRecord,
    "OrderLine": records.OrderLine,
    "Order": records.Order,
    "ShipmentEvent": records.ShipmentEvent,
    "Shipment": records.Shipment,
    "Account": records.Account,
    "Transaction": records.Transaction,
    "Payment": records.Payment,
    "Refund": records.Refund,
    "RefundRequest": records.RefundRequest,
}


def _spec() -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    return spec


def test_the_contract_is_a_valid_openapi_3_1_document() -> None:
    spec = _spec()
    validate(spec)
    assert spec["openapi"].startswith("3.1.")
    assert spec["security"] == [{"ApiKey": []}]


def test_every_protocol_operation_has_its_resource() -> None:
    operations = {
        name
        for name, _ in inspect.getmembers(BusinessSystems, inspect.iscoroutinefunction)
        if not name.startswith("_") and name != "aclose"
    }
    assert operations == set(RESOURCES)
    paths = _spec()["paths"]
    for operation, (method, path) in RESOURCES.items():
        assert method in paths.get(path, {}), operation
        responses = paths[path][method]["responses"]
        assert {"401", "429", "5XX"} <= set(responses), operation
    assert "Idempotency-Key" in str(paths["/refunds"]["post"]["parameters"])


@pytest.mark.parametrize(("name", "record"), list(SCHEMAS.items()))
def test_the_schemas_match_the_records(name: str, record: type[Any]) -> None:
    schema = _spec()["components"]["schemas"][name]
    fields = {f.name: f for f in dataclasses.fields(record)}
    fields.pop("idempotency_key", None)  # a header, not a field of the body
    assert set(schema["properties"]) == set(fields)
    required = {
        name
        for name, f in fields.items()
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    assert set(schema["required"]) == required


@dataclass
class _Request:
    """An httpx request as openapi-core reads one."""

    host_url: str
    path: str
    method: str
    content_type: str
    body: bytes | None
    parameters: RequestParameters = field(default_factory=RequestParameters)


@dataclass
class _Response:
    """An httpx response as openapi-core reads one."""

    status_code: int
    content_type: str
    headers: Headers
    data: bytes


@dataclass
class _Exchange:
    request: httpx.Request
    response: httpx.Response


class _Recording(httpx.AsyncBaseTransport):
    """Sends for real and keeps every request with its reply."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.exchanges: list[_Exchange] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send, read the whole reply, keep both."""
        response = await self._inner.handle_async_request(request)
        await response.aread()
        self.exchanges.append(_Exchange(request, response))
        return response

    async def aclose(self) -> None:
        """Close the real transport."""
        await self._inner.aclose()


def _as_openapi(exchange: _Exchange) -> tuple[_Request, _Response]:
    request, response = exchange.request, exchange.response
    parameters = RequestParameters(
        query=ImmutableMultiDict(request.url.params.multi_items()),
        header=Headers(request.headers.multi_items()),
    )
    return (
        _Request(
            host_url=f"{request.url.scheme}://{request.url.netloc.decode()}",
            path=request.url.path,
            method=request.method.lower(),
            content_type=request.headers.get("content-type", ""),
            body=request.content or None,
            parameters=parameters,
        ),
        _Response(
            status_code=response.status_code,
            content_type=response.headers.get("content-type", ""),
            headers=Headers(response.headers.multi_items()),
            data=response.content,
        ),
    )


@pytest.fixture
async def demo_api(tmp_path: Path) -> AsyncIterator[BusinessApi]:
    """The local server over the seeded demo backend."""
    async with seeded_demo(tmp_path) as demo, serving(demo, auth_value=AUTH) as api:
        yield api


async def _every_kind_of_call(backend: HttpBusinessSystems, api: BusinessApi) -> None:
    """Each operation: found, not found, and the errors the contract names."""
    assert await backend.customer("C-10001")
    assert await backend.customer_by_phone("+447700900002")
    assert await backend.customer_by_email("chloe.davies@example.com")
    assert await backend.order("ORD-100002")
    assert await backend.orders("C-10001", limit=3)
    assert await backend.shipment("SHP-100008")
    assert await backend.accounts("C-10001")
    assert await backend.transactions("ACC-100001", limit=5)
    assert await backend.payments("C-10001")
    assert await backend.payment("PAY-100002")
    assert await backend.refunds("C-10003")
    assert await backend.customer("C-404") is None
    assert await backend.orders("C-404") == ()
    assert await backend.order("ORD-404") is None
    request = RefundRequest(
        "C-10001", "ORD-100005", Money(500, "GBP"), "Wrong size", approved=False,
        decided_by="policy:review", idempotency_key="contract-1",
    )  # fmt: skip
    refund = await backend.request_refund(request)
    assert await backend.request_refund(request) == refund
    await backend.decide_refund(refund.ref, approved=False, decided_by="agent:a@example.com")
    with pytest.raises(BusinessSystemsError, match="HTTP 409"):
        await backend.decide_refund(refund.ref, approved=True, decided_by="agent:a@x")
    with pytest.raises(BusinessSystemsError, match="HTTP 422"):
        await backend.request_refund(
            dataclasses.replace(request, customer_ref="C-10002", idempotency_key="contract-2")
        )
    api.control.fail_next(1, status=429, retry_after="0")
    api.control.fail_next(1, status=503)
    assert await backend.payment("PAY-100001")


async def test_both_sides_speak_the_contract(tmp_path: Path, demo_api: BusinessApi) -> None:
    spec = _spec() | {"servers": [{"url": demo_api.base_url}]}
    openapi = OpenAPI.from_dict(spec)
    recording = _Recording()
    backend = HttpBusinessSystems(
        http_settings(tmp_path, demo_api.base_url), backoff=FAST, transport=recording
    )
    try:
        await _every_kind_of_call(backend, demo_api)
    finally:
        await backend.aclose()
    statuses = sorted({exchange.response.status_code for exchange in recording.exchanges})
    assert statuses == [200, 201, 404, 409, 422, 429, 503]
    for exchange in recording.exchanges:
        request, response = _as_openapi(exchange)
        openapi.validate_request(request)
        openapi.validate_response(request, response)


@pytest.mark.parametrize(
    ("method", "target", "headers", "body", "status"),
    [
        ("GET", "/customers/C-10001", {"Authorization": "Bearer forged"}, None, 401),
        ("GET", "/customers", {}, None, 400),
        ("GET", "/customers?phone=%2B447700900001&email=a%40example.com", {}, None, 400),
        ("GET", "/customers/C-10001/orders?limit=0", {}, None, 400),
        ("GET", "/nowhere", {}, None, 404),
        ("POST", "/refunds", {}, b'{"customer_ref": "C-10001"}', 400),
        ("POST", "/refunds", {"Idempotency-Key": "k"}, b'{"customer_ref": "C-10001"}', 400),
        ("POST", "/refunds/RF-1/decision", {}, b'{"approved": "yes"}', 400),
    ],
)
async def test_bad_requests_get_the_contract_error_shape(
    demo_api: BusinessApi,
    method: str,
    target: str,
    headers: dict[str, str],
    body: bytes | None,
    status: int,
) -> None:
    openapi = OpenAPI.from_dict(_spec() | {"servers": [{"url": demo_api.base_url}]})
    recording = _Recording()
    async with httpx.AsyncClient(
        base_url=demo_api.base_url, transport=recording, headers={"Authorization": AUTH}
    ) as client:
        reply = await client.request(method, target, headers=headers, content=body)
    assert reply.status_code == status
    assert set(reply.json()) == {"code", "detail"}
    if target != "/nowhere":  # no resource there to check the reply against
        request, response = _as_openapi(recording.exchanges[0])
        openapi.validate_response(request, response)
