"""Sending SMS replies through Twilio's REST API, part by part, recording each part's SID;
nothing is sent to a number that texted STOP."""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from adapters.sms.render import render_reply
from adapters.twilio.rest import TwilioError, TwilioRest
from bot.core.db import Database
from bot.core.messages import StoredReply
from bot.core.models import Channel
from bot.core.store import customers, deliveries, outbound

log = structlog.get_logger("adapters.sms")

UNSUBSCRIBED_RECIPIENT = 21610


async def fail_if_opted_out(
    database: Database, address: str, replies: Sequence[StoredReply]
) -> bool:
    """If `address` texted STOP, record `replies` as failed (never sent) and say so."""
    async with database.session() as session:
        opted_out = await customers.is_opted_out(
            session=session, channel=Channel.SMS, address=address
        )
        if opted_out:
            await outbound.mark_failed(
                session=session,
                message_ids=[r.message_id for r in replies],
                error="recipient opted out (STOP)",
            )
    return opted_out


class SmsSender:
    """Sends replies as SMS through Twilio's REST API, recording each part's SID.

    Also the voice channel's sender: a call cannot be spoken to after it ends, so an answer
    that comes later (after an outage) is texted to the caller's number instead.
    """

    resends_pending = True

    def __init__(
        self,
        *,
        database: Database,
        twilio: TwilioRest,
        from_number: str,
        status_callback: str | None,
        channel: Channel = Channel.SMS,
    ) -> None:
        self.channel = channel
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
                for d in await deliveries.deliveries_of(
                    session=session, message_id=stored.message_id
                )
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
                deliveries.record_delivery(
                    session=session,
                    message_id=stored.message_id,
                    channel=Channel.SMS,
                    provider_id=sent.sid,
                    status=sent.status,
                    part=part,
                )
        async with self._database.session() as session:
            await outbound.mark_delivered(session=session, message_ids=[stored.message_id])
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
            await outbound.mark_failed(
                session=session, message_ids=[stored.message_id], error=str(error)
            )
            if error.code == UNSUBSCRIBED_RECIPIENT:
                await customers.set_opt_out(
                    session=session, channel=Channel.SMS, address=address, opted_out=True
                )
        return True
