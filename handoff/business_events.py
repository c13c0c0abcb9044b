"""Events the company's business systems send us (the HTTP backend's side of proactive
updates): `POST /business/events`, signed with HMAC-SHA256 over the raw body.

The signature is checked before the body is read as JSON (403 when missing or wrong, or when
no secret is configured); the event itself is not trusted further than naming a refund: the
refund is looked up in the business systems, and only one they say is paid is announced.

    X-Business-Signature: sha256=<hex of HMAC-SHA256(secret, body)>
    {"type": "refund.paid", "refund_ref": "RF-10000001", "customer_ref": "C-10001"}
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field, ValidationError

from bot.business.protocol import BusinessSystems, BusinessSystemsError
from bot.business.records import RefundStatus
from bot.core.deps import SettingsDep, from_app_state
from bot.core.settings import Settings
from handoff.updates import CustomerUpdates

router = APIRouter(prefix="/business", tags=["business"])
SIGNATURE_HEADER = "X-Business-Signature"
SIGNATURE_PREFIX = "sha256="
# Refunds looked through for the one an event names (the newest first).
REFUNDS_LOOKED_AT = 50

UpdatesDep = Annotated[CustomerUpdates, from_app_state("customer_updates")]
BusinessDep = Annotated[BusinessSystems, from_app_state("business")]


class RefundPaid(BaseModel):
    type: Literal["refund.paid"]
    refund_ref: str = Field(min_length=1, max_length=64)
    customer_ref: str = Field(min_length=1, max_length=64)


def sign(body: bytes, secret: str) -> str:
    """The signature header's value for `body` (what the business systems send)."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_PREFIX}{digest}"


def webhook_secret(settings: Settings) -> str:
    """The shared secret of business events; empty: every event is refused."""
    return settings.business_webhook_secret.get_secret_value()


def check_signature(body: bytes, signature: str | None, secret: str) -> None:
    """403 unless `signature` is `body`'s, with `secret` (compared in constant time)."""
    if not secret:
        raise HTTPException(403, "Business events are not accepted: no secret is configured.")
    if not signature:
        raise HTTPException(403, f"Missing {SIGNATURE_HEADER}.")
    if not hmac.compare_digest(signature.strip().encode(), sign(body, secret).encode()):
        raise HTTPException(403, f"Invalid {SIGNATURE_HEADER}.")


@router.post(
    "/events",
    responses={
        403: {"description": "Missing or wrong signature"},
        422: {"description": "Not an event we know"},
        503: {"description": "The business systems did not answer: send it again later"},
    },
)
async def business_event(
    request: Request, settings: SettingsDep, business: BusinessDep, updates: UpdatesDep
) -> dict[str, Any]:
    """A refund was paid: the customer is told on their preferred channel (once, however
    often the event is sent)."""
    body = await request.body()
    check_signature(body, request.headers.get(SIGNATURE_HEADER), webhook_secret(settings))
    try:
        event = RefundPaid.model_validate(json.loads(body))
    except (ValueError, ValidationError) as error:
        raise HTTPException(
            422, "Expected a refund.paid event with refund_ref and customer_ref."
        ) from error
    try:
        refunds = await business.refunds(event.customer_ref, limit=REFUNDS_LOOKED_AT)
    except BusinessSystemsError as error:
        raise HTTPException(503, "The business systems did not answer; send it again.") from error
    refund = next((r for r in refunds if r.ref == event.refund_ref), None)
    if refund is None or refund.status is not RefundStatus.PAID:
        return {"status": "ignored", "detail": "No such paid refund for this customer."}
    notice = await updates.refund_paid(refund)
    return {"status": "notified" if notice is not None else "not_notified"}
