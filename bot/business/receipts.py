"""Receipts for payments: a PDF for email attachments and web chat links, and text for SMS
and voice (or a chat message). Rendered from the business records alone."""

from __future__ import annotations

from datetime import datetime

from fpdf import FPDF

from bot.business.records import CustomerRecord, Money, Order, Payment, PaymentMethod

METHOD_NAMES = {
    PaymentMethod.CARD: "Card",
    PaymentMethod.PAYPAL: "PayPal",
    PaymentMethod.STORE_CREDIT: "Store credit",
    PaymentMethod.BANK_TRANSFER: "Bank transfer",
}
# The PDF's standard fonts speak Windows-1252 (£, €, • included); anything else in a name
# or a product is replaced rather than failing the whole receipt.
PDF_ENCODING = "cp1252"


def method_text(payment: Payment, *, spoken: bool = False) -> str:
    """How it was paid, the card masked: "Card •••• 4242" (spoken: "card ending 4242")."""
    name = METHOD_NAMES.get(payment.method, payment.method.value.replace("_", " "))
    if payment.method is not PaymentMethod.CARD or not payment.card_last4:
        return name.lower() if spoken else name
    return f"card ending {payment.card_last4}" if spoken else f"Card •••• {payment.card_last4}"


def _date(at: datetime) -> str:
    return f"{at.day} {at:%B %Y}"


def receipt_text(payment: Payment, order: Order | None, *, short: bool) -> str:
    """The receipt as text: one sentence (`short`, for SMS and voice) or a full listing."""
    paid = payment.amount.formatted()
    for_order = f" for order {order.ref}" if order else ""
    if short:
        return (
            f"Receipt {payment.ref}: {paid} paid on {_date(payment.at)} by "
            f"{method_text(payment, spoken=True)}{for_order}."
        )
    lines = [f"Receipt {payment.ref}", f"Date: {_date(payment.at)}"]
    if order is not None:
        lines.append(f"Order: {order.ref}")
        for line in order.lines:
            amount = Money(line.unit_price.minor * line.quantity, line.unit_price.currency)
            lines.append(f"  {line.quantity} x {line.description}: {amount.formatted()}")
        if order.total != payment.amount:
            lines.append(f"Order total: {order.total.formatted()}")
    lines += [f"Paid: {paid}", f"Payment method: {method_text(payment)}"]
    return "\n".join(lines)


def _encodable(text: str) -> str:
    return text.encode(PDF_ENCODING, errors="replace").decode(PDF_ENCODING)


class _Receipt(FPDF):
    """A one-page A4 receipt; text goes through `write_row`, made safe for the fonts."""

    def __init__(self, at: datetime) -> None:
        super().__init__(format="A4")
        self.core_fonts_encoding = PDF_ENCODING
        # Stamped with the payment's time, not the rendering's: the same payment gives
        # the same document.
        self.set_creation_date(at)
        self.set_margins(20, 20, 20)
        self.add_page()

    def write_row(self, *cells: tuple[str, float, str], size: int = 10, bold: bool = False) -> None:
        """One line of cells: (text, width in mm, alignment "L"/"R")."""
        self.set_font("Helvetica", "B" if bold else "", size)
        for text, width, align in cells:
            self.cell(width, 7, _encodable(text), align=align)
        self.ln(7)


def receipt_pdf(
    payment: Payment, customer: CustomerRecord, order: Order | None, *, company: str = ""
) -> bytes:
    """The receipt as a PDF document (header, date, order lines, total, payment method)."""
    pdf = _Receipt(payment.at)
    pdf.set_title(f"Receipt {payment.ref}")
    pdf.write_row((f"{company} receipt" if company else "Receipt", 0, "L"), size=20, bold=True)
    pdf.ln(3)
    pdf.write_row(("Receipt number", 45, "L"), (payment.ref, 0, "L"))
    pdf.write_row(("Date", 45, "L"), (_date(payment.at), 0, "L"))
    pdf.write_row(("Customer", 45, "L"), (f"{customer.name} ({customer.ref})", 0, "L"))
    if order is not None:
        pdf.write_row(("Order", 45, "L"), (order.ref, 0, "L"))
        pdf.ln(4)
        pdf.write_row(
            ("Item", 95, "L"), ("Qty", 15, "R"), ("Price", 30, "R"), ("Amount", 30, "R"), bold=True
        )
        for line in order.lines:
            amount = Money(line.unit_price.minor * line.quantity, line.unit_price.currency)
            pdf.write_row(
                (line.description[:55], 95, "L"),
                (str(line.quantity), 15, "R"),
                (line.unit_price.formatted(), 30, "R"),
                (amount.formatted(), 30, "R"),
            )
        pdf.line(20, pdf.get_y(), 190, pdf.get_y())
        pdf.write_row(("Order total", 140, "L"), (order.total.formatted(), 30, "R"), bold=True)
    pdf.ln(4)
    pdf.write_row(("Amount paid", 140, "L"), (payment.amount.formatted(), 30, "R"), bold=True)
    pdf.write_row(("Paid by", 45, "L"), (method_text(payment), 0, "L"))
    pdf.ln(6)
    pdf.write_row(("Thank you for your order. Keep this receipt for your records.", 0, "L"), size=9)
    return bytes(pdf.output())
