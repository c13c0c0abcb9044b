"""The business API's wire format (`openapi.yaml`): records to JSON and back, validated.

Both sides use it: the HTTP backend to read replies and write requests, the local contract
server (`bot.testing.business_api`) to answer. The JSON is the records' own shape (money as
`{"minor": 1250, "currency": "GBP"}`, times as RFC 3339 with an offset), collections are
`{"items": [...]}`. Reading is strict (no "12" for 12, no 12.5 for minor units) and fields
the assistant does not know are ignored, so a company may add its own.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import TypeAdapter, ValidationError

from bot.business.records import RefundRequest

T = TypeVar("T")
_CURRENCY = re.compile(r"[A-Z]{3}")
# What a refund request carries in its body: the idempotency key travels as a header.
_HEADER_ONLY = frozenset({"idempotency_key"})


class WireError(ValueError):
    """A document that does not follow the contract; the text says where, never the values."""


@dataclasses.dataclass(frozen=True)
class _Items(Generic[T]):
    items: list[T]


@dataclasses.dataclass(frozen=True)
class RefundDecision:
    """The body of POST /refunds/{ref}/decision."""

    approved: bool
    decided_by: str


# Building an adapter compiles a validator: once per type, on first use.
_ADAPTERS: dict[object, TypeAdapter[Any]] = {}


def _adapter(kind: object) -> TypeAdapter[Any]:
    adapter = _ADAPTERS.get(kind)
    if adapter is None:
        adapter = _ADAPTERS[kind] = TypeAdapter(kind)
    return adapter


def dump(record: Any) -> dict[str, Any]:
    """A record (or a decision) as a JSON-ready dict."""
    data: dict[str, Any] = _adapter(type(record)).dump_python(record, mode="json")
    return data


def dump_items(records: Any) -> dict[str, Any]:
    """A sequence of records as the contract's `{"items": [...]}`."""
    return {"items": [dump(record) for record in records]}


def load(kind: type[T], content: bytes | str) -> T:
    """One record of `kind` from a JSON document; `WireError` if it breaks the contract."""
    try:
        record: T = _adapter(kind).validate_json(content, strict=True)
    except ValidationError as error:
        raise WireError(_summary(error)) from None
    _check(record, "")
    return record


def load_items(kind: type[T], content: bytes | str) -> tuple[T, ...]:
    """The records of a `{"items": [...]}` document; `WireError` if it breaks the contract."""
    try:
        items = _Items[kind]  # type: ignore[valid-type]
        page = _adapter(items).validate_json(content, strict=True)
    except ValidationError as error:
        raise WireError(_summary(error)) from None
    records: tuple[T, ...] = tuple(page.items)
    for index, record in enumerate(records):
        _check(record, f"items.{index}")
    return records


def refund_request_body(request: RefundRequest) -> dict[str, Any]:
    """The JSON body of POST /refunds (the idempotency key goes in its header)."""
    return {k: v for k, v in dump(request).items() if k not in _HEADER_ONLY}


def load_refund_request(content: bytes | str, idempotency_key: str) -> RefundRequest:
    """A refund request from a POST /refunds body and its Idempotency-Key header."""
    request = load(RefundRequest, content)
    return dataclasses.replace(request, idempotency_key=idempotency_key)


def error_body(code: str, detail: str) -> dict[str, str]:
    """The contract's one error shape."""
    return {"code": code, "detail": detail}


def error_detail(content: bytes) -> str:
    """The `detail` of an error reply, or "" when the reply has none we can read."""
    try:
        body = _adapter(dict[str, Any]).validate_json(content)
    except ValidationError:
        return ""
    detail = body.get("detail")
    # A server's text, shown in our errors: kept short so a page of HTML never floods a log.
    return detail[:200] if isinstance(detail, str) else ""


def _summary(error: ValidationError) -> str:
    # Locations and kinds only: the values may be a customer's personal data.
    problems = [
        f"{'.'.join(str(part) for part in item['loc']) or 'document'}: {item['type']}"
        for item in error.errors(include_input=False, include_url=False)[:3]
    ]
    more = error.error_count() - len(problems)
    return "; ".join(problems) + (f" (and {more} more)" if more > 0 else "")


def _check(value: object, where: str) -> None:
    """What the types alone do not say: times carry an offset, currencies are ISO 4217."""
    if isinstance(value, datetime):
        # A naive time would be compared with aware ones later (days since delivery).
        if value.tzinfo is None:
            raise WireError(f"{where or 'document'}: a time without a UTC offset")
    elif isinstance(value, tuple):
        for index, item in enumerate(value):
            _check(item, _within(where, index))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            item = getattr(value, field.name)
            if field.name == "currency" and not _CURRENCY.fullmatch(item):
                raise WireError(f"{_within(where, field.name)}: not an ISO 4217 code")
            _check(item, _within(where, field.name))


def _within(where: str, part: str | int) -> str:
    # The same notation as pydantic's locations: `lines.0.unit_price`.
    return f"{where}.{part}" if where else str(part)
