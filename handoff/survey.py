"""The satisfaction survey after an agent resolved a conversation: three statements the
customer rates from 1 (disagree) to 5 (agree), on the channel they were helped on."""

from __future__ import annotations

from bot.core.texts import Text, say

STATEMENTS = (Text.SURVEY_UNDERSTOOD, Text.SURVEY_SOLVED, Text.SURVEY_AGAIN)


def question(step: int) -> str:
    """The text asking for statement `step` (0-based); the first one comes with the intro."""
    text = f"{step + 1}/{len(STATEMENTS)}: {say(STATEMENTS[step])}"
    return f"{say(Text.SURVEY_INTRO)}\n{text}" if step == 0 else text


def parse_score(text: str) -> int | None:
    """A rating 1-5 from a reply such as "4" or "4." or " 5 "; None for anything else."""
    stripped = text.strip().rstrip(".!")
    return int(stripped) if stripped in {"1", "2", "3", "4", "5"} else None
