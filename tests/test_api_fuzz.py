"""Fuzzing the real app over HTTP: schemathesis over every route of its OpenAPI, and
property-based requests with what broke it before (ids over 2^63, JSON nested thousands
deep, NUL and lone surrogates). No answer may be a server error.

The app runs under uvicorn on a free port with SQLite in a temporary folder, Twilio on with
a test account (the fuzzer's webhook requests are signed as Twilio signs them, so they get
past the signature check), an agent signed in and a web chat session open (their tokens go
on the routes that need them), and every rate limit far out of reach. Rasa is not running:
customers' messages are stored and deferred.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import hypothesis
import pytest
import requests
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from pydantic import SecretStr
from schemathesis.checks import not_a_server_error
from twilio.request_validator import RequestValidator

from bot.app import create_app
from bot.core.db import Database
from bot.core.settings import Settings
from bot.schema import migrate
from bot.testing.ports import free_port
from bot.testing.twilio_api import fake_twilio
from bot.testing.twilio_webhooks import DEFAULT_ACCOUNT_SID
from tests.support.agents import PASSWORD, add_agent
from tests.support.databases import postgres_database, sqlite_url
from tests.support.handoff import queued

READINESS = ("/health", "/health/ready")
AUTH_TOKEN = "7c1e0b9a2d4f48e6a3b5c7d9e1f2a4b6"
AGENT_EMAIL = "fuzz.agent@example.com"
# Far more than the fuzzer sends: the limits' 429s would hide the routes behind them.
UNLIMITED = "1000000/minute"
# Examples per operation in schemathesis' fuzzing phase (its examples and coverage phases
# come on top): about two minutes for the whole run on two cores.
FUZZ_EXAMPLES = 30
PROPERTY_SETTINGS = hypothesis.settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    database=None,
)
PROPERTY_SETTINGS_FEWER = hypothesis.settings(PROPERTY_SETTINGS, max_examples=12)


@dataclass
class RunningApp:
    """The served app: its base URL and the credentials the fuzzer's requests carry."""

    url: str
    agent_token: str
    webchat_token: str
    handoff_id: int  # a customer's conversation the agent has taken

    def session(self) -> FuzzSession:
        """An HTTP session that signs and authenticates requests as `FuzzSession` says."""
        return FuzzSession(self)


class FuzzSession(requests.Session):
    """Requests as a real client of each route sends them: Twilio's webhooks signed with
    the account's token, the agent API and the web chat with their bearer tokens. Sign-out
    gets none, so it revokes nothing."""

    def __init__(self, app: RunningApp) -> None:
        super().__init__()
        self.app = app

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        path = urlsplit(request.url or "").path
        if path.startswith("/twilio/"):
            request.headers["X-Twilio-Signature"] = _twilio_signature(request)
        elif path in ("/webchat/messages", "/webchat/history") or path.startswith(
            "/webchat/uploads"
        ):
            # In place of the fuzzer's made-up tokens, which would all stop at the 401.
            request.headers["Authorization"] = f"Bearer {self.app.webchat_token}"
        elif path.startswith("/agent/") and path not in ("/agent/login", "/agent/logout"):
            request.headers["Authorization"] = f"Bearer {self.app.agent_token}"
        kwargs.setdefault("timeout", 30)
        return super().send(request, **kwargs)


def _twilio_signature(request: requests.PreparedRequest) -> str:
    body = request.body or b""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    params = dict(parse_qsl(text, keep_blank_values=True))
    return str(RequestValidator(AUTH_TOKEN).compute_signature(request.url, params))


def _settings(tmp: Path, database_url: str, twilio_url: str) -> Settings:
    return Settings(
        var_dir=tmp / "var",
        database_url=database_url,
        app_port=free_port(),
        rasa_url=f"http://127.0.0.1:{free_port()}",
        action_server_url=f"http://127.0.0.1:{free_port()}",
        twilio_account_sid=DEFAULT_ACCOUNT_SID,
        twilio_auth_token=SecretStr(AUTH_TOKEN),
        twilio_phone_number="+14155550199",
        twilio_api_base_url=twilio_url,
        imap_host="",
        public_url="",
        retry_interval_seconds=3600.0,
        log_level="ERROR",
        webchat_visitor_rate=UNLIMITED,
        webchat_address_rate=UNLIMITED,
        webchat_new_session_rate=UNLIMITED,
        sms_sender_rate=UNLIMITED,
        call_sender_rate=UNLIMITED,
        agent_login_account_failures=UNLIMITED,
        agent_login_address_failures=UNLIMITED,
    )


