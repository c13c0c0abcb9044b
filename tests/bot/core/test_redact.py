"""What the log masking hides (customers' text, addresses, cards, credentials, codes) and what
it leaves readable (the times, ids and numbers that make a log useful)."""

from __future__ import annotations

import json

import pytest

from bot.core.redact import redact_fields, redact_line, redact_text


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        # phone numbers: E.164 and the common ways people write them
        ("sender +14155550100 texted", "4155550100"),
        ("call +1 (415) 555-0100 now", "555-0100"),
        ("call +44 20 7946 0958", "7946 0958"),
        ("call (415) 555-0100", "555-0100"),
        ("call 415-555-0100 or", "415-555-0100"),
        ("call 415.555.0100", "415.555.0100"),
        ("call 020 7946 0958", "7946 0958"),
        ("call 07700 900123", "900123"),
        ("call 4155550100", "4155550100"),
        # email addresses
        ("from jane.doe+orders@example.co.uk:", "jane.doe"),
        ("refused={'Ann.Lee@Mail.Example.org': (550, b'no')}", "Ann.Lee"),
        # card numbers, Luhn-valid or not, grouped or not
        ("card 4111 1111 1111 1111 ok", "1111 1111"),
        ("card 4111-1111-1111-1111 ok", "1111-1111"),
        ("card 4111111111111111", "4111111111111111"),
        ("card 1234567890123", "1234567890123"),
        ("card 1234 5678 9012 3456 789", "9012 3456"),
        # credentials
        ("Authorization: Bearer abc.DEF-123_xyz", "abc.DEF"),
        ("GET /status?token=0123456789abcdef HTTP/1.1", "0123456789abcdef"),
        ('"WebSocket /webchat/ws?user_id=e2e-1a2b3c4d" [accepted]', "e2e-1a2b3c4d"),
        ("session eyJzdWIiOiJ2LTEyMyJ9.Zk3x9Q.k2Jd8_LmQ0pZx7RtYw3V done", "eyJzdWIi"),
        ("issued Jq3x_8kLmN0pQrStUvWxYz12AbCdEfGhIjKlMnOpQr4 to", "Jq3x_8kLm"),
        ("password='hunter2-but-longer'", "hunter2"),
        ('{"secret": "s3cr3t-value"}', "s3cr3t"),
        # one-time codes as values of code fields
        ("verify code=482913 sent", "482913"),
        ('{"otp": "482913"}', "482913"),
        ("'code': '482913'", "482913"),
        # message text in structured fields, whatever the renderer
        ('{"text": "my order never came", "sender": "conv-1"}', "never came"),
        ("{'text': 'my order never came', 'metadata': {}}", "never came"),
        ('rest.message.received.timeout text="my order never came"', "never came"),
        ("rest.message.received.timeout text=my order never came", "never came"),
        (
            "2026-12-02 18:05:12 ERROR    rasa.core.channels.rest  - "
            '{"text": "my order never came", "event": "rest.message.received.timeout"}',
            "never came",
        ),
        ("[error ] timeout   text=my order never came  sender=conv-1", "order never"),
        ("Body=My+order+never+came&From=%2B14155550100&To=%2B1", "order"),
        ("SpeechResult=I want a refund", "refund"),
        ('{"Subject": "Refund for order 1234"}', "Refund"),
        ("message='Where is my parcel'", "parcel"),
        # database errors quote the statement's parameters and conflicting keys
        (
            "IntegrityError\n[SQL: INSERT INTO messages (text) VALUES (?)]\n"
            "[parameters: ('where is my parcel', 3)]\n(Background on this error at: x)",
            "parcel",
        ),
        ("DETAIL:  Key (channel, address)=(webchat, v-7f3a9c) already exists.", "v-7f3a9c"),
    ],
)
def test_masks(line: str, secret: str) -> None:
    masked = redact_line(line)
    assert secret not in masked, masked
    assert redact_line(masked) == masked  # masking twice changes nothing


