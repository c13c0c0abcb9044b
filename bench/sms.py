"""SMS webhook benchmark: our Twilio SMS channel against Rasa's built-in `twilio` connector.

Starts, on free ports with a fresh SQLite database (or --database-url), the action server,
two Rasa servers on the same trained model (the second one with Rasa's `twilio` channel in
its credentials.yml, its own port, config dir and tracker store), our app in the default
SMS_REPLY_MODE=rest and a second app in SMS_REPLY_MODE=twiml, plus a fake Twilio REST API
(tests/support/fake_twilio.py) in this process. Then it plays the same scripted SMS
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
base URL, as adapters/twilio_rest.py does for our own client.

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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml
from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.db import migrate
from bot.processes import ProcessSpec, Supervisor, assistant_specs, rasa_spec
from bot.settings import Settings
from bot.training import train
from tests.support.fake_twilio import FakeTwilio, RecordedRequest
from tests.support.fake_twilio import _Reply as FakeReply  # only to type the override
from tests.support.ports import free_port
from tests.support.twilio_webhooks import DEFAULT_ACCOUNT_SID, signed_post, sms_params

# A short complaint by SMS: greeting, the complaint form (database write), its status
# (database read) and a goodbye; the texts of bench/turns.py.
SCRIPT = [
    "hi there",
    "I want to file a complaint, my parcel arrived damaged",
    "ORD-482913",
    "a replacement please",
    "what's the status of my complaint",
    "thanks, bye",
]
BUSINESS_NUMBER = "+12125550100"
P99_TARGET_SECONDS = 2.0
THROUGHPUT_TARGET = 0.9
REPLY_TIMEOUT_SECONDS = 60.0
# Calibration: a turn's replies are complete once none came for this long.
QUIET_SECONDS = 1.5
MESSAGE_TAG = re.compile(r"<Message>(.*?)</Message>", re.DOTALL)

SITECUSTOMIZE = '''\
"""Benchmark only (bench/sms.py): the twilio package talks to a local fake Twilio API."""

import os

try:
    from twilio.http.http_client import TwilioHttpClient
except ImportError:
    pass
else:
    _BASE_URL = os.environ["BENCH_TWILIO_API_BASE_URL"].rstrip("/")
    _ORIGIN = "https://api.twilio.com"
    _request = TwilioHttpClient.request

    def _rebased_request(self, method, url, *args, **kwargs):
        if url == _ORIGIN or url.startswith(_ORIGIN + "/"):
            url = _BASE_URL + url[len(_ORIGIN):]
        return _request(self, method, url, *args, **kwargs)

    TwilioHttpClient.request = _rebased_request
'''


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


class ReplyLog:
    """The messages the fake Twilio API was asked to send, per recipient, as they arrive."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._arrivals: dict[str, list[tuple[float, str]]] = defaultdict(list)
        self._changed: dict[str, asyncio.Event] = {}

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Deliver arrivals to `loop` (the benchmark's) from now on."""
        self._loop = loop

    def record(self, to: str, body: str, at: float) -> None:
        """Note a message to `to` (called from the fake's server threads)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._add, to, body, at)

    def _add(self, to: str, body: str, at: float) -> None:
        self._arrivals[to].append((at, body))
        event = self._changed.pop(to, None)
        if event is not None:
            event.set()

    def count(self, to: str) -> int:
        """How many messages to `to` arrived so far."""
        return len(self._arrivals[to])

    def bodies(self, to: str, start: int = 0) -> list[str]:
        """The bodies of the messages to `to`, from the `start`-th on."""
        return [body for _, body in self._arrivals[to][start:]]

    async def wait_for(self, to: str, count: int, seconds: float) -> float | None:
        """When the last of the first `count` messages to `to` arrived; None after `seconds`."""
        deadline = time.perf_counter() + seconds
        while len(self._arrivals[to]) < count:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return None
            event = self._changed.setdefault(to, asyncio.Event())
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                return None
        return max(at for at, _ in self._arrivals[to][:count]) if count else None

    async def settle(self, to: str, *, after: int, first_within: float, quiet: float) -> None:
        """Wait until more than `after` messages to `to` arrived (at most `first_within` s),
        then until none came for `quiet` s."""
        await self.wait_for(to, after + 1, first_within)
        while True:
            seen = self.count(to)
            await asyncio.sleep(quiet)
            if self.count(to) == seen:
                return


class ObservedTwilio(FakeTwilio):
    """The fake Twilio REST API, reporting each message it is asked to send."""

    def __init__(
        self, account_sid: str, auth_token: str, on_message: Callable[[str, str, float], None]
    ) -> None:
        super().__init__(account_sid, auth_token)
        self._on_message = on_message

    def respond(self, request: RecordedRequest, password: str | None) -> FakeReply:
        """Report a new message (recipient, body, arrival time), then answer as Twilio."""
        if request.method == "POST" and request.path.endswith("/Messages.json"):
            to, body = request.form_value("To") or "", request.form_value("Body") or ""
            self._on_message(to, body, time.perf_counter())
        return super().respond(request, password)


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
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            await conversation(
                http,
                system,
                number=numbers.new(system),
                expected=expected,
                replies=replies,
                auth_token=auth_token,
                run=run,
            )

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(conversations)))
    run.seconds = time.perf_counter() - started
    return run


def percentile(values: list[float], pct: float) -> float:
    """The pct-th percentile in milliseconds (nan if there are none)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))
    return ordered[index] * 1000


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
        f"   webhook p50 {percentile(figures.webhook, 50):7.1f} ms"
        f" p99 {percentile(figures.webhook, 99):7.1f} ms"
        f"   reply p50 {percentile(figures.reply, 50):7.1f} ms"
        f" p99 {percentile(figures.reply, 99):7.1f} ms"
        f"   ({len(figures.webhook)} messages, {len(figures.errors)} errors)"
    )
    for error in figures.errors[:5]:
        print(f"    error: {error}")