@contextmanager
def _serving(tmp: Path, database_url: str) -> Iterator[RunningApp]:
    """The app on `database_url` under uvicorn in a thread of its own."""
    with fake_twilio(DEFAULT_ACCOUNT_SID, AUTH_TOKEN) as twilio:
        settings = _settings(tmp, database_url, twilio.base_url)
        migrate(database_url)
        handoff_id = asyncio.run(_agent_and_customer(database_url))
        config = uvicorn.Config(
            create_app(settings),
            host="127.0.0.1",
            port=settings.app_port,
            lifespan="on",
            log_config=None,
            access_log=False,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name="fuzzed-app", daemon=True)
        thread.start()
        try:
            url = _started(server, thread, settings.app_port)
            yield RunningApp(url, *_credentials(url, handoff_id), handoff_id)
        finally:
            server.should_exit = True
            thread.join(timeout=30)


@pytest.fixture(scope="module")
def sqlite_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """The app on SQLite, for the whole module."""
    tmp = tmp_path_factory.mktemp("fuzz-sqlite")
    with _serving(tmp, sqlite_url(tmp)) as running:
        yield running


@pytest.fixture(scope="module")
def postgres_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """The app on a fresh PostgreSQL database, for the whole module."""
    tmp = tmp_path_factory.mktemp("fuzz-postgres")
    with postgres_database() as url, _serving(tmp, url) as running:
        yield running


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def running_app(request: pytest.FixtureRequest) -> RunningApp:
    """The app on SQLite, then on PostgreSQL."""
    running: RunningApp = request.getfixturevalue(f"{request.param}_app")
    return running


async def _agent_and_customer(database_url: str) -> int:
    """The fuzzer's agent, and a customer waiting in their queue (the handoff's id)."""
    database = Database(database_url)
    try:
        await add_agent(database, AGENT_EMAIL)
        return await queued(database)
    finally:
        await database.dispose()


def _started(server: uvicorn.Server, thread: threading.Thread, port: int) -> str:
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "the app did not start (see its log above)"
        assert time.monotonic() < deadline, "the app took over 30 s to start"
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}"


