"""Agent passwords and tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from handoff.auth import InvalidToken, hash_password, issue_token, read_token, verify_password

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def test_passwords_are_salted_and_checked() -> None:
    stored = hash_password("correct horse")
    assert stored.startswith("scrypt$") and "correct horse" not in stored
    assert stored != hash_password("correct horse")  # a fresh salt each time
    assert verify_password("correct horse", stored)
    assert not verify_password("Correct horse", stored)
    assert not verify_password("correct horse", "garbage")


def test_tokens_carry_the_agent_and_expire() -> None:
    token = issue_token(7, secret="s3cret", now=NOW, lifetime=HOUR)
    assert read_token(token, secret="s3cret", now=NOW + timedelta(minutes=59)) == 7
    with pytest.raises(InvalidToken, match="expired"):
        read_token(token, secret="s3cret", now=NOW + HOUR)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "abc.def",
        issue_token(7, secret="other", now=NOW, lifetime=HOUR),
    ],
)
def test_forged_or_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(InvalidToken):
        read_token(token, secret="s3cret", now=NOW)


def test_a_token_with_a_changed_agent_is_refused() -> None:
    token = issue_token(7, secret="s3cret", now=NOW, lifetime=HOUR)
    other = issue_token(8, secret="s3cret", now=NOW, lifetime=HOUR)
    forged = f"{other.split('.')[0]}.{token.split('.')[1]}"
    with pytest.raises(InvalidToken):
        read_token(forged, secret="s3cret", now=NOW)
