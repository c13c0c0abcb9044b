"""Amazon Comprehend behind `ComprehendAnalyzer`, against moto's standalone server on a free
port: real HTTP, request signing and Comprehend's JSON protocol; boto3 is not patched.

moto 5.2.1 answers DetectSentiment (the same NEUTRAL scores whatever the text) but neither
BatchDetectSentiment nor DetectEntities (it fails them with HTTP 500). The module's server
is taught those two calls: BatchDetectSentiment answers each document with moto's own
DetectSentiment (its scores and its checks) and, as AWS does, refuses more than 25
documents and lists a document over 5,000 bytes in ErrorList; DetectEntities finds a few
known phrases. A text with THROTTLE in it is answered as AWS answers an exceeded quota.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

import boto3
import pytest
from moto.comprehend.exceptions import TextSizeLimitExceededException
from moto.comprehend.responses import ComprehendResponse
from moto.core.exceptions import JsonRESTError
from moto.server import ThreadedMotoServer
from structlog.testing import capture_logs

from bot.core.settings import Settings
from bot.nlp import comprehend
from bot.nlp.comprehend import (
    ComprehendAnalyzer,
    ComprehendError,
    sentiment_from,
    trim_utf8,
)
from bot.nlp.results import Sentiment
from bot.testing.ports import free_port

if TYPE_CHECKING:
    from mypy_boto3_comprehend import ComprehendClient

REGION: Final[Literal["eu-west-2"]] = "eu-west-2"
KNOWN_ENTITIES: Final = {
    "Sarah Jones": "PERSON",
    "Parcelforce": "ORGANIZATION",
    "3 May": "DATE",
    "£40": "QUANTITY",
    "ORD-12345": "OTHER",
}


@dataclass
class Requests:
    """What the server was asked: one (operation, UTF-8 sizes of its texts) per request."""

    seen: list[tuple[str, list[int]]] = field(default_factory=list)

    def sizes(self, operation: str) -> list[list[int]]:
        """The text sizes of each request for `operation`, in order."""
        return [sizes for name, sizes in self.seen if name == operation]


@dataclass(frozen=True)
class Server:
    """The running server's address and what it was asked."""

    endpoint: str
    requests: Requests


def _teach(requests: Requests) -> dict[str, object]:
    """Handlers for the calls moto's Comprehend lacks, recording what they are asked."""

    def batch_detect_sentiment(self: ComprehendResponse) -> str:
        params = json.loads(self.body)
        texts: list[str] = params["TextList"]
        requests.seen.append(("BatchDetectSentiment", [len(t.encode()) for t in texts]))
        if len(texts) > 25:
            raise JsonRESTError("BatchSizeLimitExceededException", "at most 25 documents")
        if any("THROTTLE" in text for text in texts):
            raise JsonRESTError("TooManyRequestsException", "Rate exceeded")
        results: list[dict[str, object]] = []
        errors: list[dict[str, object]] = []
        for index, text in enumerate(texts):
            size = len(text.encode())
            # AWS counts bytes; moto's own check counts characters.
            if size > 5_000:
                error = TextSizeLimitExceededException(size)
                errors.append(
                    {"Index": index, "ErrorCode": error.error_type, "ErrorMessage": error.message}
                )
                continue
            answer = self.comprehend_backend.detect_sentiment(text, params["LanguageCode"])
            results.append({"Index": index, **answer})
        return json.dumps({"ResultList": results, "ErrorList": errors})

    def detect_entities(self: ComprehendResponse) -> str:
        text: str = json.loads(self.body)["Text"]
        requests.seen.append(("DetectEntities", [len(text.encode())]))
        found = [
            {
                "Score": 0.99,
                "Type": kind,
                "Text": phrase,
                "BeginOffset": text.index(phrase),
                "EndOffset": text.index(phrase) + len(phrase),
            }
            for phrase, kind in KNOWN_ENTITIES.items()
            if phrase in text
        ]
        return json.dumps({"Entities": found})

    return {"batch_detect_sentiment": batch_detect_sentiment, "detect_entities": detect_entities}


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    """A Comprehend API server on a free loopback port, for this module."""
    requests = Requests()
    port = free_port()
    with pytest.MonkeyPatch.context() as patch:
        for name, handler in _teach(requests).items():
            patch.setattr(ComprehendResponse, name, handler, raising=False)
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        moto.start()
        try:
            yield Server(f"http://127.0.0.1:{port}", requests)
        finally:
            moto.stop()


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Credentials found by boto3's standard chain in the environment, as in production;
    no profile, shared file, container or instance credentials of this machine are used."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret-never-shown")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def asked(server: Server) -> Requests:
    """What the server is asked during one test."""
    server.requests.seen.clear()
    return server.requests


