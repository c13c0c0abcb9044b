"""SMS webhook benchmark: our Twilio SMS channel against Rasa's built-in `twilio` connector.

Starts, on free ports with a fresh SQLite database (or --database-url), the action server,
two Rasa servers on the same trained model (the second one with Rasa's `twilio` channel in
its credentials.yml, its own port, config dir and tracker store), our app in the default
SMS_REPLY_MODE=rest and a second app in SMS_REPLY_MODE=twiml, plus a fake Twilio REST API
(bot/testing/twilio_api.py) in this process. Then it plays the same scripted SMS
conversations, each from its own phone number (+1415555xxxx), messages sent one after the
other and each only once the previous one's replies arrived, against
  A) Rasa's twilio connector   POST {rasa}/webhooks/twilio/webhook, which sends its replies
     through Twilio's REST API inside the webhook (it checks no signature);
  B) our SMS channel (rest)    POST {app}/twilio/sms, signed (X-Twilio-Signature) exactly
     as Twilio signs; it stores the message, answers at once with empty TwiML and sends
     the replies through Twilio's REST API afterwards;
  C) our SMS channel (twiml)   the same, but the replies come back as <Message> TwiML in
     the webhook response (no REST call).
Systems alternate over the rounds (reversed every other round) to cancel drift. Printed
for each: webhook latency (what Twilio waits for), reply latency (webhook sent -> last
reply at the REST API, or in the response for TwiML), and messages fully answered per
second over the whole run; then throughput ours/Rasa and whether p99 is under 2 s.

How many REST messages one turn sends differs per system (Rasa splits replies on blank
lines and sends each button as an SMS of its own, we send buttons as numbered options and
split long replies on word boundaries), so one calibration conversation per system first
counts them; a turn is answered when that many messages reached the fake. Each system then
gets a warm-up pass before the measured rounds.

Rasa's connector uses the `twilio` package, which hard-codes https://api.twilio.com. For
this benchmark only, the Rasa process gets a `sitecustomize.py` (written to a temporary
directory put first on its PYTHONPATH) that wraps
`twilio.http.http_client.TwilioHttpClient.request` to rewrite that origin to the fake's
base URL, as adapters/twilio/rest.py does for our own client (see bench/sms_twilio.py).

    .venv/bin/python bench/sms.py [--conversations 40] [--concurrency 20] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import re
import secrets
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common
from bench.common import percentile_ms
from bench.sms_twilio import ObservedTwilio, ReplyLog, rasa_send_errors, twilio_rasa_spec
from bot.core.settings import Settings
from bot.processes import ProcessSpec, assistant_specs
from bot.testing.ports import free_port
from bot.testing.twilio_api import FakeTwilio
from bot.testing.twilio_webhooks import DEFAULT_ACCOUNT_SID, signed_post, sms_params

# A short complaint by SMS: greeting, the complaint form (database write), its status
# (database read) and a goodbye.
SCRIPT = [text for text in common.CONVERSATION if "opening hours" not in text]
BUSINESS_NUMBER = "+12125550100"
P99_TARGET_SECONDS = 2.0
THROUGHPUT_TARGET = 0.9
REPLY_TIMEOUT_SECONDS = 60.0
# Calibration: a turn's replies are complete once none came for this long.
QUIET_SECONDS = 1.5
MESSAGE_TAG = re.compile(r"<Message>(.*?)</Message>", re.DOTALL)


@dataclass(frozen=True)
class System:
    """One SMS webhook under test."""

    name: str
    url: str
    twiml: bool = False  # replies in the webhook response rather than through the REST API


@dataclass
class Run:
    """One pass over all conversations on one system."""

    webhook: list[float] = field(default_factory=list)
    reply: list[float] = field(default_factory=list)
    answered: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0


class Numbers:
    """A fresh phone number for every conversation of the run, and whose it is."""

    def __init__(self) -> None:
        self._next = itertools.count()
        self.system_of: dict[str, str] = {}

    def new(self, system: System) -> str:
        """A number no conversation used yet, for a conversation with `system`."""
        number = f"+1415555{next(self._next):04d}"
        self.system_of[number] = system.name
        return number


async def send(
    http: httpx.AsyncClient, system: System, number: str, text: str, auth_token: str
) -> httpx.Response:
    """One inbound SMS as Twilio posts it: its form parameters, signed over the URL."""
    params = sms_params(from_=number, to=BUSINESS_NUMBER, body=text)
    return await signed_post(http, system.url, params, auth_token)


async def conversation(
    http: httpx.AsyncClient,
    system: System,
    *,
    number: str,
    expected: list[int],
    replies: ReplyLog,
    auth_token: str,
    run: Run,
) -> None:
    """One scripted conversation; each message waits for the previous one's replies."""
    due = replies.count(number)
    for step, text in enumerate(SCRIPT):
        started = time.perf_counter()
        try:
            response = await send(http, system, number, text, auth_token)
        except httpx.HTTPError as error:
            run.errors.append(f"{number} step {step + 1}: {error!r}")
            return
        answered = time.perf_counter()
        if response.is_error:
            run.errors.append(f"{number} step {step + 1}: HTTP {response.status_code}")
            return
        run.webhook.append(answered - started)
        if system.twiml:
            if len(MESSAGE_TAG.findall(response.text)) != expected[step]:
                run.errors.append(f"{number} step {step + 1}: unexpected TwiML {response.text}")
            run.reply.append(answered - started)
        elif expected[step]:
            due += expected[step]
            last = await replies.wait_for(number, due, REPLY_TIMEOUT_SECONDS)
            if last is None:
                run.errors.append(
                    f"{number} step {step + 1}: {replies.count(number)} of {due} replies "
                    f"after {REPLY_TIMEOUT_SECONDS:.0f} s"
                )
                return
            run.reply.append(last - started)
        run.answered += 1


