"""Refunds approved in seconds: self-service refund conversations over SMS, end to end.

Starts, on free ports with a fresh SQLite database (or --database-url), the action server,
Rasa with the trained model and our app (SMS_REPLY_MODE=rest), with a fake Twilio REST API
(bot/testing/twilio_api.py) in this process. The bundled demo business systems are seeded
(bot/business/demo: the personas and enough generated customers, see --customers), then
read to pick the customers: each conversation is a different customer whose phone number is
on their record (and on no other) with a delivered order that the refund policy
(`RefundPolicy.decide`, limits from settings) approves at once: delivered within the
window, under the amount limit, not refunded yet, fewer recent refunds than the maximum.

Each customer texts our SMS webhook (POST {app}/twilio/sms, signed as Twilio signs), from
the number on their record, and reads the answers where Twilio would send them:
  1) verification: "I want a refund for ORD-..." -> the one-time code texted to the number
     on the record -> the code -> "Thanks, you're verified." (and the form's first question);
  2) the refund: the reason in their own words -> "If you have a photo..." -> "no" -> the
     confirmation with the refund's reference (or a referral to a person).
Each conversation waits for the assistant's answer before its next message. All the
conversations go through step 1 (`--concurrency` at a time) before any goes on to step 2
(again `--concurrency` at a time), so each step's rate is measured alone; the
conversations stay open in between. A few warm-up conversations go first, not measured.

Printed: time from the customer's last message ("no") to the confirmation at the fake
Twilio API, p50/p95/max (target: p95 under 3 s), how many were approved (and found
approved in the demo backend); verification round trips (request sent -> code received ->
code sent -> "verified" answer received) per second, p50/p95; and the machine's load.

    .venv/bin/python bench/refunds.py [--conversations 100] [--concurrency 10]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import secrets
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from pydantic import SecretStr
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common
from bench.common import percentile_ms
from bench.sms_twilio import ObservedTwilio, ReplyLog
from bot.business.demo.backend import DemoBusinessSystems
from bot.business.demo.seed import seed
from bot.business.demo.tables import DemoCustomer
from bot.business.records import Order, Refund, RefundStatus
from bot.business.refund_policy import RefundPolicy
from bot.core.settings import Settings
from bot.processes import assistant_specs
from bot.testing.twilio_webhooks import DEFAULT_ACCOUNT_SID, signed_post, sms_params

BUSINESS_NUMBER = "+12125550100"
P95_TARGET_SECONDS = 3.0
ANSWER_TIMEOUT_SECONDS = 60.0
REASON = "the item arrived broken and does not work at all"
# The demo data has about one such customer in ten generated ones.
CUSTOMERS_PER_CONVERSATION = 12
DEFAULT_CUSTOMERS = 300  # what `make run` seeds
# A candidate is approved now and still in an hour (no order near the end of the window).
POLICY_MARGIN = timedelta(hours=1)
CODE = re.compile(r"Your verification code is (\d{6})")
VERIFIED = re.compile(r"^Thanks, you're verified\.")
ASK_ORDER = re.compile(r"Which order is the refund for\?")
ASK_REASON = re.compile(r"What went wrong\? Tell me in your own words\.")
ASK_REASON_OR_ORDER = re.compile(f"{ASK_REASON.pattern}|{ASK_ORDER.pattern}")
ASK_EVIDENCE = re.compile(r"If you have a photo of the problem, send it now\.")
APPROVED = re.compile(r"^Good news: your refund of .+ is approved \(reference RF-\d+\)")
REFERRED = re.compile(r"passed your refund request to our team")
OUTCOME = re.compile(f"{APPROVED.pattern}|{REFERRED.pattern}")


@dataclass(frozen=True)
class Candidate:
    """A customer of the demo data with a refund the policy approves at once."""

    customer_ref: str
    phone: str
    order_ref: str


@dataclass(frozen=True)
class Reply:
    """One SMS the fake Twilio API was asked to send: its place in the recipient's list,
    when it arrived and its body."""

    index: int
    at: float
    body: str


class Stalled(Exception):
    """The assistant did not answer as expected in time."""


@dataclass
class Figures:
    """What the measured conversations gave."""

    verification: list[float] = field(default_factory=list)  # request -> "verified"
    code: list[float] = field(default_factory=list)  # request -> code at the fake
    confirmation: list[float] = field(default_factory=list)  # "no" -> the outcome
    outcomes: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    verify_seconds: float = 0.0
    refund_seconds: float = 0.0


def _approvable(
    policy: RefundPolicy, orders: Sequence[Order], refunds: Sequence[Refund], now: datetime
) -> Order | None:
    """The customer's first order the policy approves now and a little later."""
    for order in orders:
        if all(
            policy.decide(
                order=order,
                amount=order.total,
                reason=REASON,
                recent_refunds=refunds,
                now=at,
            ).approved
            for at in (now, now + POLICY_MARGIN)
        ):
            return order
    return None


