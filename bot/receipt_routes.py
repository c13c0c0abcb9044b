"""A payment's receipt as a PDF, behind the signed link the assistant gives on web chat and
email: the link names the payment and its customer, and nothing else opens it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response

from bot.business.protocol import BusinessSystems, BusinessSystemsError
from bot.business.receipt_links import read_receipt_token
from bot.business.receipts import receipt_pdf
from bot.core.settings import Settings

router = APIRouter(prefix="/receipts", tags=["receipts"])


def _business(request: Request) -> BusinessSystems:
    business: BusinessSystems = request.app.state.business
    return business


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


BusinessDep = Annotated[BusinessSystems, Depends(_business)]
SettingsDep = Annotated[Settings, Depends(_settings)]


@router.get("/{token}", response_class=Response)
async def receipt(token: str, business: BusinessDep, settings: SettingsDep) -> Response:
    """The receipt PDF of the payment the link names (404 for any other link)."""
    found = read_receipt_token(settings, token)
    if found is None:
        raise HTTPException(status_code=404, detail="This receipt link is not valid any more.")
    payment_ref, customer_ref = found
    try:
        payment = await business.payment(payment_ref)
        customer = await business.customer(customer_ref)
        if payment is None or customer is None or payment.customer_ref != customer_ref:
            raise HTTPException(status_code=404, detail="This receipt link is not valid any more.")
        order = await business.order(payment.order_ref) if payment.order_ref else None
    except BusinessSystemsError as error:
        raise HTTPException(
            status_code=503, detail="Receipts can't be fetched right now; try again later."
        ) from error
    return Response(
        receipt_pdf(payment, customer, order),
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="receipt-{payment.ref}.pdf"',
            "Cache-Control": "private, no-store",
        },
    )