def _credentials(url: str, handoff_id: int) -> tuple[str, str]:
    """The agent's token (with `handoff_id` taken) and a web chat visitor's."""
    login = requests.post(
        f"{url}/agent/login", json={"email": AGENT_EMAIL, "password": PASSWORD}, timeout=30
    )
    assert login.status_code == 200, login.text
    agent = {"Authorization": f"Bearer {login.json()['token']}"}
    available = requests.post(
        f"{url}/agent/status", json={"status": "available"}, headers=agent, timeout=30
    )
    assert available.status_code == 200, available.text
    # Going available, the agent may have been given it already (409 then).
    requests.post(f"{url}/agent/conversations/{handoff_id}/take", headers=agent, timeout=30)
    reply = requests.post(
        f"{url}/agent/conversations/{handoff_id}/reply",
        json={"text": "Hello, I'm looking into it."},
        headers=agent,
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    session = requests.post(f"{url}/webchat/sessions", timeout=30)
    assert session.status_code == 201, session.text
    return login.json()["token"], session.json()["token"]


def _openapi_document() -> dict[str, Any]:
    """The app's OpenAPI document (building the app starts nothing)."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(var_dir=Path(tmp), log_level="ERROR")
        return create_app(settings).openapi()


# Read when the tests are collected: one test per operation, every operation in it.
schema = schemathesis.openapi.from_dict(_openapi_document())
schema.config.generation.update(max_examples=FUZZ_EXAMPLES)


@pytest.mark.postgres
@schema.parametrize()
@hypothesis.settings(deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_no_route_answers_a_server_error(
    case: schemathesis.Case[Any], postgres_app: RunningApp
) -> None:
    # On PostgreSQL, which refuses more than SQLite (NUL, longer strings than a column's).
    with postgres_app.session() as session:
        response = case.call(base_url=postgres_app.url, session=session)
    if case.path in READINESS and response.status_code == 503:
        return  # true: Rasa is not running (liveness, /health/live, must stay 200)
    case.validate_response(response, checks=[not_a_server_error])


# The routes with ids in their path or query, as a client reaches them.
ID_ROUTES = [
    ("GET", "/agent/conversations/{id}"),
    *(("POST", f"/agent/conversations/{{id}}/{action}") for action in ("take", "decline")),
    *(("POST", f"/agent/conversations/{{id}}/{action}") for action in ("resolve",)),
    ("POST", "/twilio/voice/hold?handoff={id}"),
    ("POST", "/twilio/voice/dequeued?handoff={id}"),
    ("POST", "/twilio/voice/gather?turn={id}&misses={id}"),
    ("POST", "/twilio/voice/pending?turn={id}&waits={id}"),
]
# The routes with JSON bodies ({handoff}: the conversation the agent has taken).
JSON_ROUTES = [
    "/webchat/sessions",
    "/webchat/messages",
    "/agent/login",
    "/agent/status",
    "/agent/conversations/{handoff}/reply",
    "/agent/conversations/{handoff}/notes",
    "/agent/conversations/{handoff}/transfer",
]
# Every text field of those bodies.
JSON_FIELDS = ("text", "id", "payload", "user", "email", "password", "status", "note", "queue")
TWILIO_ROUTES = ["/twilio/sms", "/twilio/voice", "/twilio/voice/gather?turn=1"]
TWILIO_FIELDS = ("Body", "From", "To", "SpeechResult", "MessageSid", "CallSid", "Digits")
HUGE_IDS = st.one_of(
    st.integers(min_value=2**63 - 1, max_value=2**70),
    st.integers(min_value=-(2**70), max_value=-1),
    st.sampled_from(["9" * 5000, "0x10", "1e3", "١٢", "²", "NaN", " 1", "1 ", ""]),
)


def _call(app: RunningApp, method: str, path: str, **kwargs: Any) -> requests.Response:
    path = path.replace("{handoff}", str(app.handoff_id))
    with app.session() as session:
        return session.request(method, f"{app.url}{path}", **kwargs)


def _twilio_form() -> dict[str, str]:
    return {
        "CallSid": "CA" + "0" * 32,
        "AccountSid": DEFAULT_ACCOUNT_SID,
        "From": "+14155550142",
        "To": "+14155550199",
        "CallStatus": "in-progress",
        "SpeechResult": "hello",
    }


@given(route=st.sampled_from(ID_ROUTES), value=HUGE_IDS)
@PROPERTY_SETTINGS
def test_ids_out_of_range_are_client_errors(
    running_app: RunningApp, route: tuple[str, str], value: int | str
) -> None:
    method, template = route
    path = template.replace("{id}", str(value))
    form = _twilio_form() if path.startswith("/twilio/") else None
    response = _call(running_app, method, path, data=form)
    assert response.status_code < 500, (method, path[:100], response.text[:300])


@given(
    path=st.sampled_from(JSON_ROUTES),
    depth=st.sampled_from([1000, 5000, 30_000]),
    opener=st.sampled_from(["[", '{"a":', '{"text":', '{"email":']),
)
@PROPERTY_SETTINGS
def test_json_nested_thousands_deep_is_a_client_error(
    running_app: RunningApp, path: str, depth: int, opener: str
) -> None:
    closer = "]" if opener == "[" else "}"
    body = opener * depth + "1" + closer * depth
    response = _call(
        running_app, "POST", path, data=body, headers={"Content-Type": "application/json"}
    )
    assert 400 <= response.status_code < 500, (path, depth, opener, response.text[:300])


UNSTORABLE_TEXT = st.text(
    alphabet=st.sampled_from(["\x00", "\ud800", "\udfff", "a", " ", "é", "\U0001f600", "\x07"]),
    min_size=1,
    max_size=40,
)


@given(text=UNSTORABLE_TEXT, field=st.sampled_from(JSON_FIELDS))
@PROPERTY_SETTINGS_FEWER
def test_nul_and_lone_surrogates_in_json_are_never_a_server_error(
    running_app: RunningApp, text: str, field: str
) -> None:
    # In one field alone (checks of the others do not stop it) and in every field at once;
    # json.dumps writes NUL and lone surrogates as \\u escapes, as browsers do.
    for values in ({field: text}, dict.fromkeys(JSON_FIELDS, text)):
        body = json.dumps({"type": "message", "text": "hello"} | values)
        for path in JSON_ROUTES:
            response = _call(
                running_app, "POST", path, data=body, headers={"Content-Type": "application/json"}
            )
            assert response.status_code < 500, (path, body, response.text[:300])


@given(
    text=st.text(alphabet=st.sampled_from(["\x00", "a", "1", "+", " ", "é"]), max_size=30),
    field=st.sampled_from(TWILIO_FIELDS),
)
@PROPERTY_SETTINGS_FEWER
def test_nul_in_twilio_forms_is_never_a_server_error(
    running_app: RunningApp, text: str, field: str
) -> None:
    form = _twilio_form() | {"MessageSid": "SM" + "1" * 32, "Body": "hi", field: text}
    for path in TWILIO_ROUTES:
        response = _call(running_app, "POST", path, data=form)
        assert response.status_code < 500, (path, form, response.text[:300])