async def pick_candidates(
    backend: DemoBusinessSystems, policy: RefundPolicy, *, count: int
) -> list[Candidate]:
    """Up to `count` customers, one each, whose phone is theirs alone and who have an order
    the policy approves at once (read from the demo backend)."""
    async with backend.session() as session:
        rows = list(await session.scalars(select(DemoCustomer).order_by(DemoCustomer.ref)))
    phones = Counter(row.phone for row in rows if row.phone)
    now = datetime.now(UTC)
    chosen: list[Candidate] = []
    for row in rows:
        if len(chosen) == count:
            break
        if not row.phone or phones[row.phone] != 1:
            continue
        orders = await backend.orders(row.ref, limit=100)
        refunds = await backend.refunds(row.ref, limit=100)
        order = _approvable(policy, orders, refunds, now)
        if order is not None:
            chosen.append(Candidate(row.ref, row.phone, order.ref))
    return chosen


async def seed_and_pick(settings: Settings, *, customers: int, count: int) -> list[Candidate]:
    """Seed the demo backend with `customers` generated customers and the personas; pick
    `count` candidates (fewer if the data has fewer)."""
    backend = DemoBusinessSystems(settings.effective_business_database_url)
    try:
        summary = await seed(backend, customers=customers)
        print(f"seeded the demo business systems: {summary.lines()[0]}", file=sys.stderr)
        return await pick_candidates(backend, RefundPolicy.from_settings(settings), count=count)
    finally:
        await backend.aclose()


async def approved_in_backend(settings: Settings, candidates: Sequence[Candidate]) -> int:
    """How many of the candidates' orders now have a refund the policy approved."""
    backend = DemoBusinessSystems(settings.effective_business_database_url)
    found = 0
    try:
        for candidate in candidates:
            found += any(
                refund.order_ref == candidate.order_ref
                and refund.status in (RefundStatus.APPROVED, RefundStatus.PAID)
                and refund.decided_by == "policy:within_policy"
                for refund in await backend.refunds(candidate.customer_ref)
            )
    finally:
        await backend.aclose()
    return found


class Texting:
    """Customers' phones: SMS to the app's webhook as Twilio posts them, answers read as
    they reach the fake Twilio API."""

    def __init__(
        self, http: httpx.AsyncClient, *, webhook: str, auth_token: str, replies: ReplyLog
    ) -> None:
        self._http = http
        self._webhook = webhook
        self._auth_token = auth_token
        self.replies = replies

    async def send(self, number: str, text: str) -> None:
        """One inbound SMS from `number`, signed over the webhook's URL."""
        params = sms_params(from_=number, to=BUSINESS_NUMBER, body=text)
        response = await signed_post(self._http, self._webhook, params, self._auth_token)
        if response.status_code != 200:
            raise Stalled(f"{number}: webhook answered HTTP {response.status_code}")

    async def next_matching(self, number: str, start: int, pattern: re.Pattern[str]) -> Reply:
        """The first SMS to `number` from the `start`-th on whose body matches `pattern`."""
        deadline = time.perf_counter() + ANSWER_TIMEOUT_SECONDS
        index = start
        while True:
            remaining = max(0.0, deadline - time.perf_counter())
            at = await self.replies.wait_for(number, index + 1, remaining)
            if at is None:
                got = [body[:60] for body in self.replies.bodies(number, start)][-3:]
                raise Stalled(
                    f"{number}: no /{pattern.pattern[:40]}/ within "
                    f"{ANSWER_TIMEOUT_SECONDS:.0f} s (got {got})"
                )
            body = self.replies.bodies(number, index)[0]
            if pattern.search(body):
                return Reply(index, at, body)
            index += 1

    async def turn(self, number: str, text: str, pattern: re.Pattern[str]) -> tuple[float, Reply]:
        """Send `text`; when it was sent and the first answer since matching `pattern`."""
        start = self.replies.count(number)
        sent = time.perf_counter()
        await self.send(number, text)
        return sent, await self.next_matching(number, start, pattern)


