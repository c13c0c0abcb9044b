"""SMS and MMS through Twilio Programmable Messaging.

In: Twilio posts each message to `POST /twilio/sms` (signed; see twilio_webhook). The message
is stored (idempotent on MessageSid), then answered. Out, by SMS_REPLY_MODE:
  rest   the webhook answers at once with empty TwiML; replies go out through Twilio's REST
         API (status callbacks to `POST /twilio/sms/status`) when the assistant has them;
  twiml  the webhook waits for the assistant and answers with `<Message>` TwiML.
Buttons become numbered options ("Reply 2" picks option 2); long replies are split on word
boundaries; STOP/START/HELP are honoured before anything reaches the assistant.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import structlog
from fastapi import APIRouter
from fastapi.responses import Response
from twilio.twiml.messaging_response import MessagingResponse

from adapters.messages import (
    BotReply,
    InboundMessage,
    InvalidMessage,
    clean_text,
    numbered_options,
)
from adapters.twilio_rest import TwilioError, TwilioRest
from adapters.twilio_webhook import TwilioForm, twiml_response
from bot import store
from bot.attachments import AttachmentRejected, AttachmentStore
from bot.db import Database
from bot.delivery import StoredReply
from bot.deps import ServicesDep
from bot.models import Channel, MessageStatus
from bot.pipeline import Accepted, Turn
from bot.services import Services

log = structlog.get_logger("adapters.sms")

# --- what a phone shows well ----------------------------------------------------------

GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = "^{}\\[~]|€\f"  # each takes two septets
# Typographic characters an assistant's texts are full of; one of them would switch the
# whole message to UCS-2 (70 instead of 160 characters a segment), as Twilio's Smart
# Encoding also avoids.
GSM7_LOOKALIKES = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2026": "...",
        "\u00a0": " ",
        "\u2022": "-",
        "\u00b7": "-",
    }
)
# At most three segments a message either way: 320 GSM-7 characters, or 201 in UCS-2.
MAX_GSM7_CHARS = 320
MAX_UCS2_CHARS = 201
OPTIONS_PROMPT = "Reply with the number of your choice."

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT"})
START_WORDS = frozenset({"START", "YES", "UNSTOP", "OPTIN"})
HELP_WORDS = frozenset({"HELP", "INFO"})
STARTED_AGAIN = "You're subscribed again and will get our replies. How can I help?"
MEDIA_ONLY_REPLY = (
    "Thanks, I've saved what you sent with your conversation. "
    "Please also tell me in a text message what it's about."
)
UNREADABLE_REPLY = "Sorry, I couldn't read that message. Could you send it again as plain text?"


class Keyword(enum.StrEnum):
    STOP = "stop"
    START = "start"
    HELP = "help"


def keyword_of(text: str) -> Keyword | None:
    """The carrier keyword a message is, if it is one word such as STOP, START or HELP."""
    word = text.strip().strip(".!").upper()
    if word in STOP_WORDS:
        return Keyword.STOP
    if word in START_WORDS:
        return Keyword.START
    if word in HELP_WORDS:
        return Keyword.HELP
    return None


def to_gsm7(text: str) -> str:
    """Typographic punctuation replaced by its plain GSM-7 look-alike."""
    return text.translate(GSM7_LOOKALIKES)


def is_gsm7(text: str) -> bool:
    """Whether the text can be sent in the GSM-7 alphabet."""
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in text)


def segment_count(text: str) -> int:
    """How many SMS segments the text is billed as (GSM-7: 160/153, UCS-2: 70/67)."""
    if is_gsm7(text):
        units = len(text) + sum(1 for ch in text if ch in GSM7_EXTENDED)
        single, multi = 160, 153
    else:
        units = sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)
        single, multi = 70, 67
    if units <= single:
        return 1
    return -(-units // multi)


def split_message(text: str, max_chars: int) -> list[str]:
    """Split on line breaks, else spaces, into parts of at most `max_chars`."""
    text = text.strip()
    parts: list[str] = []
    while len(text) > max_chars:
        window = text[: max_chars + 1]
        cut = window.rfind("\n")
        if cut < max_chars // 2:
            cut = window.rfind(" ")
        if cut < max_chars // 3:  # one enormous word (a URL): cut it
            cut = max_chars
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        parts.append(text)
    return parts


def reply_text(reply: BotReply) -> str:
    """One reply as plain text: buttons as numbered options, an image as its link."""
    lines = [reply.text] if reply.text else []
    if reply.image:
        lines.append(reply.image)
    if reply.buttons:
        lines.extend(numbered_options(reply.buttons))
        lines.append(OPTIONS_PROMPT)
    return "\n".join(lines)


def render_reply(reply: BotReply) -> list[str]:
    """The SMS bodies one reply is sent as."""
    text = to_gsm7(reply_text(reply))
    return split_message(text, MAX_GSM7_CHARS if is_gsm7(text) else MAX_UCS2_CHARS)


def render_outbound(replies: Sequence[BotReply]) -> list[str]:
    """The SMS bodies for a turn's replies, in order."""
    return [body for reply in replies for body in render_reply(reply)]


