"""Command line: `python -m bot run | train | migrate | customer | history | agent | sms |
business | nlp | worker`."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import secrets
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import Any
from xml.etree import ElementTree

import httpx
from pydantic import ValidationError
from twilio.request_validator import RequestValidator

from bot.business.demo.backend import DemoBusinessSystems
from bot.business.demo.seed import SeedError, seed
from bot.core.db import Database
from bot.core.models import Channel, Direction
from bot.core.settings import Settings, get_settings
from bot.core.store import customers
from bot.core.store import history as history_store
from bot.nlp_cli import add_nlp_verbs, ensure_nlp_models, nlp_verb
from bot.processes import ProcessFailed, Supervisor, assistant_specs
from bot.schema import migrate
from bot.training import TrainingError, train
from bot.worker import run_worker
from handoff.auth import hash_password
from handoff.models import AgentRole
from handoff.store.agents import create_agent, set_password


def run(settings: Settings) -> int:
    """Train if needed, migrate, start Rasa, the action server and the app; stop on Ctrl-C."""
    try:
        model = train(settings)
    except TrainingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    migrate(settings.effective_database_url)
    if ensure_nlp_models(settings) != 0:
        return 1
    if settings.business_backend == "demo":
        asyncio.run(seed_demo_if_empty(settings))
    supervisor = Supervisor(log_max_bytes=settings.log_max_bytes, log_backups=settings.log_backups)
    specs = assistant_specs(settings, model=model)

    def stop(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        # Every process's output goes, masked, to its file under var/log; the app's is
        # also shown here.
        supervisor.start_all(specs, echo=["app"])
        print(
            f"\nThe assistant is running. Web chat: {settings.app_url}/webchat\n"
            f"Health: {settings.app_url}/health   Stop: Ctrl-C\n",
            file=sys.stderr,
            flush=True,
        )
        while (exited := supervisor.first_exited()) is None:
            time.sleep(1)
        print(f"error: {exited.name} stopped; see {exited.log_path}", file=sys.stderr)
        return 1
    except ProcessFailed as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nStopping...", file=sys.stderr)
        return 0
    finally:
        supervisor.stop_all()


async def seed_demo_if_empty(settings: Settings) -> None:
    """Seed the bundled demo business systems the first time, so self-service (orders,
    tracking, balances, refunds) works out of the box."""
    backend = DemoBusinessSystems(settings.effective_business_database_url)
    try:
        if await backend.is_empty():
            summary = await seed(backend)
            print(
                "Seeded the demo business systems:", *summary.lines(), sep="\n  ", file=sys.stderr
            )
    finally:
        await backend.aclose()


async def business_verb(settings: Settings, args: argparse.Namespace) -> int:
    """`business seed` fills the demo backend (`--reset` empties it first); `business
    pay-refunds` runs its payment run: approved refunds become paid."""
    backend = DemoBusinessSystems(settings.effective_business_database_url)
    try:
        if args.business_command == "pay-refunds":
            paid = await backend.pay_due_refunds()
            for refund in paid:
                print(
                    f"paid {refund.ref}: {refund.amount.formatted()} to {refund.customer_ref} "
                    f"for {refund.order_ref}"
                )
            print(f"{len(paid)} refund(s) paid")
            return 0
        if args.reset:
            await backend.drop_tables()
        try:
            summary = await seed(backend, customers=args.customers, random_seed=args.random_seed)
        except SeedError as error:
            print(f"error: {error} (add --reset)", file=sys.stderr)
            return 1
        print(f"seeded the demo business systems ({backend.database_url}):")
        for line in summary.lines():
            print(f"  {line}")
        return 0
    finally:
        await backend.aclose()


async def add_customer(database: Database, args: argparse.Namespace) -> int:
    """Create or update a customer record; its email and phone link channel identities."""
    async with database.session() as session:
        customer = await customers.upsert_customer(
            session=session,
            email=args.email,
            phone=args.phone,
            display_name=args.name,
            is_vip=args.vip,
            actor="cli",
        )
    print(
        f"customer {customer.id}: {customer.display_name or ''} {customer.email or ''} "
        f"{customer.phone or ''}".rstrip()
    )
    return 0


async def add_agent(database: Database, args: argparse.Namespace) -> int:
    """Create an agent account, or with --reset-password give one a new password (which
    signs them out everywhere); the password is read from AGENT_PASSWORD or asked for."""
    password = os.environ.get("AGENT_PASSWORD") or getpass.getpass("Password for the agent: ")
    if not 10 <= len(password) <= 1024:
        print("error: use a password of 10 to 1024 characters", file=sys.stderr)
        return 2
    if args.reset_password:
        return await reset_password(database, args.email, hash_password(password))
    if not args.name:
        print("error: --name is required for a new agent", file=sys.stderr)
        return 2
    async with database.session() as session:
        agent = await create_agent(
            session=session,
            email=args.email,
            display_name=args.name,
            password_hash=hash_password(password),
            skills=[s for s in args.skills.split(",") if s],
            capacity=args.capacity,
            phone=args.phone,
        )
        agent.role = AgentRole(args.role)
    print(
        f"agent {agent.id}: {agent.display_name} <{agent.email}> skills={agent.skills} "
        f"role={agent.role.value}"
    )
    return 0


async def reset_password(database: Database, email: str, password_hash: str) -> int:
    """Give the agent with `email` a new password; their tokens stop working."""
    async with database.session() as session:
        agent = await set_password(session=session, email=email, password_hash=password_hash)
    if agent is None:
        print(f"error: no agent has the email {email}", file=sys.stderr)
        return 1
    print(f"agent {agent.id}: new password; signed out everywhere")
    return 0


async def show_history(database: Database, args: argparse.Namespace) -> int:
    """Print a customer's messages on every channel, newest first."""
    channel = Channel.EMAIL if args.email else Channel.SMS
    address = customers.normalise_address(channel, args.email or args.phone)
    async with database.session() as session:
        customer = await customers.find_customer(session=session, channel=channel, address=address)
        if customer is None:
            print(f"error: no customer known by {address}", file=sys.stderr)
            return 1
        messages = await history_store.customer_history(
            session=session, customer_id=customer.id, limit=args.limit
        )
    for message in messages:
        arrow = "<-" if message.direction is Direction.INBOUND else "->"
        when = message.created_at.strftime("%Y-%m-%d %H:%M:%S")
        print(f"{when} [{message.channel.value:7}] {arrow} {message.text[:100]!r}")
    return 0