async def verify(texting: Texting, candidate: Candidate, figures: Figures) -> None:
    """Ask for the refund, get the code by SMS, send it back; until the form asks why."""
    number = candidate.phone
    sent, code = await texting.turn(number, f"I want a refund for {candidate.order_ref}", CODE)
    match = CODE.search(code.body)
    assert match is not None
    await texting.send(number, match.group(1))
    verified = await texting.next_matching(number, code.index + 1, VERIFIED)
    figures.code.append(code.at - sent)
    figures.verification.append(verified.at - sent)
    asked = await texting.next_matching(number, verified.index + 1, ASK_REASON_OR_ORDER)
    if ASK_ORDER.search(asked.body):  # the order was not carried over verification
        await texting.turn(number, candidate.order_ref, ASK_REASON)


async def refund(texting: Texting, candidate: Candidate, figures: Figures) -> None:
    """The reason, no photo: the policy's decision."""
    number = candidate.phone
    await texting.turn(number, REASON, ASK_EVIDENCE)
    sent, outcome = await texting.turn(number, "no", OUTCOME)
    figures.confirmation.append(outcome.at - sent)
    figures.outcomes["approved" if APPROVED.search(outcome.body) else "referred"] += 1


Step = Callable[[Texting, Candidate, Figures], Awaitable[None]]


async def run_step(
    step: Step,
    texting: Texting,
    candidates: Sequence[Candidate],
    figures: Figures,
    *,
    concurrency: int,
) -> tuple[list[Candidate], float]:
    """`step` for every candidate, `concurrency` at a time; those that got through and the
    seconds it took."""
    queue = iter(candidates)
    through: list[Candidate] = []

    async def one() -> None:
        candidate = next(queue)
        try:
            await step(texting, candidate, figures)
        except (Stalled, httpx.HTTPError) as error:
            figures.errors.append(f"{candidate.customer_ref} {step.__name__}: {error}")
        else:
            through.append(candidate)

    seconds = await common.run_concurrently(
        one, conversations=len(candidates), concurrency=concurrency
    )
    return through, seconds


async def conversations(
    texting: Texting, candidates: Sequence[Candidate], *, concurrency: int
) -> Figures:
    """Verify every candidate, then take each verified one through its refund."""
    figures = Figures()
    verified, figures.verify_seconds = await run_step(
        verify, texting, candidates, figures, concurrency=concurrency
    )
    _, figures.refund_seconds = await run_step(
        refund, texting, verified, figures, concurrency=concurrency
    )
    return figures


async def benchmark(
    args: argparse.Namespace, settings: Settings, candidates: list[Candidate], replies: ReplyLog
) -> Figures:
    """The warm-up conversations, then the measured ones."""
    replies.attach(asyncio.get_running_loop())
    limits = httpx.Limits(max_connections=args.concurrency * 2)
    async with httpx.AsyncClient(timeout=120, limits=limits) as http:
        texting = Texting(
            http,
            webhook=f"{settings.app_url}/twilio/sms",
            auth_token=settings.twilio_auth_token.get_secret_value(),
            replies=replies,
        )
        warmup, measured = candidates[: args.warmup], candidates[args.warmup :]
        if warmup:
            print(f"warming up ({len(warmup)} conversations)...", file=sys.stderr)
            warm = await conversations(texting, warmup, concurrency=args.concurrency)
            for error in warm.errors:
                print(f"  warm-up error: {error}", file=sys.stderr)
        print(f"{len(measured)} conversations, {args.concurrency} at a time...", file=sys.stderr)
        return await conversations(texting, measured, concurrency=args.concurrency)


