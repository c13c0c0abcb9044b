"""The fixed demo personas that tests and the README rely on; their dates are relative to
the moment of seeding, so "delivered 3 days ago" stays true.

The personas (`PERSONAS`), always present with the same references (money in GBP):

- C-10001 Alice Morgan, +447700900001, alice.morgan@example.com, prefers SMS.
  ORD-100001 delivered 3 days ago, £32.50, card ending 4242 (PAY-100001, Royal Mail
  SHP-100001): under the automatic refund limit. ORD-100002 shipped, in transit with DPD
  (SHP-100002), ETA tomorrow, PayPal (PAY-100002). ORD-100005 delivered 12 days ago,
  £22.50 paid with store credit (PAY-100005, Evri SHP-100005). Store credit ACC-100001
  (number 633800100001): £60.00 after 5 transactions TX-10000001..TX-10000005.
- C-10002 Bilal Khan, +447700900002, bilal.khan@example.com, VIP, prefers voice.
  ORD-100003 delivered 2 days ago, £649.00 (over the automatic refund limit), card ending
  8210 (PAY-100003, DHL SHP-100003).
- C-10003 Chloe Davies, +447700900003, chloe.davies@example.com, prefers email.
  ORD-100004 delivered 4 days ago, £45.00, card ending 1881 (PAY-100004). Already 2 paid
  refunds in the last 90 days: RF-10000001 (£14.99 of ORD-100006, 60 days ago) and
  RF-10000002 (£39.00, ORD-100007 returned, 33 days ago).
- C-10004 Daniel Evans, +447700900004, daniel.evans@example.com, prefers web chat.
  ORD-100008 shipped, held by Evri (SHP-100008): "Delayed: address query", ETA in 3 days;
  ORD-100009 processing (placed a few hours ago, no shipment yet).

Generated customers (see `generate`) are C-10101 onwards, phones +447700900100 upwards.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.business.demo.generate import Line
from bot.business.records import OrderStatus, PaymentMethod, PreferredChannel, TransactionKind


@dataclass(frozen=True)
class PersonaOrder:
    """One of a persona's orders; times in days before `now`."""

    ref: str
    status: OrderStatus
    placed_days_ago: float
    lines: tuple[Line, ...]
    payment_ref: str
    method: PaymentMethod
    card_last4: str | None = None
    carrier: str | None = None  # None: no shipment
    shipment_ref: str | None = None
    delivered_days_ago: float | None = None
    eta_days: int = 1  # for a shipment on its way: expected this many days after `now`
    exception: str | None = None  # the carrier's words when the parcel is held

    @property
    def total_minor(self) -> int:
        """The order's total in pence."""
        return sum(quantity * price for _, _, quantity, price in self.lines)


@dataclass(frozen=True)
class PersonaRefund:
    """A refund a persona already had (paid a few days after it was asked for)."""

    ref: str
    order_ref: str
    amount_minor: int
    reason: str
    requested_days_ago: float


@dataclass(frozen=True)
class PersonaCredit:
    """A store-credit transaction (negative: spent)."""

    ref: str
    days_ago: float
    kind: TransactionKind
    amount_minor: int
    description: str


@dataclass(frozen=True)
class Persona:
    """A fixed demo customer (see the module's docstring)."""

    ref: str
    name: str
    phone: str
    email: str
    preferred_channel: PreferredChannel
    orders: tuple[PersonaOrder, ...]
    vip: bool = False
    town: str = "Leeds"
    refunds: tuple[PersonaRefund, ...] = ()
    account_ref: str | None = None
    account_number: str | None = None
    credits: tuple[PersonaCredit, ...] = ()

    def order(self, ref: str) -> PersonaOrder:
        """One of this persona's orders by its number."""
        return next(order for order in self.orders if order.ref == ref)


ALICE = Persona(
    ref="C-10001",
    name="Alice Morgan",
    phone="+447700900001",
    email="alice.morgan@example.com",
    preferred_channel=PreferredChannel.SMS,
    town="Bristol",
    orders=(
        PersonaOrder(
            ref="ORD-100001",
            status=OrderStatus.DELIVERED,
            placed_days_ago=6,
            delivered_days_ago=3,
            lines=(
                ("KIT-DRIP-01", "Ceramic pour-over coffee dripper", 1, 2400),
                ("COF-GRD-250", "Colombian ground coffee, 250 g", 1, 850),
            ),
            payment_ref="PAY-100001",
            method=PaymentMethod.CARD,
            card_last4="4242",
            carrier="Royal Mail",
            shipment_ref="SHP-100001",
        ),
        PersonaOrder(
            ref="ORD-100002",
            status=OrderStatus.SHIPPED,
            placed_days_ago=2,
            lines=(
                ("AUD-NCH-700", "Wireless noise-cancelling headphones", 1, 7999),
                ("CBL-USBC-2M", "USB-C charging cable, 2 m", 1, 1000),
            ),
            payment_ref="PAY-100002",
            method=PaymentMethod.PAYPAL,
            carrier="DPD",
            shipment_ref="SHP-100002",
            eta_days=1,
        ),
        PersonaOrder(
            ref="ORD-100005",
            status=OrderStatus.DELIVERED,
            placed_days_ago=16,
            delivered_days_ago=12,
            lines=(("HOM-CNDL-3", "Soy wax candles, set of 3", 1, 2250),),
            payment_ref="PAY-100005",
            method=PaymentMethod.STORE_CREDIT,
            carrier="Evri",
            shipment_ref="SHP-100005",
        ),
    ),
    account_ref="ACC-100001",
    account_number="633800100001",
    credits=(
        PersonaCredit("TX-10000001", 75, TransactionKind.TOP_UP, 5000, "Gift card redeemed"),
        PersonaCredit(
            "TX-10000002", 50, TransactionKind.ADJUSTMENT, 500, "Goodwill credit: late delivery"
        ),
        PersonaCredit("TX-10000003", 30, TransactionKind.TOP_UP, 2500, "Store credit top-up"),
        PersonaCredit("TX-10000004", 16, TransactionKind.PURCHASE, -2250, "Order ORD-100005"),
        PersonaCredit(
            "TX-10000005", 8, TransactionKind.ADJUSTMENT, 250, "Price match on ORD-100005"
        ),
    ),
)

