"""The refund policy: which refunds the assistant approves at once and which go to a person.

Pure: it looks only at what it is given (the order, the amount, the customer's own words,
their recent refunds, the time), so the same inputs always give the same decision and the
rule that made it. Every limit comes from settings; rules are checked in a fixed order and
the first that refuses decides, so the named rule is the reason a person is needed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.business.records import Money, Order, OrderStatus, Refund, RefundStatus
from bot.core.settings import Settings

# The stable names of the rules, in the order they are checked (audit logs and the agent
# console show them; dialogue texts may be keyed on them).
ORDER_NOT_DELIVERED = "order_not_delivered"
ALREADY_REFUNDED = "already_refunded"
AMOUNT_INVALID = "amount_invalid"
AMOUNT_OVER_ORDER_TOTAL = "amount_over_order_total"
AMOUNT_OVER_LIMIT = "amount_over_limit"
TOO_LONG_SINCE_DELIVERY = "too_long_since_delivery"
REASON_NEEDS_REVIEW = "reason_needs_review"
TOO_MANY_RECENT_REFUNDS = "too_many_recent_refunds"
WITHIN_POLICY = "within_policy"
RULES = (
    ORDER_NOT_DELIVERED,
    ALREADY_REFUNDED,
    AMOUNT_INVALID,
    AMOUNT_OVER_ORDER_TOTAL,
    AMOUNT_OVER_LIMIT,
    TOO_LONG_SINCE_DELIVERY,
    REASON_NEEDS_REVIEW,
    TOO_MANY_RECENT_REFUNDS,
    WITHIN_POLICY,
)
RECENT = timedelta(days=90)


@dataclass(frozen=True)
class RefundDecision:
    """Approved at once or not, the rule that decided, and why in words for a person."""

    approved: bool
    rule: str
    explanation: str

    @property
    def decided_by(self) -> str:
        """How the business systems record who decided (`RefundRequest.decided_by`)."""
        return f"policy:{self.rule}"


def _reason_pattern(words: Iterable[str]) -> re.Pattern[str] | None:
    # Whole words only ("stolen" but not "crestolen"); a phrase matches across any spacing.
    alternatives = [r"\s+".join(map(re.escape, w.split())) for w in words if w.strip()]
    if not alternatives:
        return None
    return re.compile(r"\b(?:" + "|".join(alternatives) + r")\b", re.IGNORECASE)


@dataclass(frozen=True)
class RefundPolicy:
    """Limits for approving a refund without a person (see `Settings.refund_*`)."""

    auto_max_minor: int = 10_000
    max_days_since_delivery: int = 30
    max_in_90_days: int = 2
    review_reasons: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> RefundPolicy:
        """The policy configured in settings."""
        return cls(
            auto_max_minor=settings.refund_auto_max_minor,
            max_days_since_delivery=settings.refund_max_days_since_delivery,
            max_in_90_days=settings.refund_max_in_90_days,
            review_reasons=tuple(settings.refund_review_reasons),
        )

    def review_words(self, reason: str) -> list[str]:
        """The words of `reason` that send a refund to a person."""
        pattern = _reason_pattern(self.review_reasons)
        return [match.group(0) for match in pattern.finditer(reason)] if pattern else []

    def decide(
        self,
        *,
        order: Order,
        amount: Money,
        reason: str,
        recent_refunds: Sequence[Refund],
        now: datetime,
    ) -> RefundDecision:
        """Approve a refund of `amount` on `order` at once, or say which rule needs a person.

        `recent_refunds` are the customer's refunds (any age: those older than 90 days are
        ignored); rejected ones do not count. A customer who already had
        `max_in_90_days` refunds in 90 days goes to a person.
        """
        live = [r for r in recent_refunds if r.status is not RefundStatus.REJECTED]
        refusal = (
            self._delivery(order, live)
            or self._amount(order, amount)
            or self._circumstances(order, reason, live, now)
        )
        return refusal or RefundDecision(
            True, WITHIN_POLICY, f"{amount.formatted()} on {order.ref} is within the policy."
        )

    def _delivery(self, order: Order, refunds: Sequence[Refund]) -> RefundDecision | None:
        if order.status is not OrderStatus.DELIVERED or order.delivered_at is None:
            return _refuse(
                ORDER_NOT_DELIVERED, f"{order.ref} is {order.status.value.replace('_', ' ')}."
            )
        earlier = [r.ref for r in refunds if r.order_ref == order.ref]
        if earlier:
            return _refuse(
                ALREADY_REFUNDED, f"{order.ref} already has a refund ({', '.join(earlier)})."
            )
        return None

    def _amount(self, order: Order, amount: Money) -> RefundDecision | None:
        if amount.minor <= 0 or amount.currency != order.total.currency:
            return _refuse(
                AMOUNT_INVALID,
                f"{amount.formatted()} is not a positive amount in {order.total.currency}.",
            )
        if amount.minor > order.total.minor:
            return _refuse(
                AMOUNT_OVER_ORDER_TOTAL,
                f"{amount.formatted()} is more than the order's total, {order.total.formatted()}.",
            )
        if amount.minor > self.auto_max_minor:
            limit = Money(self.auto_max_minor, amount.currency).formatted()
            return _refuse(
                AMOUNT_OVER_LIMIT,
                f"{amount.formatted()} is over the {limit} limit for automatic refunds.",
            )
        return None

    def _circumstances(
        self, order: Order, reason: str, refunds: Sequence[Refund], now: datetime
    ) -> RefundDecision | None:
        assert order.delivered_at is not None  # checked by _delivery first
        days = (now - order.delivered_at) / timedelta(days=1)
        if days > self.max_days_since_delivery:
            return _refuse(
                TOO_LONG_SINCE_DELIVERY,
                f"{order.ref} was delivered {int(days)} days ago; the limit is "
                f"{self.max_days_since_delivery}.",
            )
        if words := self.review_words(reason):
            quoted = ", ".join(f'"{word}"' for word in dict.fromkeys(w.lower() for w in words))
            return _refuse(REASON_NEEDS_REVIEW, f"The reason mentions {quoted}.")
        recent = [r for r in refunds if now - r.requested_at <= RECENT]
        if len(recent) >= self.max_in_90_days:
            return _refuse(
                TOO_MANY_RECENT_REFUNDS,
                f"{len(recent)} refunds in the last 90 days already; the limit is "
                f"{self.max_in_90_days}.",
            )
        return None


def _refuse(rule: str, explanation: str) -> RefundDecision:
    return RefundDecision(False, rule, f"{explanation} A person decides.")