def verdict(name: str, ours: Figures, rasa: Figures) -> None:
    """Print ours/Rasa for throughput and the p99 target."""
    ratio = ours.throughput / rasa.throughput

    def p99(latencies: list[float]) -> str:
        seconds = percentile(latencies, 99) / 1000
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


def twilio_rasa_spec(settings: Settings, *, model: Path, directory: Path) -> ProcessSpec:
    """A second Rasa server on the same model with Rasa's `twilio` channel, reaching the fake
    Twilio API through a `sitecustomize.py` on its PYTHONPATH."""
    spec = rasa_spec(settings, model=model, config_dir=directory / "rasa")
    credentials = {
        "rest": None,
        "twilio": {
            "account_sid": settings.twilio_account_sid,
            "auth_token": settings.twilio_auth_token.get_secret_value(),
            "twilio_number": settings.twilio_phone_number,
        },
    }
    (directory / "rasa" / "credentials.yml").write_text(yaml.safe_dump(credentials))
    hook = directory / "twilio-hook"
    hook.mkdir(parents=True, exist_ok=True)
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE)
    python_path = [str(hook), *filter(None, [spec.env.get("PYTHONPATH")])]
    env = spec.env | {
        "PYTHONPATH": ":".join(python_path),
        "BENCH_TWILIO_API_BASE_URL": settings.twilio_api_base_url,
    }
    return dataclasses.replace(
        spec, name="rasa-twilio", env=env, log_path=directory / "log" / "rasa-twilio.log"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--conversations", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    args = parser.parse_args()

    auth_token = secrets.token_hex(16)
    replies = ReplyLog()
    fake = ObservedTwilio(DEFAULT_ACCOUNT_SID, auth_token, replies.record)
    with tempfile.TemporaryDirectory(prefix="bench-sms-") as tmp:
        settings = Settings(
            var_dir=Path(tmp),
            database_url=args.database_url,
            app_port=free_port(),
            public_url="",
            rasa_url=f"http://127.0.0.1:{free_port()}",
            action_server_url=f"http://127.0.0.1:{free_port()}",
            rasa_token=SecretStr(secrets.token_hex(8)),
            twilio_account_sid=DEFAULT_ACCOUNT_SID,
            twilio_auth_token=SecretStr(auth_token),
            twilio_phone_number=BUSINESS_NUMBER,
            twilio_api_base_url=fake.base_url,
            sms_reply_mode="rest",
        )
        twiml = settings.model_copy(update={"app_port": free_port(), "sms_reply_mode": "twiml"})
        rasa_twilio = settings.model_copy(
            update={
                "rasa_url": f"http://127.0.0.1:{free_port()}",
                "var_dir": Path(tmp) / "rasa-twilio",
            }
        )
        model = train(settings.model_copy(update={"var_dir": Path("var").resolve()}))
        migrate(settings.effective_database_url)
        specs = assistant_specs(settings, model=model)
        twiml_app = assistant_specs(twiml, model=model)[-1]
        connector = twilio_rasa_spec(rasa_twilio, model=model, directory=Path(tmp) / "rasa-twilio")
        specs += [
            connector,
            dataclasses.replace(
                twiml_app, name="app-twiml", log_path=Path(tmp) / "log" / "app-twiml.log"
            ),
        ]
        systems = [
            System("Rasa twilio connector", f"{rasa_twilio.rasa_url}/webhooks/twilio/webhook"),
            System("ours, SMS (rest)", f"{settings.app_url}/twilio/sms"),
            System("ours, SMS (twiml)", f"{twiml.app_url}/twilio/sms", twiml=True),
        ]
        supervisor = Supervisor()
        fake.start()
        try:
            supervisor.start_all(specs)
            asyncio.run(benchmark(args, systems, fake=fake, replies=replies, auth_token=auth_token))
        finally:
            supervisor.stop_all()
            fake.stop()
            errors = _rasa_send_errors(connector.log_path)
            if errors:
                print(f"warning: Rasa's twilio connector logged {errors} send errors")
    return 0


def _rasa_send_errors(log_path: Path) -> int:
    """How often Rasa's twilio connector logged a failed send."""
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return 0
    return text.count("Something went wrong") + text.count("Failed to send message")


if __name__ == "__main__":
    sys.exit(main())