@pytest.fixture
def analyzer(server: Server) -> Iterator[ComprehendAnalyzer]:
    """An analyzer on the module's server, as the settings would build it."""
    built = ComprehendAnalyzer.from_settings(
        Settings(comprehend_region=REGION, comprehend_endpoint_url=server.endpoint)
    )
    yield built
    built.close()


def _server_says(server: Server, text: str) -> Sentiment:
    """moto's own DetectSentiment answer for `text`, asked without the analyzer."""
    client: ComprehendClient = boto3.client(
        "comprehend", region_name=REGION, endpoint_url=server.endpoint
    )
    answer = client.detect_sentiment(Text=text, LanguageCode="en")
    scores = answer["SentimentScore"]
    assert answer["Sentiment"] == "NEUTRAL"
    return Sentiment("neutral", scores["Positive"] - scores["Negative"], scores["Neutral"])


# --- trimming and the mapping of Comprehend's answer, no server ---


@pytest.mark.parametrize(
    ("text", "chars", "size"),
    [
        ("a" * 6_000, 5_000, 5_000),
        ("é" * 3_000, 2_500, 5_000),  # two bytes each
        ("€" * 2_000, 1_666, 4_998),  # three bytes each: the 1,667th would not fit whole
        ("a" + "😠" * 2_000, 1_250, 4_997),  # four bytes each, after one
    ],
)
def test_trim_keeps_whole_characters_within_the_limit(text: str, chars: int, size: int) -> None:
    trimmed = trim_utf8(text, 5_000)
    assert len(trimmed) == chars
    assert len(trimmed.encode("utf-8")) == size
    assert text.startswith(trimmed)


def test_trim_leaves_short_text_alone_and_replaces_lone_surrogates() -> None:
    assert trim_utf8("Où est mon colis ? 📦", 5_000) == "Où est mon colis ? 📦"
    assert trim_utf8("bad \ud800 half", 5_000) == "bad ? half"


@pytest.mark.parametrize(
    ("label", "scores", "expected"),
    [
        ("POSITIVE", (0.9, 0.05, 0.04), Sentiment("positive", 0.85, 0.9)),
        ("NEGATIVE", (0.1, 0.7, 0.2), Sentiment("negative", -0.6, 0.7)),
        ("NEUTRAL", (0.2, 0.1, 0.7), Sentiment("neutral", 0.1, 0.7)),
        ("MIXED", (0.4, 0.1, 0.1), Sentiment("positive", 0.3, 0.4)),
        ("MIXED", (0.1, 0.3, 0.2), Sentiment("negative", -0.2, 0.3)),
        ("MIXED", (0.2, 0.2, 0.1), Sentiment("neutral", 0.0, 0.2)),
    ],
)
def test_comprehend_labels_and_probabilities_become_a_sentiment(
    label: str, scores: tuple[float, float, float], expected: Sentiment
) -> None:
    positive, negative, neutral = scores
    got = sentiment_from(
        label, {"Positive": positive, "Negative": negative, "Neutral": neutral, "Mixed": 0.5}
    )
    assert got.label == expected.label
    assert got.score == pytest.approx(expected.score)
    assert got.confidence == pytest.approx(expected.confidence)


def test_a_language_comprehend_does_not_analyse_is_refused_at_once() -> None:
    with pytest.raises(ValueError, match="COMPREHEND_LANGUAGE"):
        ComprehendAnalyzer(region=REGION, language="nl")


def test_messages_never_show_credentials_in_the_endpoint() -> None:
    analyzer = ComprehendAnalyzer(region=REGION, endpoint_url="https://me:s3cret@vpce.example")
    assert analyzer.where == f"https://vpce.example ({REGION})"


# --- against the server ---


def test_sentiment_is_what_the_server_answers(
    server: Server, analyzer: ComprehendAnalyzer, asked: Requests
) -> None:
    texts = ["My parcel never arrived and nobody answers.", "Thanks, that sorted it!"]
    expected = _server_says(server, texts[0])
    results = analyzer.sentiment(texts)
    assert asked.sizes("BatchDetectSentiment") == [[len(t.encode()) for t in texts]]
    for result in results:
        assert result.label == "neutral"
        assert -1.0 <= result.score <= 1.0 and 0.0 <= result.confidence <= 1.0
        assert result.score == pytest.approx(expected.score)
        assert result.confidence == pytest.approx(expected.confidence)
        # Not the stand-in for a text that was never scored.
        assert (result.score, result.confidence) != (0.0, 1.0)


