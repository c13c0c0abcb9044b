"""Sentiment and entities by Amazon Comprehend, for a company already on AWS
(NLP_BACKEND=comprehend).

The client is built on first use, with credentials from boto3's standard chain
(environment, shared credentials file and profile, web identity, container or instance
role). Calls are blocking: run them off the event loop. Results are the same records the
local models return (`bot.nlp.results`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Final, TypeVar, cast
from urllib.parse import urlsplit, urlunsplit

import structlog
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
)

from bot.core.settings import Settings
from bot.nlp.results import Entity, Sentiment, SentimentLabel

if TYPE_CHECKING:  # the stubs are a development dependency only
    from mypy_boto3_comprehend import ComprehendClient
    from mypy_boto3_comprehend.literals import LanguageCodeType
    from mypy_boto3_comprehend.type_defs import SentimentScoreTypeDef

T = TypeVar("T")

log = structlog.get_logger("bot.nlp.comprehend")

# Comprehend's limits for its real-time calls: BatchDetectSentiment takes up to 25
# documents of at most 5,000 bytes (UTF-8) each; DetectEntities up to 100 KB.
BATCH_SIZE: Final = 25
SENTIMENT_MAX_BYTES = 5_000
ENTITIES_MAX_BYTES = 100_000
# The languages both DetectSentiment and DetectEntities analyse (the API's LanguageCode).
LANGUAGES: Final = frozenset(
    {"ar", "de", "en", "es", "fr", "hi", "it", "ja", "ko", "pt", "zh", "zh-TW"}
)
_THROTTLED = frozenset({"ThrottlingException", "TooManyRequestsException", "Throttling"})
_REFUSED = frozenset(
    {
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "ExpiredTokenException",
        "InvalidClientTokenId",
    }
)
_LABELS: Final[dict[str, SentimentLabel]] = {
    "POSITIVE": "positive",
    "NEGATIVE": "negative",
    "NEUTRAL": "neutral",
}
_NO_TEXT: Final = Sentiment("neutral", 0.0, 1.0)


class ComprehendError(RuntimeError):
    """A Comprehend call failed; the message names the call and what to check."""


def trim_utf8(text: str, max_bytes: int) -> str:
    """The longest prefix of `text` whose UTF-8 encoding fits in `max_bytes`.

    Never cuts a character in half; lone surrogates (which UTF-8 cannot carry) become `?`.
    """
    encoded = text.encode("utf-8", "replace")
    if len(encoded) <= max_bytes:
        return encoded.decode("utf-8")
    # Only the cut at the end can be a partial character, and "ignore" drops just that.
    return encoded[:max_bytes].decode("utf-8", "ignore")


def sentiment_from(label: str, scores: SentimentScoreTypeDef) -> Sentiment:
    """Comprehend's label and four probabilities as a `Sentiment`.

    The score is Positive − Negative; MIXED takes the label of the score's sign and, as
    confidence, the largest of the positive, negative and neutral probabilities.
    """
    positive = float(scores.get("Positive", 0.0))
    negative = float(scores.get("Negative", 0.0))
    neutral = float(scores.get("Neutral", 0.0))
    score = max(-1.0, min(1.0, positive - negative))
    if label in _LABELS:
        chosen = _LABELS[label]
        confidence = {"positive": positive, "negative": negative, "neutral": neutral}[chosen]
        return Sentiment(chosen, score, confidence)
    mixed: SentimentLabel = "positive" if score > 0 else "negative" if score < 0 else "neutral"
    return Sentiment(mixed, score, max(positive, negative, neutral))


class ComprehendAnalyzer:
    """Sentiment (BatchDetectSentiment) and entities (DetectEntities) by Amazon Comprehend."""

    def __init__(
        self,
        *,
        region: str,
        endpoint_url: str = "",
        language: str = "en",
        max_attempts: int = 3,
        timeout_seconds: float = 10.0,
    ) -> None:
        if language not in LANGUAGES:
            raise ValueError(
                f"Comprehend does not analyse language {language!r}; set COMPREHEND_LANGUAGE "
                f"to one of {', '.join(sorted(LANGUAGES))}."
            )
        self._region = region
        self._endpoint_url = endpoint_url or None
        self._language = language
        self._max_attempts = max_attempts
        self._timeout = timeout_seconds
        self._client: ComprehendClient | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> ComprehendAnalyzer:
        """The analyzer the COMPREHEND_REGION, _ENDPOINT_URL and _LANGUAGE settings describe."""
        return cls(
            region=settings.comprehend_region,
            endpoint_url=settings.comprehend_endpoint_url,
            language=settings.comprehend_language,
        )

    @property
    def where(self) -> str:
        """Region and endpoint (without any user:password in it), for messages."""
        if not self._endpoint_url:
            return f"region {self._region}"
        parts = urlsplit(self._endpoint_url)
        host = parts.netloc.rpartition("@")[2]
        return f"{urlunsplit(parts._replace(netloc=host))} ({self._region})"

    def sentiment(self, texts: Sequence[str]) -> list[Sentiment]:
        """One `Sentiment` per text, in order; blank texts are neutral without a call."""
        results = [_NO_TEXT] * len(texts)
        # Positions of the texts worth sending, so answers land back in their places.
        pending = [i for i, text in enumerate(texts) if text.strip()]
        for start in range(0, len(pending), BATCH_SIZE):
            chunk = pending[start : start + BATCH_SIZE]
            scored = self._sentiment_batch([texts[i] for i in chunk], chunk)
            for position, sentiment in zip(chunk, scored, strict=True):
                results[position] = sentiment
        return results

    def entities(self, text: str) -> list[Entity]:
        """The entities Comprehend finds in `text`; kind is its Type lower-cased ("date")."""
        if not text.strip():
            return []
        trimmed = trim_utf8(text, ENTITIES_MAX_BYTES)
        response = self._call(
            "DetectEntities",
            lambda c: c.detect_entities(Text=trimmed, LanguageCode=self._language_code),
        )
        return [
            Entity(
                kind=str(found.get("Type", "OTHER")).lower(),
                text=found.get("Text", ""),
                score=float(found.get("Score", 0.0)),
            )
            for found in response.get("Entities", [])
        ]

    def close(self) -> None:
        """Close the client's connection pool (a new one is built if used again)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def _sentiment_batch(self, texts: Sequence[str], positions: Sequence[int]) -> list[Sentiment]:
        batch = [trim_utf8(text, SENTIMENT_MAX_BYTES) for text in texts]
        response = self._call(
            "BatchDetectSentiment",
            lambda c: c.batch_detect_sentiment(TextList=batch, LanguageCode=self._language_code),
        )
        scored = [_NO_TEXT] * len(batch)
        for item in response.get("ResultList", []):
            index = item.get("Index", -1)
            if 0 <= index < len(batch):
                scored[index] = sentiment_from(
                    item.get("Sentiment", "NEUTRAL"), item.get("SentimentScore", {})
                )
        for error in response.get("ErrorList", []):
            # One document Comprehend could not score stays neutral; the others still count.
            index = error.get("Index", -1)
            log.warning(
                "comprehend_sentiment_item_failed",
                position=positions[index] if 0 <= index < len(positions) else None,
                code=error.get("ErrorCode"),
                detail=error.get("ErrorMessage"),
            )
        return scored

    @property
    def _language_code(self) -> LanguageCodeType:
        return cast("LanguageCodeType", self._language)

    def _call(self, operation: str, call: Callable[[ComprehendClient], T]) -> T:
        try:
            return call(self._connected())
        except ClientError as error:
            raise self._client_error(operation, error) from error
        except (NoCredentialsError, PartialCredentialsError) as error:
            raise ComprehendError(
                f"Comprehend {operation} failed: no AWS credentials found. Set "
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or give the process "
                "a role."
            ) from error
        except (EndpointConnectionError, ConnectTimeoutError) as error:
            raise ComprehendError(
                f"Comprehend {operation} failed: Comprehend is unreachable at {self.where} "
                f"({type(error).__name__}, after {self._max_attempts} attempt(s))."
            ) from error
        except ReadTimeoutError as error:
            raise ComprehendError(
                f"Comprehend {operation} failed: {self.where} did not answer within "
                f"{self._timeout:g} s ({self._max_attempts} attempt(s))."
            ) from error
        except BotoCoreError as error:
            raise ComprehendError(
                f"Comprehend {operation} failed at {self.where}: {type(error).__name__}."
            ) from error

    def _client_error(self, operation: str, error: ClientError) -> ComprehendError:
        details = error.response.get("Error", {})
        code = str(details.get("Code", "")) or "unknown error"
        what = f"Comprehend {operation} failed at {self.where}"
        if code in _THROTTLED:
            return ComprehendError(
                f"{what}: throttled ({code}) after {self._max_attempts} attempt(s); "
                "slow down or ask AWS for a higher quota."
            )
        if code in _REFUSED:
            return ComprehendError(
                f"{what}: access refused ({code}); check the credentials and that the "
                f"role may call comprehend:{operation}."
            )
        # Comprehend's messages describe the request (sizes, languages), never credentials.
        message = " ".join(str(details.get("Message", "")).split())[:300]
        if message.startswith("<"):  # a proxy's or emulator's error page, not Comprehend's JSON
            message = "the server answered with an HTML error page"
        return ComprehendError(f"{what}: {code}" + (f" ({message})" if message else ""))

    def _connected(self) -> ComprehendClient:
        with self._lock:
            if self._client is None:
                self._client = self._build_client()
            return self._client

    def _build_client(self) -> ComprehendClient:
        import boto3  # imported on first use: deployments with local NLP never pay for it
        from botocore.config import Config

        config = Config(
            # botocore's `max_attempts` counts retries only; the total is what we mean.
            retries={"total_max_attempts": self._max_attempts, "mode": "standard"},
            connect_timeout=self._timeout,
            read_timeout=self._timeout,
        )
        session = boto3.session.Session()
        return session.client(
            "comprehend",
            region_name=self._region,
            endpoint_url=self._endpoint_url,
            config=config,
        )
