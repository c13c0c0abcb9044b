"""The SMS channel on the message path: a webhook's message stored, answered (by the
assistant, or here for keywords and messages with nothing to read), and the answer handed
back in the webhook (TwiML mode) or pushed through the REST API (REST mode). A number that
texts faster than SMS_SENDER_RATE gets its messages stored and answered later."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import structlog

from adapters.contract import ChannelContext
from adapters.sms.parse import Keyword, keyword_of
from adapters.sms.render import EMPTY_TWIML, render_twiml
from adapters.sms.sender import fail_if_opted_out
from adapters.twilio.rest import TwilioError, TwilioRest
from bot.core.attachments import AttachmentRejected
from bot.core.intents import LocalIntent
from bot.core.messages import BotReply, InboundMessage
from bot.core.models import Channel, MessageStatus
from bot.core.pipeline import Accepted, Turn
from bot.core.rate_limits import RateLimited, Rule
from bot.core.store import customers
from bot.core.store import inbound as inbound_store
from bot.core.texts import Text, say

log = structlog.get_logger("adapters.sms")

KEYWORD_INTENTS = {
    Keyword.STOP: LocalIntent.SMS_STOP,
    Keyword.START: LocalIntent.SMS_START,
    Keyword.HELP: LocalIntent.SMS_HELP,
}


class SmsChannel:
    """Answers the messages Twilio posts; the TwiML each webhook answers with."""

    def __init__(self, context: ChannelContext, *, twilio: TwilioRest | None) -> None:
        self._context = context
        self._twilio = twilio
        self._rate = Rule.parse("sms_sender", context.settings.sms_sender_rate)

    @property
    def twiml_mode(self) -> bool:
        """Whether replies go back in the webhook's answer (else through the REST API)."""
        return self._context.settings.sms_reply_mode == "twiml"

    async def receive(self, inbound: InboundMessage) -> str:
        """Store and answer one message; the TwiML for Twilio (empty in REST mode).

        RateLimited when the number sends more than SMS_SENDER_RATE: the message is kept
        all the same and answered later (see `_keep_for_later`).
        """
        keyword = keyword_of(inbound.text)
        if keyword is None and not inbound.metadata.get("unreadable"):
            inbound = await self._context.pipeline.with_chosen_option(inbound)
        accepted = await self._context.pipeline.accept(inbound)
        if not accepted.stored.created:
            # Twilio redelivered it: processed once; in TwiML mode the answer is given again.
            if not self.twiml_mode:
                return EMPTY_TWIML
            turn = await self._context.pipeline.respond(accepted, push=False)
            return render_twiml([r.reply for r in turn.replies])
        local = keyword is not None or not inbound.text or bool(inbound.metadata.get("unreadable"))
        await self._within_rate(accepted, keyword, local=local)
        if local:
            return await self._hand_over(inbound, await self._answer_here(accepted, keyword))
        if self.twiml_mode:
            return await self._hand_over(inbound, await self._answer(accepted, push=False))
        self._context.background.spawn(self._answer(accepted, push=True), name="sms-turn")
        return EMPTY_TWIML

    async def _within_rate(
        self, accepted: Accepted, keyword: Keyword | None, *, local: bool
    ) -> None:
        """Count the message against its number's rate; over it, keep it for later and
        raise RateLimited (Twilio is answered 429, which its console shows)."""
        if keyword in (Keyword.STOP, Keyword.START):
            return  # an opt-out (or back in) is honoured whatever the rate
        try:
            await self._context.rate_limits.hit(
                self._rate, accepted.inbound.sender_id, what="messages from this number"
            )
        except RateLimited as limited:
            await self._keep_for_later(accepted, keyword, local=local)
            log.warning(
                "sms_rate_limited",
                message_id=accepted.stored.message.id,
                retry_after=limited.retry_after,
            )
            raise

    async def _keep_for_later(
        self, accepted: Accepted, keyword: Keyword | None, *, local: bool
    ) -> None:
        """A message over the rate: stored (never lost), but not answered now.

        Twilio does not redeliver a refused webhook, so the message stays ours to answer: one
        for the assistant is left waiting (RECEIVED), for the retry worker once it is
        `stale_processing_seconds` old, or before that by the number's next message within
        the rate (earlier unanswered messages of a conversation are answered first). One we
        would answer ourselves (HELP, a picture, an unreadable text) is closed without a
        reply: what it carries is kept, the courtesy reply is what the rate saves.
        """
        if local:
            await self.save_media(accepted)
            intent = (
                KEYWORD_INTENTS[keyword] if keyword else LocalIntent.SMS_UNREADABLE_OR_MEDIA_ONLY
            )
            await self._context.pipeline.answer_without_rasa(accepted, [], intent=intent)
            return
        if accepted.claimed:  # taken for processing on storing: give it back, unanswered
            async with self._context.database.session() as session:
                await inbound_store.finish_inbound(
                    session=session,
                    message_id=accepted.stored.message.id,
                    status=MessageStatus.RECEIVED,
                    attempt=accepted.stored.message.attempts,
                )
        if accepted.inbound.metadata.get("media"):
            self._context.background.spawn(self.save_media(accepted), name="sms-media")

    async def _answer(self, accepted: Accepted, *, push: bool) -> Turn:
        _, rejected = await self.save_media(accepted)
        turn = await self._context.pipeline.respond(accepted, push=False)
        if rejected and turn.status is MessageStatus.ANSWERED:
            note = BotReply(text=say(Text.SMS_FILE_REFUSED, reason=rejected[0]))
            turn = replace(
                turn,
                replies=(*turn.replies, await self._context.pipeline.add_reply(accepted, note)),
            )
        if push:
            await self._context.pipeline.deliveries.deliver(
                Channel.SMS, accepted.inbound.sender_id, turn.replies
            )
        return turn

    async def _answer_here(self, accepted: Accepted, keyword: Keyword | None) -> Turn:
        if keyword in (Keyword.STOP, Keyword.START):
            async with self._context.database.session() as session:
                await customers.set_opt_out(
                    session=session,
                    channel=Channel.SMS,
                    address=accepted.inbound.sender_id,
                    opted_out=keyword is Keyword.STOP,
                )
        replies = await self._local_replies(accepted, keyword)
        intent = KEYWORD_INTENTS[keyword] if keyword else LocalIntent.SMS_UNREADABLE_OR_MEDIA_ONLY
        return await self._context.pipeline.answer_without_rasa(accepted, replies, intent=intent)

    async def _local_replies(self, accepted: Accepted, keyword: Keyword | None) -> list[BotReply]:
        if keyword is Keyword.STOP:  # Twilio itself confirms the opt-out to the customer
            return []
        if keyword is Keyword.START:
            return [BotReply(text=say(Text.SMS_STARTED_AGAIN))]
        if keyword is Keyword.HELP:
            return [BotReply(text=self._context.settings.sms_help_text)]
        if accepted.inbound.metadata.get("unreadable"):
            return [BotReply(text=say(Text.SMS_UNREADABLE))]
        saved, rejected = await self.save_media(accepted)
        if saved or not rejected:
            return [BotReply(text=say(Text.SMS_MEDIA_ONLY))]
        return [BotReply(text=say(Text.SMS_MEDIA_REFUSED, reason=rejected[0]))]

    async def _hand_over(self, inbound: InboundMessage, turn: Turn) -> str:
        deliveries = self._context.pipeline.deliveries
        if not self.twiml_mode:
            await deliveries.deliver(Channel.SMS, inbound.sender_id, turn.replies)
            return EMPTY_TWIML
        if await fail_if_opted_out(self._context.database, inbound.sender_id, turn.replies):
            return EMPTY_TWIML
        await deliveries.mark_delivered(turn.replies)
        return render_twiml([r.reply for r in turn.replies])

    async def save_media(self, accepted: Accepted) -> tuple[int, list[str]]:
        """Download an MMS's media with Twilio auth and keep the acceptable files.

        How many were kept, and why the others were not.
        """
        media = accepted.inbound.metadata.get("media") or []
        if not media or self._twilio is None:
            return 0, []
        refs, rejected = [], []
        for item in media:
            try:
                refs.append(await self._download(self._twilio, item))
            except (AttachmentRejected, TwilioError) as error:
                log.warning("mms_media_rejected", url=item.get("url"), reason=str(error))
                rejected.append(str(error))
        async with self._context.database.session() as session:
            inbound_store.add_attachments(
                session=session, message_id=accepted.stored.message.id, refs=refs
            )
        return len(refs), rejected

    async def _download(
        self, twilio: TwilioRest, item: Mapping[str, str]
    ) -> inbound_store.AttachmentRef:
        # The declared type is checked before anything is downloaded.
        attachments = self._context.attachments
        attachments.check(content_type=item.get("content_type", ""), size_bytes=0)
        data, content_type = await twilio.download_media(
            item["url"], max_bytes=attachments.max_bytes
        )
        return await attachments.save(data, content_type=content_type)