@pytest.mark.parametrize(
    "line",
    [
        "2024-05-01 12:00:00,123 INFO     rasa.core.processor  - Loaded model assistant.tar.gz",
        "[2024-05-01 12:00:00 +0000] [12345] [INFO] Starting worker [12345]",
        "INFO:     127.0.0.1:53422 - connection open",
        "Uvicorn running on http://127.0.0.1:8000 (Press CTRL+C to quit)",
        "call_sid=CA0123456789abcdef0123456789abcdef status=completed duration=42",
        "conversation_id=conv-5f0c1234567890abcdef1234567890ab message_id=42",
        "sms_send_failed code=30005 error_code=21211 permanent=True",
        "took 1714550400.123s; version 3.6.21; pid 4021",
        'File "/work/main/.venv/lib/python3.11/site-packages/structlog/stdlib.py", line 42',
        "sqlalchemy.exc.IntegrityError: structlog.stdlib.ProcessorFormatter failed",
        "retry_in_seconds=12.5 attempts=3 latency_ms=87.4",
    ],
)
def test_keeps_what_makes_a_log_useful(line: str) -> None:
    assert redact_line(line) == line


def test_json_lines_stay_json_with_fields_masked() -> None:
    event = {
        "event": "turn_failed for +14155550100",
        "conversation_id": "conv-5f0c",
        "text": "please call me",
        "user_id": "v-123",
        "nested": {"body": "hello", "to": "jane@example.com"},
        "items": ["jane@example.com", 3],
        "latency_ms": 87.4,
    }
    masked = json.loads(redact_line(json.dumps(event)))
    assert masked == {
        "event": "turn_failed for [phone]",
        "conversation_id": "conv-5f0c",
        "text": "[text]",
        "user_id": "[address]",
        "nested": {"body": "[text]", "to": "[address]"},
        "items": ["[email]", 3],
        "latency_ms": 87.4,
    }


def test_rasa_tracebacks_keep_only_the_names_of_local_variables() -> None:
    # Rasa renders errors as JSON after a text prefix, tracebacks with each frame's locals,
    # which hold the tracker's slots (cut short by structlog's repr).
    event = {
        "event": "interpolator.interpolate.text",
        "exception": [
            {
                "exc_type": "KeyError",
                "frames": [
                    {
                        "name": "interpolate_text",
                        "locals": {
                            "values": "\"{'complaint_description': 'my parcel came broke\"+6776",
                            "e": "KeyError('desired_outcome')",
                        },
                    }
                ],
            }
        ],
    }
    prefix = "2026-12-02 18:05:12 ERROR    rasa.core.nlg.interpolator  - "
    masked = redact_line(prefix + json.dumps(event))
    assert masked.startswith(prefix)
    frame = json.loads(masked.removeprefix(prefix))["exception"][0]["frames"][0]
    assert frame["locals"] == {"values": "[value]", "e": "[value]"}
    assert frame["name"] == "interpolate_text"


def test_a_repr_cut_short_is_masked_to_its_end() -> None:
    cut = "{'complaint_category': 'damaged', 'complaint_description': 'my parcel came bro\"+67"
    assert redact_text(cut) == "{'complaint_category': 'damaged', 'complaint_description': '[text]'"


def test_an_unmasked_json_line_is_left_byte_for_byte() -> None:
    line = '{"event": "turn", "status": "answered", "replies": 2}'
    assert redact_line(line) == line


def test_fields_are_masked_by_name_and_objects_by_their_repr() -> None:
    class Inbound:
        def __repr__(self) -> str:
            return "Inbound(text='hello', sender='+14155550100')"

    masked = redact_fields({"message": "hello", "code": 482913, "inbound": Inbound()})
    assert masked == {
        "message": "[text]",
        "code": "[code]",
        "inbound": "Inbound(text='[text]', sender='[phone]')",
    }


def test_empty_text_fields_stay_empty() -> None:
    assert redact_fields({"text": "", "body": None}) == {"text": "", "body": None}
    assert redact_text("") == ""
