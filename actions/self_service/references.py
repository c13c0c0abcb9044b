"""Order numbers in what customers write: "ORD-482913", "order 482913", "ord482913"."""

from __future__ import annotations

import re

from rasa_sdk import Tracker

ORDER_REF = re.compile(r"\bord(?:er)?[\s#:-]*(\d{4,8})\b", re.IGNORECASE)


def order_ref_in(tracker: Tracker, *, latest: bool = True) -> str | None:
    """The order number the customer gave: in their latest message (an entity, or their
    words), else the one kept from their request (after verification, the latest message
    is the code, which must not be taken for an order number)."""
    values: list[object] = []
    if latest:
        entity = next(tracker.get_latest_entity_values("order_id"), None)
        values += [entity, f"ORD-{entity}" if entity else None, tracker.latest_message.get("text")]
    values.append(tracker.get_slot("order_id"))
    for value in values:
        match = ORDER_REF.search(str(value or ""))
        if match:
            return f"ORD-{match.group(1)}"
    return None