def report(
    args: argparse.Namespace, settings: Settings, figures: Figures, *, approved_in_backend: int
) -> None:
    """Print the figures."""
    confirmation = figures.confirmation
    p95 = percentile_ms(confirmation, 95) / 1000
    verdict = "meets" if p95 < P95_TARGET_SECONDS else "MISSES"
    verified = len(figures.verification)
    print(
        f"\n{args.conversations} refund conversations over SMS, {args.concurrency} at a time, "
        f"each a different demo customer (of {args.customers} generated); database "
        f"{settings.effective_database_url.split(':', 1)[0]}"
    )
    print(
        f"{'last message -> confirmation':<30}"
        f" p50 {percentile_ms(confirmation, 50):7.1f} ms"
        f"   p95 {percentile_ms(confirmation, 95):7.1f} ms"
        f"   max {max(confirmation, default=float('nan')) * 1000:7.1f} ms"
        f"   ({verdict} the {P95_TARGET_SECONDS:.0f} s p95 target)"
    )
    print(
        f"{'outcome':<30} approved {figures.outcomes['approved']}, "
        f"referred {figures.outcomes['referred']}, errors {len(figures.errors)}; "
        f"approved refunds in the demo backend {approved_in_backend}"
    )
    print(
        f"{'verification round trip':<30}"
        f" p50 {percentile_ms(figures.verification, 50):7.1f} ms"
        f"   p95 {percentile_ms(figures.verification, 95):7.1f} ms"
        f"   {verified / figures.verify_seconds if figures.verify_seconds else 0:.2f} "
        f"verifications/s ({verified} in {figures.verify_seconds:.1f} s)"
    )
    print(
        f"{'  of which code delivered':<30}"
        f" p50 {percentile_ms(figures.code, 50):7.1f} ms"
        f"   p95 {percentile_ms(figures.code, 95):7.1f} ms"
    )
    refunds = len(confirmation)
    print(
        f"{'refund step (reason + no)':<30} {refunds} in {figures.refund_seconds:.1f} s, "
        f"{refunds / figures.refund_seconds if figures.refund_seconds else 0:.2f} refunds/s"
    )
    for error in figures.errors[:5]:
        print(f"    error: {error}")


def configure(var_dir: Path, args: argparse.Namespace, fake: ObservedTwilio) -> Settings:
    """The assistant on free ports, its SMS channel talking to the fake Twilio API."""
    return common.local_settings(
        var_dir,
        database_url=args.database_url,
        public_url="",
        twilio_account_sid=fake.account_sid,
        twilio_auth_token=SecretStr(fake.auth_token),
        twilio_phone_number=BUSINESS_NUMBER,
        twilio_api_base_url=fake.base_url,
        sms_reply_mode="rest",
    )


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--conversations", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2, help="conversations not measured")
    parser.add_argument(
        "--customers",
        type=int,
        default=0,
        help="generated demo customers to seed; default: enough for the conversations "
        f"(at least {DEFAULT_CUSTOMERS}, what `make run` seeds)",
    )
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    args = parser.parse_args()
    wanted = args.conversations + args.warmup
    args.customers = args.customers or max(DEFAULT_CUSTOMERS, CUSTOMERS_PER_CONVERSATION * wanted)
    return args


def main() -> int:
    """Start the assistant, run the benchmark, print its figures."""
    args = parse_args()
    before = common.machine_load()
    replies = ReplyLog()
    fake = ObservedTwilio(DEFAULT_ACCOUNT_SID, secrets.token_hex(16), replies.record)
    with tempfile.TemporaryDirectory(prefix="bench-refunds-") as tmp:
        settings = configure(Path(tmp), args, fake)
        model = common.prepare(settings)
        wanted = args.conversations + args.warmup
        candidates = asyncio.run(seed_and_pick(settings, customers=args.customers, count=wanted))
        if len(candidates) < wanted:
            print(
                f"only {len(candidates)} of {wanted} customers with a refund the policy "
                f"approves in {args.customers} seeded customers: raise --customers"
            )
            return 1
        fake.start()
        try:
            with common.running(assistant_specs(settings, model=model)):
                started = time.perf_counter()
                figures = asyncio.run(benchmark(args, settings, candidates, replies))
                wall = time.perf_counter() - started
                load = common.machine_load()
        finally:
            fake.stop()
        in_backend = asyncio.run(approved_in_backend(settings, candidates[args.warmup :]))
    report(args, settings, figures, approved_in_backend=in_backend)
    print(f"{'run':<30} {wall:.1f} s; before: {before}; at the end: {load}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
