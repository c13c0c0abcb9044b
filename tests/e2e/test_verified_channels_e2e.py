"""End to end, verification on the other channels through the real Rasa server: a code sent
by SMS and typed on a call's keypad, a code by email answered by email, and the company
app's signed token verifying an in-app web chat customer at once (a forged one refused);
a receipt link that opens the PDF for its customer only."""

from __future__ import annotations

import re
import time

import httpx
import jwt
import pytest

from bot.business.demo.backend import DemoBusinessSystems
from bot.business.records import CustomerRecord, Order
from tests.support.call import Call, next_action, said
from tests.support.chat import ChatClient, ChatSession
from tests.support.credentials import remember
from tests.support.mail_client import answer_to, customer_mail, text_of
from tests.support.stack import APP_TOKEN_SECRET, Stack

pytestmark = pytest.mark.integration

CODE = re.compile(r"Your verification code is (\d{6})")
RECEIPT_LINK = re.compile(r"https?://\S+/receipts/[\w.-]+")


async def _generated_customer(stack: Stack, first: int) -> tuple[CustomerRecord, Order]:
    """A seeded (generated) customer with a phone, an email and an order, from C-<first>."""
    backend = DemoBusinessSystems(stack.settings.effective_business_database_url)
    try:
        for number in range(first, first + 50):
            customer = await backend.customer(f"C-{number}")
            orders = await backend.orders(f"C-{number}", limit=1)
            if customer and customer.phone and customer.email and orders:
                return customer, orders[0]
    finally:
        await backend.aclose()
    raise AssertionError("no generated customer with a phone, an email and an order")


def _texted_code(stack: Stack, number: str) -> str:
    codes = [
        m.group(1)
        for r in stack.twilio.requests_to("/Messages.json")
        if r.form_value("To") == number and (m := CODE.search(r.form_value("Body") or ""))
    ]
    assert codes
    remember("one-time code message", f"Your verification code is {codes[-1]}")
    return codes[-1]