async def calibrate(
    http: httpx.AsyncClient, system: System, number: str, replies: ReplyLog, auth_token: str
) -> list[int]:
    """How many SMS each scripted message is answered with (one slow conversation)."""
    counts = []
    print(f"calibrating {system.name}:", file=sys.stderr)
    for text in SCRIPT:
        seen = replies.count(number)
        response = await send(http, system, number, text, auth_token)
        response.raise_for_status()
        if system.twiml:
            bodies = MESSAGE_TAG.findall(response.text)
        else:
            await replies.settle(
                number, after=seen, first_within=REPLY_TIMEOUT_SECONDS, quiet=QUIET_SECONDS
            )
            bodies = replies.bodies(number, seen)
        counts.append(len(bodies))
        print(f"  > {text}", file=sys.stderr)
        for body in bodies:
            print("    < " + body.replace("\n", "\n      "), file=sys.stderr)
    return counts


async def drive(
    http: httpx.AsyncClient,
    system: System,
    *,
    conversations: int,
    concurrency: int,
    numbers: Numbers,
    expected: list[int],
    replies: ReplyLog,
    auth_token: str,
) -> Run:
    """Run `conversations` conversations, `concurrency` at a time."""
    run = Run()

    async def one() -> None:
        await conversation(
            http,
            system,
            number=numbers.new(system),
            expected=expected,
            replies=replies,
            auth_token=auth_token,
            run=run,
        )

    run.seconds = await common.run_concurrently(
        one, conversations=conversations, concurrency=concurrency
    )
    return run


@dataclass(frozen=True)
class Figures:
    """One system's results over all rounds."""

    throughput: float
    webhook: list[float]
    reply: list[float]
    errors: list[str]


def summarize(runs: list[Run]) -> Figures:
    """All rounds of one system together."""
    return Figures(
        throughput=sum(r.answered for r in runs) / sum(r.seconds for r in runs),
        webhook=[lat for r in runs for lat in r.webhook],
        reply=[lat for r in runs for lat in r.reply],
        errors=[e for r in runs for e in r.errors],
    )


def report(name: str, figures: Figures) -> None:
    """Print one system's row."""
    print(
        f"{name:<30} {figures.throughput:7.2f} msg/s"
        f"   webhook p50 {percentile_ms(figures.webhook, 50):7.1f} ms"
        f" p99 {percentile_ms(figures.webhook, 99):7.1f} ms"
        f"   reply p50 {percentile_ms(figures.reply, 50):7.1f} ms"
        f" p99 {percentile_ms(figures.reply, 99):7.1f} ms"
        f"   ({len(figures.webhook)} messages, {len(figures.errors)} errors)"
    )
    for error in figures.errors[:5]:
        print(f"    error: {error}")


def verdict(name: str, ours: Figures, rasa: Figures) -> None:
    """Print ours/Rasa for throughput and the p99 target."""
    ratio = ours.throughput / rasa.throughput

    def p99(latencies: list[float]) -> str:
        seconds = percentile_ms(latencies, 99) / 1000
        under = "under" if seconds < P99_TARGET_SECONDS else "NOT under"
        return f"{seconds:.2f} s ({under} {P99_TARGET_SECONDS:.0f} s)"

    print(
        f"{name}: throughput ours/Rasa {ratio:.2f}x "
        f"({'meets' if ratio >= THROUGHPUT_TARGET else 'misses'} >= {THROUGHPUT_TARGET}x); "
        f"p99 webhook {p99(ours.webhook)}, reply {p99(ours.reply)}"
    )


