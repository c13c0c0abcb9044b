"""The satisfaction survey after an agent resolved a conversation: three statements the
customer rates from 1 (disagree) to 5 (agree), on the channel they were helped on."""

from __future__ import annotations

STATEMENTS = (
    "The person who helped me understood my problem.",
    "My problem was solved.",
    "I would be happy to get help this way again.",
)
INTRO = "Before you go, three quick statements. Reply with a number from 1 (disagree) to 5 (agree)."
THANKS = "Thank you for your answers, they help us get better. I'm here if you need anything else."


def question(step: int) -> str:
    """The text asking for statement `step` (0-based); the first one comes with the intro."""
    text = f"{step + 1}/{len(STATEMENTS)}: {STATEMENTS[step]}"
    return f"{INTRO}\n{text}" if step == 0 else text


def parse_score(text: str) -> int | None:
    """A rating 1-5 from a reply such as "4" or "4." or " 5 "; None for anything else."""
    stripped = text.strip().rstrip(".!")
    return int(stripped) if stripped in {"1", "2", "3", "4", "5"} else None
