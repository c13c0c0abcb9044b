"""Agent passwords and tokens."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from handoff.auth import (
    InvalidToken,
    check_password,
    hash_password,
    issue_token,
    read_token,
    verify_password,
)

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def test_passwords_are_salted_and_checked() -> None:
    stored = hash_password("correct horse")
    assert stored.startswith("scrypt$") and "correct horse" not in stored
    assert stored != hash_password("correct horse")  # a fresh salt each time
    assert verify_password("correct horse", stored)
    assert not verify_password("Correct horse", stored)
    assert not verify_password("correct horse", "garbage")


async def test_checking_a_password_leaves_the_event_loop_free() -> None:
    stored = hash_password("correct horse")
    gaps: list[float] = []

    async def ticking() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.002)
            gaps.append(time.perf_counter() - last)
            last = time.perf_counter()

    ticker = asyncio.create_task(ticking())
    await asyncio.sleep(0.01)
    started = time.perf_counter()
    assert await check_password("correct horse", stored)
    took = time.perf_counter() - started
    await asyncio.sleep(0.01)  # the ticker notes the gap it may just have had
    ticker.cancel()
    # On the loop, scrypt (about 50 ms) would stop the ticker for the whole check.
    assert max(gaps) < took / 2, f"the loop stalled {max(gaps):.3f} s of {took:.3f} s"


async def test_no_account_costs_as_much_as_a_wrong_password() -> None:
    stored = hash_password("correct horse")

    async def timed(hashed: str | None) -> float:
        started = time.perf_counter()
        assert not await check_password("a guess", hashed)
        return time.perf_counter() - started

    wrong = sorted([await timed(stored) for _ in range(5)])[2]
    unknown = sorted([await timed(None) for _ in range(5)])[2]
    assert 0.5 < unknown / wrong < 2, (unknown, wrong)


def test_tokens_carry_the_agent_its_generation_and_expire() -> None:
    token = issue_token(7, secret="s3cret", now=NOW, lifetime=HOUR, generation=3)
    claims = read_token(token, secret="s3cret", now=NOW + timedelta(minutes=59))
    assert (claims.agent_id, claims.generation, claims.expires_at) == (7, 3, NOW + HOUR)
    with pytest.raises(InvalidToken, match="expired"):
        read_token(token, secret="s3cret", now=NOW + HOUR)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "abc.def",
        "abc.déf",
        "ａｂｃ.def",
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
