"""Reading complaint details out of what customers write: category, order number, outcome.

Plain keyword rules for now; the NLP services will classify with a model later.
"""

from __future__ import annotations

import re

from bot.core.models import Priority

CATEGORY_LABELS: dict[str, str] = {
    "damaged_item": "damaged item",
    "wrong_item": "wrong or missing item",
    "delivery": "late or lost delivery",
    "billing": "billing or payment",
    "refund": "refund",
    "fraud": "fraud or unauthorised payment",
    "product_quality": "faulty product",
    "service": "staff or service",
    "account": "account access",
    "other": "something else",
}

# Checked in this order: the first category whose pattern matches wins.
_CATEGORY_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (category, re.compile(pattern, re.IGNORECASE))
    for category, pattern in [
        (
            "fraud",
            r"\b(fraud\w*|unauthori[sz]ed|scam\w*|hacked|stolen|never (made|authori[sz]ed)|didn'?t (make|authori[sz]e))\b",
        ),
        (
            "damaged_item",
            r"\b(damaged?|broken on arrival|arrived (broken|crushed|smashed)|smashed|crushed|cracked|dented|soaked|shattered|torn)\b",
        ),
        (
            "wrong_item",
            r"\b(wrong (item|size|colou?r|product|order)|not what i ordered|missing (item|part)s?|items? (were |was )?missing|empty (box|parcel)|used item|half the items)\b",
        ),
        (
            "delivery",
            r"\b(late|never (arrived|came|turned up)|(hasn'?t|has not|didn'?t|did not|not) (arrived|come|been delivered)|lost|delay\w*|courier|deliver\w*|parcel|package)\b",
        ),
        ("refund", r"\b(refund\w*|money back|reimburs\w*|credited|chargeback)\b"),
        ("billing", r"\b(overcharg\w*|charged|charge|fee|bill\w*|invoice|twice|double)\b"),
        (
            "product_quality",
            r"\b(stopped working|broke|faulty|defective|poor quality|quality|doesn'?t work|not working)\b",
        ),
        (
            "service",
            r"\b(rude|staff|agent|hung up|unhelpful|service|treated|attitude|calls?|phoning)\b",
        ),
        ("account", r"\b(account|locked out|log ?in|password|wallet|closed)\b"),
    ]
]

# The words a complaint request is made of; what remains is the customer's story.
_BOILERPLATE = re.compile(
    r"\b(hi|hello|hey|please|pls|i|i'?d|i'?m|we|want|would|like|wish|need|to|a|an|the|"
    r"file|make|lodge|raise|submit|register|log|report|formal|official|complaint|complain|"
    r"complaining|compliant|complant|about|problem|issue|an?|for|me|my|regarding|re|this|is|"
    r"how|do|can|where)\b|[^\w\s]",
    re.IGNORECASE,
)
MIN_STORY_WORDS = 3

# ORD-482913, ord482913, #482913, or six digits on their own (not part of a phone number).
ORDER_REF = re.compile(
    r"(?:\bord[\s-]?|#)(\d{6})\b|(?<!\d)(?<!\d[\s-])\b(\d{6})\b(?![\s-]?\d)", re.IGNORECASE
)
_NEGATIVE = re.compile(
    r"^\s*(no+|nope|nah|none|n/?a|not really|no i don'?t|i don'?t|don'?t (have|know)( one| it)?|"
    r"i (do not|don'?t) have (one|it|an order number)|there isn'?t one|no order( number)?|"
    r"not sure|no idea)\b",
    re.IGNORECASE,
)

OUTCOMES: dict[str, re.Pattern[str]] = {
    "refund": re.compile(r"\b(refund\w*|money back|reimburs\w*)\b", re.IGNORECASE),
    "replacement": re.compile(
        r"\b(replace\w*|new one|exchange|send (it|one) again)\b", re.IGNORECASE
    ),
    "repair": re.compile(r"\b(repair\w*|fix\w*)\b", re.IGNORECASE),
    "apology": re.compile(r"\b(apolog\w*|sorry)\b", re.IGNORECASE),
    "feedback": re.compile(
        r"\b(just letting you know|feedback|nothing|let you know)\b", re.IGNORECASE
    ),
}

_URGENT = re.compile(
    r"\b(injur\w*|hurt|fire|burn\w*|electric shock|unsafe|danger\w*)\b", re.IGNORECASE
)
_HIGH = re.compile(
    r"\b(fraud\w*|unauthori[sz]ed|stolen|hacked|lawyer|legal|ombudsman|regulator)\b", re.IGNORECASE
)


def infer_category(text: str) -> str | None:
    """The complaint category the text points to, or None if it gives no clue."""
    for category, pattern in _CATEGORY_PATTERNS:
        if pattern.search(text):
            return category
    return None


def tells_a_story(text: str) -> bool:
    """Whether a complaint request also says what went wrong (so we need not ask)."""
    remaining = _BOILERPLATE.sub(" ", text).split()
    return len(remaining) >= MIN_STORY_WORDS


def find_order_ref(text: str) -> str | None:
    """An order number in the text, normalised to ORD-123456."""
    match = ORDER_REF.search(text)
    return f"ORD-{match.group(1) or match.group(2)}" if match else None


def says_no(text: str) -> bool:
    """Whether the text is a 'no' / 'I don't have one' answer."""
    return bool(_NEGATIVE.match(text.strip()))


def normalise_outcome(text: str) -> str:
    """The outcome key the text asks for, or the text itself if it names none."""
    for outcome, pattern in OUTCOMES.items():
        if pattern.search(text):
            return outcome
    return text.strip()[:200]


def priority_for(category: str, description: str) -> Priority:
    """How urgently the team should look at a complaint."""
    if _URGENT.search(description):
        return Priority.URGENT
    if category == "fraud" or _HIGH.search(description):
        return Priority.HIGH
    return Priority.NORMAL