def test_blank_texts_are_neutral_without_a_call(
    analyzer: ComprehendAnalyzer, asked: Requests
) -> None:
    assert analyzer.sentiment(["", "  \n"]) == [Sentiment("neutral", 0.0, 1.0)] * 2
    assert analyzer.sentiment([]) == []
    assert analyzer.entities(" ") == []
    assert asked.seen == []
    results = analyzer.sentiment(["", "Where is my refund?", ""])
    assert asked.sizes("BatchDetectSentiment") == [[len(b"Where is my refund?")]]
    assert results[0] == results[2] == Sentiment("neutral", 0.0, 1.0)
    assert results[1].score != 0.0


def test_many_texts_go_in_batches_of_25_and_keep_their_order(
    analyzer: ComprehendAnalyzer, asked: Requests
) -> None:
    texts = [f"message {i}" if i % 7 else "" for i in range(62)]
    results = analyzer.sentiment(texts)
    sent = [len(batch) for batch in asked.sizes("BatchDetectSentiment")]
    assert sent == [25, 25, 3]  # the 53 that are not blank
    assert len(results) == len(texts)
    for text, result in zip(texts, results, strict=True):
        assert (result.score == 0.0) == (text == "")


def test_a_long_text_is_trimmed_under_5000_bytes(
    analyzer: ComprehendAnalyzer, asked: Requests
) -> None:
    long_text = "Très déçu, ça fait trois semaines… " * 300  # ~11,000 bytes, multi-byte
    assert len(long_text.encode()) > 10_000
    with capture_logs() as logs:
        [result] = analyzer.sentiment([long_text])
    [[size]] = asked.sizes("BatchDetectSentiment")
    assert 4_996 <= size <= 5_000
    assert result.score != 0.0 and logs == []


def test_a_document_the_server_cannot_score_is_neutral_and_logged(
    analyzer: ComprehendAnalyzer, asked: Requests, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Let a text over Comprehend's limit through, so the server itself lists it in ErrorList.
    monkeypatch.setattr(comprehend, "SENTIMENT_MAX_BYTES", 8_000)
    with capture_logs() as logs:
        results = analyzer.sentiment(["fine", "", "x" * 6_000, "also fine"])
    assert asked.sizes("BatchDetectSentiment") == [[4, 6_000, 9]]
    assert results[2] == Sentiment("neutral", 0.0, 1.0)
    assert results[0].score != 0.0 and results[3].score != 0.0
    [warning] = logs
    assert warning["event"] == "comprehend_sentiment_item_failed"
    assert warning["log_level"] == "warning"
    assert (warning["position"], warning["code"]) == (2, "TextSizeLimitExceededException")


def test_entities_come_back_typed(analyzer: ComprehendAnalyzer, asked: Requests) -> None:
    text = "Sarah Jones paid £40 to Parcelforce on 3 May for ORD-12345, still nothing."
    entities = analyzer.entities(text)
    assert asked.sizes("DetectEntities") == [[len(text.encode())]]
    assert {(e.kind, e.text) for e in entities} == {
        ("person", "Sarah Jones"),
        ("quantity", "£40"),
        ("organization", "Parcelforce"),
        ("date", "3 May"),
        ("other", "ORD-12345"),
    }
    assert all(e.score == pytest.approx(0.99) for e in entities)
    assert analyzer.entities("nothing named here") == []


def test_throttling_is_retried_then_a_clear_error(server: Server, asked: Requests) -> None:
    analyzer = ComprehendAnalyzer(
        region=REGION, endpoint_url=server.endpoint, max_attempts=2, timeout_seconds=2
    )
    with pytest.raises(ComprehendError, match=r"BatchDetectSentiment .*throttled") as caught:
        analyzer.sentiment(["THROTTLE me"])
    assert len(asked.sizes("BatchDetectSentiment")) == 2  # the retry really happened
    assert "testing-secret-never-shown" not in str(caught.value)


def test_unreachable_endpoint_fails_quickly_and_clearly() -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    analyzer = ComprehendAnalyzer(
        region=REGION, endpoint_url=closed, max_attempts=1, timeout_seconds=1
    )
    started = time.monotonic()
    with pytest.raises(ComprehendError, match=r"BatchDetectSentiment failed.*unreachable") as hit:
        analyzer.sentiment(["Is anyone there?"])
    with pytest.raises(ComprehendError, match=r"DetectEntities failed.*unreachable"):
        analyzer.entities("Is anyone there?")
    assert time.monotonic() - started < 5
    assert closed in str(hit.value)
    assert "testing-secret-never-shown" not in str(hit.value)


def test_without_credentials_says_how_to_give_them(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    analyzer = ComprehendAnalyzer(region=REGION, endpoint_url=server.endpoint)
    with pytest.raises(ComprehendError, match=r"no AWS credentials found.*AWS_PROFILE"):
        analyzer.sentiment(["hello"])