def render_twiml(replies: Sequence[BotReply]) -> str:
    """The replies as a TwiML webhook answer (`<Message>` per SMS body)."""
    response = MessagingResponse()
    for body in render_outbound(replies):
        response.message(body)
    return str(response)


EMPTY_TWIML = str(MessagingResponse())


def parse_inbound(form: Mapping[str, str], *, max_bytes: int) -> InboundMessage:
    """The customer's message in Twilio's webhook parameters.

    The text may be empty for a picture-only MMS; media URLs and types are in metadata.
    An unreadable body (binary, too long) is kept as-is and marked `unreadable`.
    """
    sender, sid = form.get("From", "").strip(), form.get("MessageSid", "").strip()
    if not sender or not sid:
        raise InvalidMessage("malformed", "From and MessageSid are required.", status_code=400)
    media = _media_of(form)
    metadata: dict[str, Any] = {"to": form.get("To", "")}
    if form.get("FromCountry"):
        metadata["from_country"] = form["FromCountry"]
    if media:
        metadata["media"] = media
    body = form.get("Body", "")
    try:
        text = clean_text(body, max_bytes=max_bytes) if body.strip() or not media else ""
    except InvalidMessage as error:
        metadata["unreadable"] = error.code
        text = body[:500]
    return InboundMessage(
        text=text, sender_id=sender, channel=Channel.SMS, message_id=sid, metadata=metadata
    )


def _media_of(form: Mapping[str, str]) -> list[dict[str, str]]:
    count = form.get("NumMedia", "0")
    if not count.isdigit():
        raise InvalidMessage("malformed", "NumMedia must be a number.", status_code=400)
    media = []
    for index in range(min(int(count), 10)):
        url = form.get(f"MediaUrl{index}")
        if url:
            media.append({"url": url, "content_type": form.get(f"MediaContentType{index}", "")})
    return media


# --- sending --------------------------------------------------------------------------

UNSUBSCRIBED_RECIPIENT = 21610


async def fail_if_opted_out(
    database: Database, address: str, replies: Sequence[StoredReply]
) -> bool:
    """If `address` texted STOP, record `replies` as failed (never sent) and say so."""
    async with database.session() as session:
        opted_out = await store.is_opted_out(session=session, channel=Channel.SMS, address=address)
        if opted_out:
            await store.mark_failed(
                session=session,
                message_ids=[r.message_id for r in replies],
                error="recipient opted out (STOP)",
            )
    return opted_out


