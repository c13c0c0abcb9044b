"""Credentials the end-to-end tests were given (web chat session tokens, agent tokens,
codes): the log test checks that no process logged them."""

from __future__ import annotations

_GIVEN: dict[str, str] = {}


def remember(kind: str, value: str | None) -> None:
    """Note a credential a test was given, with what it is."""
    if value:
        _GIVEN[value] = kind


def remembered() -> dict[str, str]:
    """Every credential noted with `remember`, with its kind."""
    return dict(_GIVEN)
