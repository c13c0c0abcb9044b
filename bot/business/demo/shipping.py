"""Carrier histories for the demo data: a shipment's scans, from label to doorstep, laid
out in time so that each history ends before `now` and reads like the carrier's own."""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.business.demo.catalogue import CARRIERS, DELIVERED_NOTES, WAREHOUSE
from bot.business.demo.tables import DemoShipment, DemoShipmentEvent
from bot.business.records import ShipmentStatus

Scan = tuple[ShipmentStatus, str, str | None]  # status, description, location


@dataclass(frozen=True)
class Leg:
    """What a shipment went through: from `shipped_at` to `last_scan_at`, ending in
    `status` (an exception's words in `exception`)."""

    carrier: str
    status: ShipmentStatus
    shipped_at: datetime
    last_scan_at: datetime
    town: str
    exception: str | None = None


def tracking_number(rng: random.Random, carrier: str) -> str:
    """A made-up number in the carrier's usual shape."""
    digits = string.digits
    if carrier == "Royal Mail":
        letters = "".join(rng.choices(string.ascii_uppercase, k=2))
        return f"{letters}{''.join(rng.choices(digits, k=9))}GB"
    if carrier == "DPD":
        return "1550" + "".join(rng.choices(digits, k=10))
    if carrier == "Evri":
        letters = "".join(rng.choices(string.ascii_uppercase, k=3))
        return f"H01{letters}{''.join(rng.choices(digits, k=10))}"
    return "".join(rng.choices(digits, k=10))


def scans(rng: random.Random, leg: Leg) -> list[Scan]:
    """The carrier's scans for this leg, oldest first."""
    hubs, depot_word = CARRIERS[leg.carrier]
    hub = rng.choice(hubs)
    route: list[Scan] = [
        (ShipmentStatus.LABEL_CREATED, f"Label created: {leg.carrier} is expecting it", None),
        (ShipmentStatus.IN_TRANSIT, "Collected from the sender", WAREHOUSE),
        (ShipmentStatus.IN_TRANSIT, f"Arrived at {hub}", hub),
        (ShipmentStatus.IN_TRANSIT, f"Left {hub}", hub),
        (ShipmentStatus.IN_TRANSIT, f"Arrived at {leg.town} {depot_word}", leg.town),
    ]
    ending: list[Scan]
    if leg.status is ShipmentStatus.LABEL_CREATED:
        return route[:1]
    if leg.status is ShipmentStatus.IN_TRANSIT:
        return route[: rng.randint(3, 5)]
    out_for_delivery: Scan = (ShipmentStatus.OUT_FOR_DELIVERY, "Out for delivery", leg.town)
    if leg.status is ShipmentStatus.OUT_FOR_DELIVERY:
        ending = [out_for_delivery]
    elif leg.status is ShipmentStatus.DELIVERED:
        ending = [
            out_for_delivery,
            (ShipmentStatus.DELIVERED, rng.choice(DELIVERED_NOTES), leg.town),
        ]
    else:
        words = leg.exception or "Delayed"
        # A failed attempt happens at the door; other delays happen at the depot.
        at_door = words.startswith("Attempted")
        ending = [out_for_delivery] if at_door else []
        ending.append((ShipmentStatus.EXCEPTION, words, leg.town))
    return route + ending


def events(rng: random.Random, leg: Leg) -> list[DemoShipmentEvent]:
    """The leg's scans as event rows, spread between shipping and the last scan."""
    steps = scans(rng, leg)
    times = _times(rng, leg, steps)
    return [
        DemoShipmentEvent(
            at=at.replace(microsecond=0), status=status.value, description=text, location=where
        )
        for at, (status, text, where) in zip(times, steps, strict=True)
    ]


def _times(rng: random.Random, leg: Leg, steps: list[Scan]) -> list[datetime]:
    ending: list[datetime] = []
    last = leg.last_scan_at
    if len(steps) > 2 and steps[-2][0] is ShipmentStatus.OUT_FOR_DELIVERY:
        # The van leaves in the morning and the door is reached hours later, not halfway
        # between the depot scan and delivery.
        out_at = max(last - timedelta(hours=rng.uniform(1.5, 5)), leg.shipped_at)
        ending, last, steps = [out_at, leg.last_scan_at], out_at, steps[:-2]
        if not steps:
            return ending
        last = out_at - (out_at - leg.shipped_at) / (len(steps) + 1)
    gap = (last - leg.shipped_at) / max(len(steps) - 1, 1)
    times = []
    for index in range(len(steps)):
        at = leg.shipped_at + gap * index
        if 0 < index < len(steps) - 1:
            # Not on the dot: carriers scan when the van or the belt gets there.
            at += gap * rng.uniform(-0.3, 0.3)
        times.append(at)
    return times + ending


def shipment(
    rng: random.Random, *, ref: str, order_ref: str, leg: Leg, eta: datetime | None
) -> DemoShipment:
    """A shipment row with its event history."""
    return DemoShipment(
        ref=ref,
        order_ref=order_ref,
        carrier=leg.carrier,
        tracking_number=tracking_number(rng, leg.carrier),
        status=leg.status.value,
        estimated_delivery=eta,
        tracking_url=None,
        events=events(rng, leg),
    )


def evening(day: datetime, *, not_before: datetime) -> datetime:
    """18:00 on `day` (when carriers promise "by end of day"), or later if that has passed."""
    promised = day.replace(hour=18, minute=0, second=0, microsecond=0)
    return max(promised, (not_before + timedelta(hours=2)).replace(second=0, microsecond=0))