class SmsSender:
    """Sends replies as SMS through Twilio's REST API, recording each part's SID."""

    def __init__(
        self,
        *,
        database: Database,
        twilio: TwilioRest,
        from_number: str,
        status_callback: str | None,
    ) -> None:
        self._database = database
        self._twilio = twilio
        self._from = from_number
        self._status_callback = status_callback

    async def push(self, address: str, replies: Sequence[StoredReply]) -> bool:
        """Send each reply (in parts) to `address`; False if Twilio could not take them now."""
        if await fail_if_opted_out(self._database, address, replies):
            return True
        for stored in replies:
            if not await self._send_reply(address, stored):
                return False
        return True

    async def _send_reply(self, address: str, stored: StoredReply) -> bool:
        async with self._database.session() as session:
            done = {
                d.part
                for d in await store.deliveries_of(session=session, message_id=stored.message_id)
            }
        for part, body in enumerate(render_reply(stored.reply)):
            if part in done:  # sent before the provider failed on a later part
                continue
            try:
                sent = await self._twilio.send_sms(
                    to=address, from_=self._from, body=body, status_callback=self._status_callback
                )
            except TwilioError as error:
                return await self._failed(address, stored, error)
            async with self._database.session() as session:
                store.record_delivery(
                    session=session,
                    message_id=stored.message_id,
                    channel=Channel.SMS,
                    provider_id=sent.sid,
                    status=sent.status,
                    part=part,
                )
        async with self._database.session() as session:
            await store.mark_delivered(session=session, message_ids=[stored.message_id])
        return True

    async def _failed(self, address: str, stored: StoredReply, error: TwilioError) -> bool:
        log.warning(
            "sms_send_failed",
            message_id=stored.message_id,
            code=error.code,
            permanent=error.permanent,
            reason=str(error),
        )
        if not error.permanent:
            return False
        async with self._database.session() as session:
            await store.mark_failed(
                session=session, message_ids=[stored.message_id], error=str(error)
            )
            if error.code == UNSUBSCRIBED_RECIPIENT:
                await store.set_opt_out(
                    session=session, channel=Channel.SMS, address=address, opted_out=True
                )
        return True


# --- the webhooks ---------------------------------------------------------------------

router = APIRouter(prefix="/twilio/sms", tags=["sms"])


@router.post("", response_class=Response)
async def inbound_sms(form: TwilioForm, services: ServicesDep) -> Response:
    """Twilio's "A message comes in" webhook."""
    try:
        inbound = parse_inbound(form, max_bytes=services.settings.max_message_bytes)
    except InvalidMessage as error:
        log.warning("sms_malformed", reason=error.reason)
        return Response(error.reason, status_code=error.status_code)
    twiml_mode = services.settings.sms_reply_mode == "twiml"
    keyword = keyword_of(inbound.text)
    if keyword is None and not inbound.metadata.get("unreadable"):
        inbound = await services.pipeline.with_chosen_option(inbound)
    accepted = await services.pipeline.accept(inbound)
    if not accepted.stored.created:
        # Twilio redelivered it: processed once; in TwiML mode the answer is given again.
        if not twiml_mode:
            return twiml_response(EMPTY_TWIML)
        turn = await services.pipeline.respond(accepted, push=False)
        return twiml_response(render_twiml([r.reply for r in turn.replies]))
    if keyword is not None or _needs_local_answer(inbound):
        turn = await _answer_locally(services, accepted, keyword)
        return await _hand_over(services, inbound, turn, twiml_mode=twiml_mode)
    if twiml_mode:
        turn = await _answer(services, accepted, push=False)
        return await _hand_over(services, inbound, turn, twiml_mode=True)
    services.background.spawn(_answer(services, accepted, push=True), name="sms-turn")
    return twiml_response(EMPTY_TWIML)


@router.post("/status", response_class=Response)
async def sms_status(form: TwilioForm, services: ServicesDep) -> Response:
    """Twilio's status callback for a message we sent: queued, sent, delivered, failed..."""
    sid = form.get("MessageSid", "")
    status = form.get("MessageStatus") or form.get("SmsStatus") or ""
    if not sid or not status:
        return Response("MessageSid and MessageStatus are required.", status_code=400)
    async with services.database.session() as session:
        known = await store.update_delivery_status(
            session=session,
            channel=Channel.SMS,
            provider_id=sid,
            status=status,
            error_code=form.get("ErrorCode") or None,
        )
    log.info("sms_status", sid=sid, status=status, known=known, error_code=form.get("ErrorCode"))
    return Response(status_code=204)


