"""The mailbox poller: hands every new mail in one IMAP mailbox to a callback (IMAP IDLE
where the server has it, else polling), and flags it \\Seen only after the callback returns,
so a mail whose handling failed is offered again next round (the callback must be
idempotent on Message-ID; the store is). Fetching uses BODY.PEEK[], which does not set
\\Seen by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

import aioimaplib
import structlog

from adapters.email.errors import EmailTransportError

log = structlog.get_logger("adapters.email")

OnMessage = Callable[[bytes], Awaitable[None]]
_EXISTS = re.compile(rb"^\d+ EXISTS")
# Marks the IDLE queue when the connection drops, so a wait for server pushes ends.
_CONNECTION_LOST = [b"connection lost"]
_IMAP_ERRORS = (OSError, TimeoutError, aioimaplib.AioImapException)


@dataclass
class _Connection:
    """One logged-in IMAP connection with the mailbox selected."""

    client: Any
    lost: asyncio.Event = field(default_factory=asyncio.Event)
    # Set whenever the server announces a new mail (EXISTS), whatever command was running.
    new_mail: asyncio.Event = field(default_factory=asyncio.Event)


class MailboxPoller:
    """Hands every new mail in one IMAP mailbox to `on_message`, once it is handled flags it.

    `start()` runs in the background: IMAP IDLE when the server has it and `prefer_idle`
    (re-issued every `idle_seconds`), else a poll every `poll_seconds`; a dropped connection
    is retried with exponential backoff from `reconnect_seconds` to `max_reconnect_seconds`.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        user: str,
        password: str,
        on_message: OnMessage,
        mailbox: str = "INBOX",
        use_ssl: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        prefer_idle: bool = True,
        poll_seconds: float = 30.0,
        idle_seconds: float = 240.0,
        timeout: float = 30.0,
        reconnect_seconds: float = 1.0,
        max_reconnect_seconds: float = 300.0,
    ) -> None:
        self._host, self._port = host, port
        self._user, self._password = user, password
        self._on_message = on_message
        self._mailbox = mailbox
        self._use_ssl, self._ssl_context = use_ssl, ssl_context
        self._prefer_idle = prefer_idle
        self._poll_seconds, self._idle_seconds = poll_seconds, idle_seconds
        self._timeout = timeout
        self._reconnect_seconds = reconnect_seconds
        self._max_reconnect_seconds = max_reconnect_seconds
        self._task: asyncio.Task[None] | None = None
        self.uses_idle = False
        self.idling = False
        # For /health: whether the background watch is connected, and why not if it is not.
        self.connected = False
        self.last_error: str | None = None

    async def run_once(self) -> int:
        """Connect, hand over every unseen mail, log out; how many were handled."""
        connection = await self._connect()
        try:
            return await self._process_unseen(connection)
        finally:
            await self._logout(connection)

    def start(self) -> None:
        """Watch the mailbox in a background task until `stop()`."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"mailbox-poller:{self._user}@{self._host}"
            )

    async def stop(self) -> None:
        """Stop watching and log out."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # --- the background loop -------------------------------------------------------------

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                connection = await self._connect()
            except EmailTransportError as error:
                failures += 1
                await self._back_off(failures, error)
                continue
            # It worked: once it breaks, the backoff starts again from its first step.
            failures = 1
            self.connected, self.last_error = True, None
            broken = await self._watch_until_broken(connection)
            self.connected = False
            await self._back_off(failures, broken)

    async def _watch_until_broken(self, connection: _Connection) -> Exception:
        try:
            await self._watch(connection)
        except EmailTransportError as error:
            return error
        except Exception as error:  # a bug must not end the watch of the mailbox for good
            log.exception("mailbox_poller_failed", mailbox=self._mailbox)
            return error
        finally:
            await self._logout(connection)

    async def _back_off(self, failures: int, error: Exception) -> None:
        delay = min(self._max_reconnect_seconds, self._reconnect_seconds * 2 ** (failures - 1))
        # Jitter, so several instances do not reconnect in lockstep after an outage.
        delay *= random.uniform(0.8, 1.2)
        self.last_error = str(error) or type(error).__name__
        log.warning(
            "imap_unavailable",
            host=self._host,
            mailbox=self._mailbox,
            error=str(error),
            retry_in_seconds=round(delay, 2),
        )
        await asyncio.sleep(delay)

    async def _watch(self, connection: _Connection) -> NoReturn:
        while True:
            await self._process_unseen(connection)
            if self.uses_idle:
                await self._idle(connection)
            else:
                await self._wait_or_lost(connection, self._poll_seconds)

    async def _wait_or_lost(self, connection: _Connection, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(connection.lost.wait(), seconds)
        if connection.lost.is_set():
            raise EmailTransportError("IMAP connection lost")

    async def _idle(self, connection: _Connection) -> None:
        """Wait in IDLE until the server announces a new mail or `idle_seconds` pass."""
        if connection.new_mail.is_set():
            return  # announced while we were busy: no need to wait
        client = connection.client
        try:
            idle = await asyncio.wait_for(
                client.idle_start(timeout=self._idle_seconds), self._timeout
            )
        except _IMAP_ERRORS as error:
            raise EmailTransportError(f"IMAP IDLE failed: {error}") from error
        self.idling = True
        try:
            await self._wait_for_push(connection)
        finally:
            self.idling = False
            await self._end_idle(connection, idle)

    async def _wait_for_push(self, connection: _Connection) -> None:
        client = connection.client
        while not connection.new_mail.is_set():
            try:
                push = await client.wait_server_push(timeout=self._idle_seconds + self._timeout)
            except TimeoutError as error:
                raise EmailTransportError("IMAP server went silent during IDLE") from error
            if push is _CONNECTION_LOST or connection.lost.is_set():
                raise EmailTransportError("IMAP connection lost during IDLE")
            if push == aioimaplib.STOP_WAIT_SERVER_PUSH:
                return  # idle_seconds are up: leave IDLE, look again, re-issue it

    async def _end_idle(self, connection: _Connection, idle: asyncio.Future[Any]) -> None:
        if connection.lost.is_set():
            idle.cancel()
            return
        with contextlib.suppress(*_IMAP_ERRORS):
            connection.client.idle_done()
            await asyncio.wait_for(idle, self._timeout)

    # --- one round -----------------------------------------------------------------------

    async def _process_unseen(self, connection: _Connection) -> int:
        handled = 0
        attempted: set[int] = set()
        while True:
            connection.new_mail.clear()
            # NOOP first: a server may only show mail that arrived since the last command
            # once a command completes, and SEARCH would not see it yet.
            await self._command(connection, "NOOP", connection.client.noop)
            # Mail that failed this round waits for the next round, not a busy loop.
            uids = [uid for uid in await self._unseen_uids(connection) if uid not in attempted]
            if not uids:
                return handled
            for uid in uids:
                attempted.add(uid)
                if await self._process(connection, uid):
                    handled += 1

    async def _unseen_uids(self, connection: _Connection) -> list[int]:
        response = await self._command(
            connection,
            "UID SEARCH",
            lambda: connection.client.uid_search("UNSEEN", charset=None),
        )
        uids = {
            int(token)
            for line in response.lines[:-1]
            if isinstance(line, bytes | bytearray)
            for token in bytes(line).split()
            if token.isdigit()
        }
        return sorted(uids)

    async def _process(self, connection: _Connection, uid: int) -> bool:
        """Hand one mail over and flag it; False if the handler failed (left unflagged)."""
        raw = await self._fetch(connection, uid)
        if raw is None:
            return False  # deleted meanwhile
        try:
            await self._on_message(raw)
        except Exception:
            log.exception("email_handling_failed", uid=uid, mailbox=self._mailbox)
            return False
        await self._command(
            connection,
            "UID STORE",
            lambda: connection.client.uid("store", str(uid), "+FLAGS.SILENT", r"(\Seen)"),
        )
        return True

    async def _fetch(self, connection: _Connection, uid: int) -> bytes | None:
        response = await self._command(
            connection,
            "UID FETCH",
            lambda: connection.client.uid("fetch", str(uid), "BODY.PEEK[]"),
        )
        # The literal (the mail itself) is the one bytearray among the response lines.
        for line in response.lines:
            if isinstance(line, bytearray):
                return bytes(line)
        return None

    # --- connection ----------------------------------------------------------------------

    async def _connect(self) -> _Connection:
        if self._use_ssl:
            client = aioimaplib.IMAP4_SSL(
                self._host, self._port, timeout=self._timeout, ssl_context=self._ssl_context
            )
        else:
            client = aioimaplib.IMAP4(self._host, self._port, timeout=self._timeout)
        connection = _Connection(client)
        self._watch_protocol(connection)
        try:
            await self._log_in(connection)
        except BaseException:  # failed or cancelled: do not leave the socket open
            await self._logout(connection)
            raise
        self.uses_idle = self._prefer_idle and client.has_capability("IDLE")
        log.info("imap_connected", host=self._host, mailbox=self._mailbox, idle=self.uses_idle)
        return connection

    async def _log_in(self, connection: _Connection) -> None:
        client = connection.client
        try:
            await asyncio.wait_for(client.wait_hello_from_server(), self._timeout)
        except _IMAP_ERRORS as error:
            raise EmailTransportError(
                f"cannot connect to IMAP server {self._host}:{self._port}: {error!r}"
            ) from error
        # aioimaplib sends the user name and the mailbox name as they are: quote them.
        user, mailbox = aioimaplib.quoted(self._user), aioimaplib.quoted(self._mailbox)
        await self._command(connection, "LOGIN", lambda: client.login(user, self._password))
        await self._command(connection, "SELECT", lambda: client.select(mailbox))

    @staticmethod
    def _watch_protocol(connection: _Connection) -> None:
        protocol = connection.client.protocol

        def connection_lost(error: Exception | None) -> None:
            connection.lost.set()
            protocol.idle_queue.put_nowait(_CONNECTION_LOST)

        # aioimaplib drops untagged EXISTS that arrive during other commands (and IMAP4_SSL
        # takes no callback for a lost connection); both are needed so no new mail is missed
        # and no wait outlives the connection. Pinned aioimaplib==2.0.3.
        untagged_response = protocol._untagged_response

        def spy(line: bytes) -> Any:
            if _EXISTS.match(line.removeprefix(b"* ")):
                connection.new_mail.set()
            return untagged_response(line)

        protocol.conn_lost_cb = connection_lost
        protocol._untagged_response = spy

    async def _command(
        self, connection: _Connection, name: str, call: Callable[[], Awaitable[Any]]
    ) -> Any:
        """Run one IMAP command with a deadline; anything but OK is an EmailTransportError."""
        if connection.lost.is_set():
            raise EmailTransportError(f"IMAP connection lost before {name}")
        try:
            response = await asyncio.wait_for(call(), self._timeout)
        except _IMAP_ERRORS as error:
            raise EmailTransportError(f"IMAP {name} failed: {error!r}") from error
        if response.result != "OK":
            said = b" ".join(bytes(line) for line in response.lines[-1:]).decode(errors="replace")
            raise EmailTransportError(f"IMAP {name} refused: {response.result} {said}")
        return response

    async def _logout(self, connection: _Connection) -> None:
        client = connection.client
        transport = client.protocol.transport
        if transport is None:
            client._client_task.cancel()  # still connecting
            return
        if not connection.lost.is_set() and not transport.is_closing():
            with contextlib.suppress(*_IMAP_ERRORS):
                await asyncio.wait_for(client.logout(), min(self._timeout, 5.0))
        if not transport.is_closing():
            transport.close()
