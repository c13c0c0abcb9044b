"""Receipts: a real PDF whose text carries the payment, and short and long texts."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from pypdf import PdfReader

from bot.business.receipts import method_text, receipt_pdf, receipt_text
from bot.business.records import (
    CustomerRecord,
    Money,
    Order,
    OrderLine,
    OrderStatus,
    Payment,
    PaymentMethod,
)

AT = datetime(2026, 2, 25, 12, 0, 30, tzinfo=UTC)
CUSTOMER = CustomerRecord(
    ref="C-10001", name="Alice Morgan", email="alice.morgan@example.com", phone="+447700900001"
)
ORDER = Order(
    ref="ORD-100001",
    customer_ref="C-10001",
    status=OrderStatus.DELIVERED,
    placed_at=AT,
    total=Money(4100, "GBP"),
    lines=(
        OrderLine("KIT-DRIP-01", "Ceramic pour-over coffee dripper", 1, Money(2400, "GBP")),
        OrderLine("COF-GRD-250", "Colombian ground coffee, 250 g", 2, Money(850, "GBP")),
    ),
)
PAYMENT = Payment(
    ref="PAY-100001",
    customer_ref="C-10001",
    order_ref="ORD-100001",
    at=AT,
    amount=Money(4100, "GBP"),
    method=PaymentMethod.CARD,
    card_last4="4242",
)


def _text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def test_the_pdf_is_a_real_pdf_with_the_payment_in_it() -> None:
    pdf = receipt_pdf(PAYMENT, CUSTOMER, ORDER, company="Acme Home")
    assert pdf.startswith(b"%PDF")
    text = _text(pdf)
    for expected in (
        "Acme Home receipt",
        "PAY-100001",
        "25 February 2026",
        "Alice Morgan (C-10001)",
        "ORD-100001",
        "Ceramic pour-over coffee dripper",
        "£24.00",
        "£8.50",
        "£17.00",  # two bags of coffee
        "£41.00",
        "Card •••• 4242",
    ):
        assert expected in text, expected
    assert PdfReader(io.BytesIO(pdf)).metadata.title == "Receipt PAY-100001"  # type: ignore[union-attr]


def test_the_same_payment_gives_the_same_pdf() -> None:
    assert receipt_pdf(PAYMENT, CUSTOMER, ORDER) == receipt_pdf(PAYMENT, CUSTOMER, ORDER)


def test_a_payment_without_an_order_and_other_methods_render() -> None:
    paypal = Payment(
        ref="PAY-200001",
        customer_ref="C-10001",
        order_ref=None,
        at=AT,
        amount=Money(1999, "EUR"),
        method=PaymentMethod.PAYPAL,
    )
    text = _text(receipt_pdf(paypal, CUSTOMER, None))
    assert "€19.99" in text and "PayPal" in text and "Order" not in text.split("Amount paid")[0]


def test_letters_the_pdf_fonts_lack_do_not_break_the_receipt() -> None:
    customer = CustomerRecord(ref="C-10200", name="Łucja Żółć 李", email=None, phone=None)
    text = _text(receipt_pdf(PAYMENT, customer, ORDER))
    assert "C-10200" in text and "£41.00" in text


def test_the_short_text_fits_an_sms_and_reads_aloud() -> None:
    short = receipt_text(PAYMENT, ORDER, short=True)
    assert short == (
        "Receipt PAY-100001: £41.00 paid on 25 February 2026 by card ending 4242 "
        "for order ORD-100001."
    )
    assert len(short) <= 160 and "\n" not in short


def test_the_long_text_lists_the_lines() -> None:
    text = receipt_text(PAYMENT, ORDER, short=False)
    assert text.splitlines() == [
        "Receipt PAY-100001",
        "Date: 25 February 2026",
        "Order: ORD-100001",
        "  1 x Ceramic pour-over coffee dripper: £24.00",
        "  2 x Colombian ground coffee, 250 g: £17.00",
        "Paid: £41.00",
        "Payment method: Card •••• 4242",
    ]


def test_the_method_is_named_and_the_card_masked() -> None:
    assert method_text(PAYMENT) == "Card •••• 4242"
    assert method_text(PAYMENT, spoken=True) == "card ending 4242"
    credit = Payment("PAY-1", "C-1", None, AT, Money(100, "GBP"), PaymentMethod.STORE_CREDIT)
    assert method_text(credit) == "Store credit"
    assert receipt_text(credit, None, short=True) == (
        "Receipt PAY-1: £1.00 paid on 25 February 2026 by store credit."
    )