def _needs_local_answer(inbound: InboundMessage) -> bool:
    return bool(inbound.metadata.get("unreadable")) or not inbound.text


async def _answer(services: Services, accepted: Accepted, *, push: bool) -> Turn:
    _, rejected = await save_media(services, accepted)
    turn = await services.pipeline.respond(accepted, push=False)
    if rejected and turn.status is MessageStatus.ANSWERED:
        note = BotReply(text=f"Sorry, I couldn't keep the file you sent: {rejected[0]}.")
        turn = replace(
            turn, replies=(*turn.replies, await services.pipeline.add_reply(accepted, note))
        )
    if push:
        await services.deliveries.deliver(Channel.SMS, accepted.inbound.sender_id, turn.replies)
    return turn


async def _answer_locally(services: Services, accepted: Accepted, keyword: Keyword | None) -> Turn:
    inbound = accepted.inbound
    if keyword in (Keyword.STOP, Keyword.START):
        async with services.database.session() as session:
            await store.set_opt_out(
                session=session,
                channel=Channel.SMS,
                address=inbound.sender_id,
                opted_out=keyword is Keyword.STOP,
            )
    if keyword is Keyword.STOP:  # Twilio itself confirms the opt-out to the customer
        replies: list[BotReply] = []
    elif keyword is Keyword.START:
        replies = [BotReply(text=STARTED_AGAIN)]
    elif keyword is Keyword.HELP:
        replies = [BotReply(text=services.settings.sms_help_text)]
    elif inbound.metadata.get("unreadable"):
        replies = [BotReply(text=UNREADABLE_REPLY)]
    else:
        saved, rejected = await save_media(services, accepted)
        replies = [BotReply(text=MEDIA_ONLY_REPLY if saved or not rejected else _refused(rejected))]
    intent = f"sms_{keyword.value}" if keyword else "sms_unreadable_or_media_only"
    return await services.pipeline.answer_without_rasa(accepted, replies, intent=intent)


async def _hand_over(
    services: Services, inbound: InboundMessage, turn: Turn, *, twiml_mode: bool
) -> Response:
    if not twiml_mode:
        await services.deliveries.deliver(Channel.SMS, inbound.sender_id, turn.replies)
        return twiml_response(EMPTY_TWIML)
    if await fail_if_opted_out(services.database, inbound.sender_id, turn.replies):
        return twiml_response(EMPTY_TWIML)
    await services.deliveries.mark_delivered(turn.replies)
    return twiml_response(render_twiml([r.reply for r in turn.replies]))


def _refused(reasons: Sequence[str]) -> str:
    return f"Sorry, I couldn't keep what you sent: {reasons[0]}. Please tell me in a text instead."


async def save_media(services: Services, accepted: Accepted) -> tuple[int, list[str]]:
    """Download an MMS's media with Twilio auth and keep the acceptable files.

    How many were kept, and why the others were not.
    """
    media = accepted.inbound.metadata.get("media") or []
    if not media or services.twilio is None:
        return 0, []
    refs, rejected = [], []
    for item in media:
        try:
            refs.append(await _download(services.twilio, services.attachments, item))
        except (AttachmentRejected, TwilioError) as error:
            log.warning("mms_media_rejected", url=item.get("url"), reason=str(error))
            rejected.append(str(error))
    async with services.database.session() as session:
        store.add_attachments(session=session, message_id=accepted.stored.message.id, refs=refs)
    return len(refs), rejected


async def _download(
    twilio: TwilioRest, attachments: AttachmentStore, item: Mapping[str, str]
) -> store.AttachmentRef:
    # The declared type is checked before anything is downloaded.
    attachments.check(content_type=item.get("content_type", ""), size_bytes=0)
    data, content_type = await twilio.download_media(item["url"], max_bytes=attachments.max_bytes)
    return attachments.save(data, content_type=content_type)