async def test_a_code_texted_to_a_caller_and_typed_on_the_keypad(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    customer, order = await _generated_customer(stack, 10120)
    assert customer.phone is not None
    call = Call(stack, http)
    call.number = customer.phone
    call.params = call.params | {"From": customer.phone, "Caller": customer.phone}
    greeting = await call.post("/twilio/voice/consent?choice=default")
    asked = await call.say(next_action(greeting), "where is my order")
    assert "enter the 6 digits on your keypad" in " ".join(said(asked)), asked
    # The keypad prompt takes exactly six presses.
    assert 'numDigits="6"' in asked
    answer = await call.press(next_action(asked), _texted_code(stack, customer.phone))
    spoken = said(answer)
    assert spoken[0] == "Thanks, you're verified.", spoken
    assert spoken[1].startswith(f"Order {order.ref}"), spoken


async def test_a_code_by_email_answered_by_email(stack: Stack) -> None:
    customer, order = await _generated_customer(stack, 10180)
    assert customer.email is not None
    first = customer_mail(customer.email, "My order", "Hello, where is my order?\n\nThanks")
    stack.imap.append(first.as_bytes())
    # Two mails: the code on its own, and the answer in the customer's thread.
    mails = [await answer_to(stack.smtp, customer.email, n) for n in (1, 2)]
    code_mail = next(m for m in mails if m.message["Subject"] == "Your verification code")
    answer = next(m for m in mails if m is not code_mail)
    assert "check it's you" in text_of(answer)
    code = CODE.search(text_of(code_mail))
    assert code, text_of(code_mail)
    reply = customer_mail(
        customer.email,
        "Re: My order",
        f"{code.group(1)}\n\nOn Mon, Shop Support wrote:\n> check it's you\n",
        in_reply_to=answer.message["Message-ID"],
    )
    stack.imap.append(reply.as_bytes())
    verified_mail = await answer_to(stack.smtp, customer.email, 3)
    verified = text_of(verified_mail)
    assert "Thanks, you're verified." in verified
    assert f"Order {order.ref}" in verified

    # Verified for the conversation: a receipt comes at once, as a PDF attachment.
    ask = customer_mail(
        customer.email,
        "Re: My order",
        "Could you send me the receipt for my last payment please?",
        in_reply_to=verified_mail.message["Message-ID"],
    )
    stack.imap.append(ask.as_bytes())
    receipt = await answer_to(stack.smtp, customer.email, 4)
    assert "is attached (PDF)" in text_of(receipt)
    (pdf,) = [part for part in receipt.message.iter_attachments()]
    assert pdf.get_content_type() == "application/pdf"
    assert (pdf.get_filename() or "").startswith("receipt-PAY-")
    assert pdf.get_content().startswith(b"%PDF")


def _app_token(
    sub: str, *, secret: str = APP_TOKEN_SECRET, audience: str = "customer-assistant"
) -> str:
    now = int(time.time())
    claims = {"sub": sub, "aud": audience, "iat": now, "exp": now + 600}
    token = jwt.encode(claims, secret, algorithm="HS256")
    remember("company app token", token)
    return token


async def _app_session(stack: Stack, http: httpx.AsyncClient, token: str) -> httpx.Response:
    return await http.post(f"{stack.app_url}/webchat/sessions", json={"app_token": token})


async def test_an_in_app_customer_gets_transactions_and_a_receipt_without_a_code(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    customer, _ = await _generated_customer(stack, 10240)
    codes_before = len(stack.twilio.requests_to("/Messages.json"))
    response = await _app_session(stack, http, _app_token(customer.ref))
    assert response.status_code == 201, response.text
    session = ChatSession(response.json()["token"], response.json()["expires_at"])
    async with ChatClient(stack.ws_url, session) as chat:
        replies = [r["text"] for r in await chat.say("can I get a receipt for my last payment")]
    assert not any("check it's you" in text for text in replies), replies
    link = RECEIPT_LINK.search(" ".join(replies))
    assert link, replies
    assert len(stack.twilio.requests_to("/Messages.json")) == codes_before
    pdf = await http.get(link.group(0).replace(stack.settings.app_url, stack.app_url))
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    tampered = link.group(0)[:-3] + ("abc" if not link.group(0).endswith("abc") else "xyz")
    refused = await http.get(tampered.replace(stack.settings.app_url, stack.app_url))
    assert refused.status_code == 404


@pytest.mark.parametrize(
    "token",
    [
        _app_token("C-10001", secret="not-the-company-secret-0123456789abcdef"),
        _app_token("C-10001", audience="someone-else"),
        jwt.encode({"sub": "C-10001", "aud": "customer-assistant", "exp": 1}, APP_TOKEN_SECRET),
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJDLTEwMDAxIiwiYXVkIjoiY3VzdG9tZXItYXNzaXN0YW50In0.",
        "not-a-token",
    ],
    ids=["forged", "wrong-audience", "expired", "alg-none", "malformed"],
)
async def test_a_bad_app_token_is_refused(
    stack: Stack, http: httpx.AsyncClient, token: str
) -> None:
    response = await _app_session(stack, http, token)
    assert response.status_code in (400, 401), response.text
    assert set(response.json()) == {"code", "detail"}
    assert "C-10001" not in response.text


async def test_complaints_from_another_channel_are_shown_once_verified(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    customer, _ = await _generated_customer(stack, 10300)
    token = _app_token(customer.ref)
    response = await _app_session(stack, http, token)
    session = ChatSession(response.json()["token"], response.json()["expires_at"])
    async with ChatClient(stack.ws_url, session) as chat:
        await chat.say("I want to make a complaint")
        await chat.say("Staff or service", payload='/inform{"complaint_category": "service"}')
        await chat.say("the driver was rude and threw the parcel over the fence")
        await chat.say("no")
        filed = " ".join(
            r["text"]
            for r in await chat.say(
                "Just let you know", payload='/inform{"desired_outcome": "feedback"}'
            )
        )
    case = re.search(r"CMP-\w{5}", filed)
    assert case, filed
    # The same customer by email, verified with a code: the web chat complaint is theirs.
    assert customer.email is not None
    stack.imap.append(
        customer_mail(customer.email, "Complaint", "What's the status of my complaint?").as_bytes()
    )
    mails = [await answer_to(stack.smtp, customer.email, n) for n in (1, 2)]
    code_mail = next(m for m in mails if m.message["Subject"] == "Your verification code")
    answer = next(m for m in mails if m is not code_mail)
    code = CODE.search(text_of(code_mail))
    assert code
    reply = customer_mail(
        customer.email, "Re: Complaint", code.group(1), in_reply_to=answer.message["Message-ID"]
    )
    stack.imap.append(reply.as_bytes())
    status = text_of(await answer_to(stack.smtp, customer.email, 3))
    assert case.group(0) in status, status