StoreVerb = Callable[[Database, argparse.Namespace], Awaitable[int]]
STORE_VERBS: dict[str, StoreVerb] = {
    "customer": add_customer,
    "history": show_history,
    "agent": add_agent,
}


def run_store_verb(settings: Settings, verb: StoreVerb, args: argparse.Namespace) -> int:
    """Migrate, then run one verb that reads or writes the store."""
    migrate(settings.effective_database_url)

    async def with_database() -> int:
        database = Database(settings.effective_database_url)
        try:
            return await verb(database, args)
        finally:
            await database.dispose()

    return asyncio.run(with_database())


def send_test_sms(settings: Settings, sender: str, text: str) -> int:
    """Text the running app as Twilio would (signed webhook); print what it answers.

    For trying the SMS channel without a Twilio account: with SMS_REPLY_MODE=twiml the
    replies come back in the webhook response and are printed.
    """
    if not settings.twilio_enabled:
        print(
            "error: set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN (any values for local tests)",
            file=sys.stderr,
        )
        return 2
    local_url = f"http://{settings.app_host}:{settings.app_port}/twilio/sms"
    signed_url = (
        f"{settings.public_url.rstrip('/')}/twilio/sms" if settings.public_url else local_url
    )
    params = {
        "MessageSid": f"SM{secrets.token_hex(16)}",
        "AccountSid": settings.twilio_account_sid,
        "From": sender,
        "To": settings.twilio_phone_number,
        "Body": text,
        "NumMedia": "0",
    }
    token = settings.twilio_auth_token.get_secret_value()
    signature = RequestValidator(token).compute_signature(signed_url, params)
    try:
        response = httpx.post(
            local_url, data=params, headers={"X-Twilio-Signature": signature}, timeout=60
        )
    except httpx.HTTPError as error:
        print(
            f"error: the app does not answer at {local_url} ({error}); is it running?",
            file=sys.stderr,
        )
        return 1
    if response.status_code != 200:
        print(f"error: {response.status_code} {response.text}", file=sys.stderr)
        return 1
    bodies = [m.text or "" for m in ElementTree.fromstring(response.content).iter("Message")]
    for body in bodies:
        print(body, end="\n\n")
    if not bodies:
        print(
            "(accepted; with SMS_REPLY_MODE=rest the replies go out through Twilio's REST API: "
            f"python -m bot history --phone {sender})",
            file=sys.stderr,
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The verbs and their options."""
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="start Rasa, the action server and the app together")
    train_parser = commands.add_parser("train", help="train the Rasa model if its inputs changed")
    train_parser.add_argument("--force", action="store_true", help="train even if up to date")
    commands.add_parser("migrate", help="bring the database schema up to date")
    customer = commands.add_parser(
        "customer", help="add or update a customer record (links their channels)"
    )
    customer.add_argument("--email")
    customer.add_argument("--phone", help="in international format, e.g. +14155550100")
    customer.add_argument("--name")
    customer.add_argument("--vip", action=argparse.BooleanOptionalAction, default=None)
    _add_history_verb(commands)
    _add_agent_verb(commands)
    _add_business_verb(commands)
    add_nlp_verbs(commands)
    commands.add_parser("worker", help="run the NLP jobs in a process of their own")
    sms = commands.add_parser("sms", help="text the running app as Twilio would, print replies")
    sms.add_argument("--from", dest="sender", default="+15005550006", help="the customer's phone")
    sms.add_argument("text")
    return parser


def _add_history_verb(commands: Any) -> None:
    history = commands.add_parser("history", help="a customer's messages on every channel")
    who = history.add_mutually_exclusive_group(required=True)
    who.add_argument("--email")
    who.add_argument("--phone")
    history.add_argument("--limit", type=int, default=50)


def _add_agent_verb(commands: Any) -> None:
    agent = commands.add_parser(
        "agent", help="add an agent account for the console, or give one a new password"
    )
    agent.add_argument("--email", required=True)
    agent.add_argument("--name", help="the agent's name (for a new agent)")
    agent.add_argument("--skills", default="", help="comma-separated, e.g. orders,billing")
    agent.add_argument("--capacity", type=int, default=3, help="conversations at once")
    agent.add_argument("--phone", help="callers are put through to this number (E.164)")
    agent.add_argument(
        "--role",
        choices=[r.value for r in AgentRole],
        default=AgentRole.AGENT.value,
        help="what they may approve from the console (refund limits are per role)",
    )
    agent.add_argument(
        "--reset-password",
        action="store_true",
        help="give the existing agent with --email a new password (signs them out everywhere)",
    )


def _add_business_verb(commands: Any) -> None:
    business = commands.add_parser("business", help="the bundled demo business systems")
    verbs = business.add_subparsers(dest="business_command", required=True)
    seed_parser = verbs.add_parser("seed", help="fill the demo backend with realistic data")
    seed_parser.add_argument(
        "--customers", type=int, default=300, help="generated customers beside the personas"
    )
    seed_parser.add_argument("--random-seed", type=int, default=7, help="same seed, same data")
    seed_parser.add_argument("--reset", action="store_true", help="empty the backend first")
    verbs.add_parser("pay-refunds", help="pay every approved refund (the payment run)")


def load_settings() -> Settings | None:
    """The settings, or None after saying what is wrong with them."""
    try:
        return get_settings()
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in error.errors()
        )
        print(f"error: invalid configuration (environment or .env): {problems}", file=sys.stderr)
        return None


def train_model(settings: Settings, *, force: bool) -> int:
    """Train if the inputs changed (or `force`); 1 with the reason if training failed."""
    try:
        train(settings, force=force)
    except TrainingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m bot`."""
    parser = build_parser()
    args = parser.parse_args(argv)
    settings = load_settings()
    if settings is None:
        return 2
    if args.command == "run":
        return run(settings)
    if args.command == "train":
        return train_model(settings, force=args.force)
    if args.command == "sms":
        return send_test_sms(settings, args.sender, args.text)
    if args.command == "customer" and not (args.email or args.phone):
        parser.error("customer needs --email or --phone")
    if args.command == "migrate":
        migrate(settings.effective_database_url)
        return 0
    if args.command == "business":
        return asyncio.run(business_verb(settings, args))
    if args.command == "nlp":
        return nlp_verb(settings, args)
    if args.command == "worker":
        return run_worker(settings)
    return run_store_verb(settings, STORE_VERBS[args.command], args)