BILAL = Persona(
    ref="C-10002",
    name="Bilal Khan",
    phone="+447700900002",
    email="bilal.khan@example.com",
    preferred_channel=PreferredChannel.VOICE,
    vip=True,
    town="Manchester",
    orders=(
        PersonaOrder(
            ref="ORD-100003",
            status=OrderStatus.DELIVERED,
            placed_days_ago=5,
            delivered_days_ago=2,
            lines=(("KIT-ESP-PRO", "Espresso machine with built-in grinder", 1, 64900),),
            payment_ref="PAY-100003",
            method=PaymentMethod.CARD,
            card_last4="8210",
            carrier="DHL",
            shipment_ref="SHP-100003",
        ),
    ),
)

CHLOE = Persona(
    ref="C-10003",
    name="Chloe Davies",
    phone="+447700900003",
    email="chloe.davies@example.com",
    preferred_channel=PreferredChannel.EMAIL,
    town="Cardiff",
    orders=(
        PersonaOrder(
            ref="ORD-100004",
            status=OrderStatus.DELIVERED,
            placed_days_ago=7,
            delivered_days_ago=4,
            lines=(("BED-LIN-DBL", "Linen duvet cover, double", 1, 4500),),
            payment_ref="PAY-100004",
            method=PaymentMethod.CARD,
            card_last4="1881",
            carrier="Royal Mail",
            shipment_ref="SHP-100004",
        ),
        PersonaOrder(
            ref="ORD-100006",
            status=OrderStatus.DELIVERED,
            placed_days_ago=70,
            delivered_days_ago=66,
            lines=(
                ("CLO-JMP-M", "Merino wool jumper, size M", 1, 5900),
                ("CLO-SCK-5", "Bamboo socks, 5 pairs", 1, 1499),
            ),
            payment_ref="PAY-100006",
            method=PaymentMethod.PAYPAL,
            carrier="Evri",
            shipment_ref="SHP-100006",
        ),
        PersonaOrder(
            ref="ORD-100007",
            status=OrderStatus.RETURNED,
            placed_days_ago=40,
            delivered_days_ago=36,
            lines=(("SHO-TRN-6", "Canvas trainers, UK 6", 1, 3900),),
            payment_ref="PAY-100007",
            method=PaymentMethod.CARD,
            card_last4="1881",
            carrier="DPD",
            shipment_ref="SHP-100007",
        ),
    ),
    refunds=(
        PersonaRefund("RF-10000001", "ORD-100006", 1499, "The socks arrived with a hole", 60),
        PersonaRefund("RF-10000002", "ORD-100007", 3900, "Too small, sent them back", 33),
    ),
)

DANIEL = Persona(
    ref="C-10004",
    name="Daniel Evans",
    phone="+447700900004",
    email="daniel.evans@example.com",
    preferred_channel=PreferredChannel.WEBCHAT,
    town="Swansea",
    orders=(
        PersonaOrder(
            ref="ORD-100008",
            status=OrderStatus.SHIPPED,
            placed_days_ago=4,
            lines=(("GAR-HOSE-15", "Expanding garden hose, 15 m", 1, 2799),),
            payment_ref="PAY-100008",
            method=PaymentMethod.CARD,
            card_last4="3005",
            carrier="Evri",
            shipment_ref="SHP-100008",
            eta_days=3,
            exception="Delayed: address query",
        ),
        PersonaOrder(
            ref="ORD-100009",
            status=OrderStatus.PROCESSING,
            placed_days_ago=0.2,
            lines=(("TOY-BRK-500", "Wooden building bricks, 500 pieces", 1, 3499),),
            payment_ref="PAY-100009",
            method=PaymentMethod.PAYPAL,
        ),
    ),
)

PERSONAS: tuple[Persona, ...] = (ALICE, BILAL, CHLOE, DANIEL)
