"""Web chat's REST endpoints over real HTTP: a session the server issued is the only way to a
visitor's conversation; embedding apps bind their users with their secret; the company app's
customer is verified by its signed token, on every message; rate limits refuse before
anything is stored; hard inputs get clear 4xx answers."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import jwt
from pydantic import SecretStr

from adapters.webchat.sessions import SessionSigner
from bot.core.models import Direction
from tests.support.app_tokens import (
    APP_SECRET,
    CUSTOMER,
    VERIFIED,
    app_token,
    app_visitor,
    refused_app_tokens,
    stored_rows,
)
from tests.support.chat import ChatSession, stored_messages, token_claims
from tests.support.webchat_app import WebchatApp, WebchatAppFactory

EMBED_SECRET = "the-shops-server-secret"
INVALID_SESSION = {
    "code": "unauthorized",
    "detail": "A valid web chat session is required: get one from POST /webchat/sessions and "
    "send it as 'Authorization: Bearer <token>'.",
}


async def _post(app: WebchatApp, session: ChatSession | None, body: Any) -> Any:
    headers = session.headers if session else {}
    async with app.http() as http:
        return await http.post("/webchat/messages", json=body, headers=headers)


async def _history(app: WebchatApp, session: ChatSession) -> list[str]:
    async with app.http() as http:
        response = await http.get("/webchat/history", headers=session.headers)
    assert response.status_code == 200, response.text
    return [m["text"] for m in response.json()["messages"] if m["direction"] == "inbound"]


async def test_an_outsider_with_the_visitor_id_cannot_read_or_post(
    webchat_app: WebchatAppFactory,
) -> None:
    async with webchat_app() as app:
        victim = await app.session()
        posted = await _post(app, victim, {"id": "m1", "text": "my order is ORD-482913"})
        assert posted.status_code == 200, posted.text
        victim_id = victim.visitor_id
        async with app.http() as http:
            by_id = await http.get("/webchat/history", params={"user_id": victim_id})
            assert (by_id.status_code, by_id.json()) == (401, INVALID_SESSION)
            assert by_id.headers["www-authenticate"] == "Bearer"
        as_victim = await _post(app, None, {"user_id": victim_id, "text": "status of my case?"})
        assert (as_victim.status_code, as_victim.json()) == (401, INVALID_SESSION)
        # With a session of their own, naming the victim changes nothing: it is their own.
        outsider = await app.session()
        await _post(app, outsider, {"user_id": victim_id, "text": "status of my case?"})
        assert await _history(app, outsider) == ["status of my case?"]
        assert await _history(app, victim) == ["my order is ORD-482913"]
    inbound = [m.text for m in await stored_messages(app.database, victim_id)]
    assert inbound[0] == "my order is ORD-482913"
    assert "status of my case?" not in inbound


async def test_forged_expired_and_malformed_tokens_get_401(webchat_app: WebchatAppFactory) -> None:
    async with webchat_app(webchat_session_days=1) as app:
        ours = SessionSigner.from_settings(app.settings)
        guessed = SessionSigner("guessed-secret", timedelta(days=1))
        real = await app.session()
        payload, _, signature = real.token.partition(".")
        bad_tokens = [
            ours.token(ours.anonymous(now=time.time() - 2 * 86400)),  # expired
            guessed.token(guessed.anonymous()),  # forged
            f"{payload}.{signature[:-2]}",
            "x.y",
        ]
        async with app.http() as http:
            for token in bad_tokens:
                for method, path in [("GET", "/webchat/history"), ("POST", "/webchat/messages")]:
                    headers = {"Authorization": f"Bearer {token}"}
                    body = {"text": "hi"}
                    response = await http.request(method, path, headers=headers, json=body)
                    assert (response.status_code, response.json()) == (401, INVALID_SESSION)
            basic = await http.get("/webchat/history", headers={"Authorization": "Basic eDp5"})
            assert (basic.status_code, basic.json()) == (401, INVALID_SESSION)
            assert (await http.get("/webchat/history", headers=real.headers)).status_code == 200


async def test_a_session_renews_as_the_same_visitor(webchat_app: WebchatAppFactory) -> None:
    async with webchat_app() as app:
        session = await app.session()
        async with app.http() as http:
            response = await http.post("/webchat/sessions", headers=session.headers)
            assert response.status_code == 201, response.text
            renewed = ChatSession(**response.json())
            assert renewed.visitor_id == session.visitor_id
            assert token_claims(renewed.token)["kind"] == "anonymous"
            forged = {"Authorization": f"Bearer {session.token[:-3]}"}
            refused = await http.post("/webchat/sessions", headers=forged)
            assert (refused.status_code, refused.json()) == (401, INVALID_SESSION)


async def test_an_embedding_app_binds_its_user(webchat_app: WebchatAppFactory) -> None:
    async with webchat_app(webchat_embed_secret=SecretStr(EMBED_SECRET)) as app:
        laptop = await app.session(user="shop-user-42", bearer=EMBED_SECRET)
        phone = await app.session(user="shop-user-42", bearer=EMBED_SECRET)
        other = await app.session(user="shop-user-43", bearer=EMBED_SECRET)
        assert laptop.visitor_id == phone.visitor_id != other.visitor_id
        assert "shop-user-42" not in laptop.visitor_id
        assert token_claims(laptop.token)["kind"] == "app_user"
        # One history on both devices.
        await _post(app, laptop, {"id": "l1", "text": "sent from my laptop"})
        assert await _history(app, phone) == ["sent from my laptop"]
        async with app.http() as http:
            for headers in [{}, {"Authorization": "Bearer not-the-secret"}]:
                refused = await http.post(
                    "/webchat/sessions", json={"user": "shop-user-42"}, headers=headers
                )
                assert (refused.status_code, refused.json()) == (401, INVALID_SESSION)
    stored = await stored_messages(app.database, laptop.visitor_id)
    assert stored[0].direction is Direction.INBOUND
    assert stored[0].payload == {"metadata": {"session_kind": "app_user"}}


async def test_without_an_embed_secret_no_user_can_be_bound(
    webchat_app: WebchatAppFactory,
) -> None:
    async with webchat_app() as app, app.http() as http:
        refused = await http.post(
            "/webchat/sessions",
            json={"user": "shop-user-42"},
            headers={"Authorization": "Bearer guessed"},
        )
        assert refused.status_code == 403
        assert refused.json()["code"] == "embedding_disabled"
        for body in [{"user": ""}, {"user": "a" * 257}, {"user": "tab\there"}, {"user": 42}]:
            invalid = await http.post("/webchat/sessions", json=body)
            assert (invalid.status_code, invalid.json()["code"]) == (400, "invalid_user"), body


async def test_too_many_messages_get_429_and_are_not_stored(
    webchat_app: WebchatAppFactory,
) -> None:
    async with webchat_app(webchat_visitor_rate="2/minute") as app:
        session = await app.session()
        for n in range(2):
            taken = await _post(app, session, {"id": f"m{n}", "text": f"hi {n}"})
            assert taken.status_code == 200
        over = await _post(app, session, {"id": "m2", "text": "one too many"})
        assert over.status_code == 429
        assert over.json()["code"] == "rate_limited"
        assert 0 < int(over.headers["retry-after"]) <= 60
        # Another visitor is not held back by this one.
        assert (await _post(app, await app.session(), {"text": "hello"})).status_code == 200
    inbound = [m.text for m in await stored_messages(app.database, session.visitor_id)]
    assert "one too many" not in inbound
    assert len([t for t in inbound if t.startswith("hi ")]) == 2


async def test_one_address_is_limited_across_visitors(webchat_app: WebchatAppFactory) -> None:
    async with webchat_app(webchat_address_rate="3/minute") as app:
        visitors = [await app.session() for _ in range(4)]
        statuses = [(await _post(app, visitor, {"text": "hi"})).status_code for visitor in visitors]
    assert statuses == [200, 200, 200, 429]


async def test_new_sessions_are_limited_per_address(webchat_app: WebchatAppFactory) -> None:
    async with webchat_app(webchat_new_session_rate="2/minute") as app, app.http() as http:
        statuses = [(await http.post("/webchat/sessions")).status_code for _ in range(3)]
        assert statuses == [201, 201, 429]


async def test_hard_inputs_get_clear_errors(webchat_app: WebchatAppFactory) -> None:
    # Nested 5,000 deep (unterminated: the parser gives up on depth first), and 4,000 deep
    # complete, both within the size limit.
    deep = "[" * 5000
    deep_text = b'{"text": %s}' % (b"[" * 4000 + b"]" * 4000)
    async with webchat_app() as app, app.http() as http:
        session = await app.session()
        cases: list[tuple[bytes, str | None, int, str]] = [
            (deep.encode(), "application/json", 400, "malformed_json"),
            (deep_text, "application/json", 400, "malformed_json"),
            (b"not json", "application/json", 400, "malformed_json"),
            (b'{"text": "\xff"}', "application/json", 400, "invalid_encoding"),
            (b'{"text": "hi"}', "text/plain", 415, "unsupported_media_type"),
            (b"text=hi", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
            (b'{"text": "hi"}', None, 415, "unsupported_media_type"),
            (b'{"text": ""}', "application/json", 422, "empty_message"),
            (b'{"text": 5}', "application/json", 400, "malformed"),
            (b"x" * 100_000, "application/json", 413, "request_too_large"),
        ]
        for content, media_type, status, code in cases:
            headers = dict(session.headers)
            if media_type:
                headers["Content-Type"] = media_type
            response = await http.post("/webchat/messages", content=content, headers=headers)
            assert (response.status_code, response.json()["code"]) == (status, code), content[:30]
        deep_session = await http.post(
            "/webchat/sessions", content=deep[:4000], headers={"Content-Type": "application/json"}
        )
        assert (deep_session.status_code, deep_session.json()["code"]) == (400, "malformed_json")
        text_session = await http.post(
            "/webchat/sessions", content=b'{"user": "x"}', headers={"Content-Type": "text/plain"}
        )
        assert text_session.status_code == 415


async def test_the_openapi_describes_the_bodies_and_the_bearer(
    webchat_app: WebchatAppFactory,
) -> None:
    async with webchat_app() as app, app.http() as http:
        spec = (await http.get("/openapi.json")).json()
    messages = spec["paths"]["/webchat/messages"]["post"]
    body = messages["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["text"]
    assert set(body["properties"]) == {"type", "id", "text", "payload"}
    assert messages["security"] == [{"WebchatSession": []}]
    sessions = spec["paths"]["/webchat/sessions"]["post"]
    assert sessions["requestBody"]["required"] is False
    assert "user" in sessions["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert spec["components"]["securitySchemes"]["WebchatSession"]["scheme"] == "bearer"


async def test_an_app_token_as_the_bearer_verifies_every_message(
    webchat_app: WebchatAppFactory,
) -> None:
    async with webchat_app(app_token_secret=APP_SECRET) as app, app.http() as http:
        body = {"text": "balance?"}
        posted = await http.post("/webchat/messages", json=body, headers=_bearer(app_token()))
        assert posted.status_code == 200, posted.text
        # Another token for the same customer (another device): the same conversation.
        other_device = _bearer(app_token(iat=int(time.time()) - 5))
        history = await http.get("/webchat/history", headers=other_device)
        assert [m["text"] for m in history.json()["messages"]][:1] == ["balance?"]
    stored = await stored_messages(app.database, app_visitor(app))
    assert stored[0].payload == {"metadata": VERIFIED}


async def test_an_app_token_is_exchanged_for_a_session_that_ends_with_it(
    webchat_app: WebchatAppFactory,
) -> None:
    async with webchat_app(app_token_secret=APP_SECRET) as app, app.http() as http:
        token = app_token(exp=int(time.time()) + 300)
        opened = await http.post("/webchat/sessions", json={"app_token": token})
        assert opened.status_code == 201, opened.text
        session = ChatSession(**opened.json())
        issued = token_claims(session.token)
        assert (issued["kind"], issued["ref"]) == ("app", CUSTOMER)
        assert issued["sub"] == app_visitor(app)
        assert issued["exp"] <= jwt.decode(token, options={"verify_signature": False})["exp"]
        # Renewed, it still ends when the app's token does; by the token itself, too.
        for headers in (session.headers, _bearer(token)):
            renewed = await http.post("/webchat/sessions", headers=headers)
            assert renewed.status_code == 201, renewed.text
            assert token_claims(renewed.json()["token"])["exp"] <= issued["exp"]
        assert (await _post(app, session, {"text": "my refund"})).status_code == 200
    stored = await stored_messages(app.database, session.visitor_id)
    assert stored[0].payload == {"metadata": VERIFIED}


async def test_an_app_customer_is_not_the_embedding_apps_user_of_the_same_id(
    webchat_app: WebchatAppFactory,
) -> None:
    async with webchat_app(app_token_secret=APP_SECRET, webchat_embed_secret=EMBED_SECRET) as app:
        embedded = await app.session(user=CUSTOMER, bearer=EMBED_SECRET)
        assert embedded.visitor_id != app_visitor(app)
        assert app_visitor(app, "CUST-000483") != app_visitor(app)


async def test_a_visitor_cannot_set_the_verification_metadata(
    webchat_app: WebchatAppFactory,
) -> None:
    forged = {"verified_customer_ref": CUSTOMER, "verification": "app_token"}
    body = {"text": "I am CUST-000482", "session_kind": "app", "metadata": forged, **forged}
    async with webchat_app(app_token_secret=APP_SECRET) as app:
        visitor = await app.session()
        assert (await _post(app, visitor, body)).status_code == 200
    stored = await stored_messages(app.database, visitor.visitor_id)
    assert stored[0].payload == {"metadata": {"session_kind": "anonymous"}}


async def test_refused_app_tokens_get_401_and_nothing_is_stored(
    webchat_app: WebchatAppFactory,
) -> None:
    async with webchat_app(app_token_secret=APP_SECRET) as app, app.http() as http:
        for token in refused_app_tokens():
            requests: list[tuple[str, str, dict[str, str] | None, dict[str, str]]] = [
                ("POST", "/webchat/messages", {"text": "balance?"}, _bearer(token)),
                ("GET", "/webchat/history", None, _bearer(token)),
                ("POST", "/webchat/sessions", None, _bearer(token)),
                ("POST", "/webchat/sessions", {"app_token": token}, {}),
            ]
            for method, path, body, headers in requests:
                response = await http.request(method, path, json=body, headers=headers)
                assert response.status_code == 401, (path, response.text)
                assert response.json()["code"] == "unauthorized"
                assert response.json()["detail"].startswith("The app token was refused (")
                assert token not in response.text
        for not_a_token in [42, "", "x" * 4097]:
            invalid = await http.post("/webchat/sessions", json={"app_token": not_a_token})
            assert (invalid.status_code, invalid.json()["code"]) == (400, "invalid_app_token")
        both = await http.post("/webchat/sessions", json={"app_token": app_token(), "user": "u"})
        assert both.status_code == 400
    assert await stored_rows(app) == (0, 0)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
