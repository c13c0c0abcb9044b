"""The catalogue of the app's own texts: every name has a text, and placeholders are filled."""

from __future__ import annotations

import string

import pytest

from bot.core.texts import CATALOGUE, Text, say


def test_every_text_has_words() -> None:
    assert set(CATALOGUE) == set(Text)
    assert all(CATALOGUE[key].strip() for key in Text)


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("key", [k for k in Text if _placeholders(CATALOGUE[k])])
def test_placeholders_are_filled(key: Text) -> None:
    values = {name: f"<{name}>" for name in _placeholders(CATALOGUE[key])}
    said = say(key, **values)
    assert "{" not in said and all(value in said for value in values.values())


def test_a_missing_value_is_an_error_not_a_raw_placeholder() -> None:
    assert say(Text.CALL_HOLD_POSITION, position=3) == (
        "You are number 3 in line. Thank you for holding."
    )
    with pytest.raises(KeyError):
        say(Text.AGENT_JOINED, agent="Sam")