async def benchmark(
    args: argparse.Namespace,
    systems: list[System],
    *,
    fake: FakeTwilio,
    replies: ReplyLog,
    auth_token: str,
) -> None:
    """Calibrate, warm up and measure every system; print the figures."""
    replies.attach(asyncio.get_running_loop())
    numbers = Numbers()
    limits = httpx.Limits(max_connections=args.concurrency * 2)
    async with httpx.AsyncClient(timeout=120, limits=limits) as http:
        expected = {
            s.name: await calibrate(http, s, numbers.new(s), replies, auth_token) for s in systems
        }
        runs: dict[str, list[Run]] = {s.name: [] for s in systems}
        for round_number in range(args.rounds + 1):  # round 0 warms up
            order = systems if round_number % 2 == 0 else systems[::-1]
            for system in order:
                label = f"round {round_number}/{args.rounds}" if round_number else "warm-up"
                print(f"{label}: {system.name}...", file=sys.stderr)
                run = await drive(
                    http,
                    system,
                    conversations=args.concurrency if round_number == 0 else args.conversations,
                    concurrency=args.concurrency,
                    numbers=numbers,
                    expected=expected[system.name],
                    replies=replies,
                    auth_token=auth_token,
                )
                if round_number:
                    runs[system.name].append(run)
    await asyncio.sleep(QUIET_SECONDS)  # late or surplus replies show up in the check
    surplus = _surplus_replies(fake, expected, numbers, systems)

    print(
        f"\n{args.conversations} conversations x {len(SCRIPT)} messages, "
        f"{args.concurrency} at a time, {args.rounds} rounds; SMS sent per message: "
        + ", ".join(f"{name} {counts}" for name, counts in expected.items())
    )
    figures = {s.name: summarize(runs[s.name]) for s in systems}
    for system in systems:
        report(system.name, figures[system.name])
    rasa = figures[systems[0].name]
    for system in systems[1:]:
        verdict(system.name, figures[system.name], rasa)
    if surplus:
        print(f"warning: REST messages beyond the calibrated counts: {surplus}")


def _surplus_replies(
    fake: FakeTwilio, expected: dict[str, list[int]], numbers: Numbers, systems: list[System]
) -> dict[str, int]:
    """Recipients that got more REST messages than their system's calibrated script."""
    sent: dict[str, int] = defaultdict(int)
    for request in fake.requests_to("/Messages.json"):
        sent[request.form_value("To") or ""] += 1
    allowed = {s.name: 0 if s.twiml else sum(expected[s.name]) for s in systems}
    # A conversation cut short by an error sends fewer; more than calibrated is a mismatch.
    return {
        to: count
        for to, count in sent.items()
        if count > allowed.get(numbers.system_of.get(to, ""), 0)
    }


@dataclass(frozen=True)
class Setup:
    """How each server under test is configured."""

    rest: Settings  # our app (SMS_REPLY_MODE=rest), with the action server and Rasa
    twiml: Settings  # a second app of ours, SMS_REPLY_MODE=twiml
    rasa_twilio: Settings  # a second Rasa, with Rasa's twilio connector

    def systems(self) -> list[System]:
        """The SMS webhooks under test; Rasa's first, the one the others are compared with."""
        return [
            System("Rasa twilio connector", f"{self.rasa_twilio.rasa_url}/webhooks/twilio/webhook"),
            System("ours, SMS (rest)", f"{self.rest.app_url}/twilio/sms"),
            System("ours, SMS (twiml)", f"{self.twiml.app_url}/twilio/sms", twiml=True),
        ]


def configure(var_dir: Path, database_url: str, fake: FakeTwilio) -> Setup:
    """Every server on its own free port, all talking to the fake Twilio API."""
    rest = common.local_settings(
        var_dir,
        database_url=database_url,
        public_url="",
        twilio_account_sid=fake.account_sid,
        twilio_auth_token=SecretStr(fake.auth_token),
        twilio_phone_number=BUSINESS_NUMBER,
        twilio_api_base_url=fake.base_url,
        sms_reply_mode="rest",
    )
    return Setup(
        rest=rest,
        twiml=rest.model_copy(update={"app_port": free_port(), "sms_reply_mode": "twiml"}),
        rasa_twilio=rest.model_copy(
            update={
                "rasa_url": f"http://127.0.0.1:{free_port()}",
                "var_dir": var_dir / "rasa-twilio",
            }
        ),
    )


def process_specs(setup: Setup, *, model: Path, var_dir: Path) -> list[ProcessSpec]:
    """The action server, Rasa, our app; Rasa with the twilio connector; the TwiML app."""
    twiml_app = assistant_specs(setup.twiml, model=model)[-1]
    return [
        *assistant_specs(setup.rest, model=model),
        twilio_rasa_spec(setup.rasa_twilio, model=model, directory=var_dir / "rasa-twilio"),
        dataclasses.replace(
            twiml_app, name="app-twiml", log_path=var_dir / "log" / "app-twiml.log"
        ),
    ]


def main() -> int:
    """Start every server, run the benchmark, print its figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    common.add_load_options(parser, concurrency=20)
    args = parser.parse_args()

    auth_token = secrets.token_hex(16)
    replies = ReplyLog()
    fake = ObservedTwilio(DEFAULT_ACCOUNT_SID, auth_token, replies.record)
    with tempfile.TemporaryDirectory(prefix="bench-sms-") as tmp:
        setup = configure(Path(tmp), args.database_url, fake)
        model = common.prepare(setup.rest)
        specs = process_specs(setup, model=model, var_dir=Path(tmp))
        fake.start()
        try:
            with common.running(specs):
                asyncio.run(
                    benchmark(
                        args, setup.systems(), fake=fake, replies=replies, auth_token=auth_token
                    )
                )
        finally:
            fake.stop()
            connector = next(spec for spec in specs if spec.name == "rasa-twilio")
            errors = rasa_send_errors(connector.log_path)
            if errors:
                print(f"warning: Rasa's twilio connector logged {errors} send errors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
