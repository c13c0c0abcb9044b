"""Fixtures of the SMS tests."""

from __future__ import annotations

import pytest

from bot.core.messages import Button


@pytest.fixture
def outcomes() -> tuple[Button, ...]:
    """The options of "What would you like us to do?": a refund or a replacement."""
    return (
        Button(title="Refund", payload='/inform{"desired_outcome": "refund"}'),
        Button(title="Replacement", payload='/inform{"desired_outcome": "replacement"}'),
    )
