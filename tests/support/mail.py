"""Real mail servers for the email tests: Dovecot (IMAP) and aiosmtpd (SMTP), on free ports.

`dovecot_server(tmp_path)` runs Debian's `/usr/sbin/dovecot` with a throwaway configuration
(one user, a maildir under `tmp_path`, IMAP on loopback without TLS); `smtp_server()` runs
aiosmtpd in a thread and keeps what it receives.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import grp
import imaplib
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from bot.testing.ports import free_port

DOVECOT = os.environ.get("TEST_DOVECOT", "/usr/sbin/dovecot")
START_TIMEOUT_SECONDS = 15.0
STOP_TIMEOUT_SECONDS = 10.0
# Dovecot's unix sockets live under base_dir and a socket path may be at most 107 bytes.
MAX_BASE_DIR_LENGTH = 70
FLAGS_PATTERN = re.compile(rb"UID (\d+) FLAGS \(([^)]*)\)")
APPENDUID_PATTERN = re.compile(rb"APPENDUID \d+ (\d+)")


class MailServerError(RuntimeError):
    """A test mail server did not start; the message carries its log."""


@dataclass
class DovecotServer:
    """A running Dovecot with one mailbox user; helpers talk to it with the stdlib imaplib."""

    host: str
    port: int
    user: str
    password: str
    maildir: Path
    log_path: Path

    def append(self, raw: bytes, mailbox: str = "INBOX") -> int:
        """Deliver `raw` into `mailbox` (IMAP APPEND, no flags); the new mail's UID."""
        with self._session() as imap:
            status, data = imap.append(mailbox, "", None, raw)
        if status != "OK":
            raise MailServerError(f"APPEND to {mailbox} failed: {data!r}")
        found = APPENDUID_PATTERN.search(b" ".join(d for d in data if isinstance(d, bytes)))
        return int(found.group(1)) if found else 0

    def flags(self, mailbox: str = "INBOX") -> dict[int, set[str]]:
        """Every mail's flags by UID, without the per-session `\\Recent`."""
        with self._session() as imap:
            status, _ = imap.select(mailbox, readonly=True)
            if status != "OK":
                raise MailServerError(f"cannot select {mailbox}")
            status, data = imap.uid("FETCH", "1:*", "(FLAGS)")
        flags: dict[int, set[str]] = {}
        for item in data:
            line = item[0] if isinstance(item, tuple) else item
            found = FLAGS_PATTERN.search(line) if isinstance(line, bytes) else None
            if found:
                words = found.group(2).decode().split()
                flags[int(found.group(1))] = {w for w in words if w != "\\Recent"}
        return flags

    def flags_of_all(self, mailbox: str = "INBOX") -> list[set[str]]:
        """Every mail's flags in UID order, without `\\Recent`."""
        by_uid = self.flags(mailbox)
        return [by_uid[uid] for uid in sorted(by_uid)]

    def log_tail(self, lines: int = 30) -> str:
        """The end of Dovecot's log, for error messages."""
        return _tail(self.log_path, lines)

    @contextlib.contextmanager
    def _session(self) -> Iterator[imaplib.IMAP4]:
        imap = imaplib.IMAP4(self.host, self.port, timeout=10)
        try:
            imap.login(self.user, self.password)
            yield imap
        finally:
            with contextlib.suppress(imaplib.IMAP4.error, OSError):
                imap.logout()


@contextlib.contextmanager
def dovecot_server(tmp_path: Path) -> Iterator[DovecotServer]:
    """Dovecot serving IMAP on 127.0.0.1:<free port> for the duration of the block."""
    if not os.access(DOVECOT, os.X_OK):
        raise MailServerError(
            f"{DOVECOT} not found; install Debian's dovecot-imapd (make setup-dev) "
            "or point TEST_DOVECOT at a dovecot binary."
        )
    root = tmp_path / "dovecot"
    root.mkdir(parents=True, exist_ok=True)
    base_dir = root / "run"
    short_base: str | None = None
    if len(str(base_dir)) > MAX_BASE_DIR_LENGTH:
        short_base = tempfile.mkdtemp(prefix="dovecot-")
        base_dir = Path(short_base)
    server = DovecotServer(
        host="127.0.0.1",
        port=free_port(),
        user="customer-service",
        password="imap-test-password",
        maildir=root / "mail" / "customer-service" / "Maildir",
        log_path=root / "dovecot.log",
    )
    config = _write_dovecot_config(root, base_dir, server)
    output = (root / "dovecot.out").open("wb")
    process = subprocess.Popen(
        [DOVECOT, "-F", "-c", str(config)], stdout=output, stderr=subprocess.STDOUT
    )
    try:
        _wait_until_serving(process, server, root)
        yield server
    finally:
        _stop(process)
        output.close()
        if short_base is not None:
            shutil.rmtree(short_base, ignore_errors=True)


def _write_dovecot_config(root: Path, base_dir: Path, server: DovecotServer) -> Path:
    for directory in (base_dir, root / "state", server.maildir.parent):
        directory.mkdir(parents=True, exist_ok=True)
    users = root / "users"
    users.write_text(f"{server.user}:{{PLAIN}}{server.password}\n", encoding="utf-8")
    mail_root = server.maildir.parent.parent
    if os.geteuid() == 0:
        # Dovecot refuses to run login and mail processes as root. Mail runs as `nobody`,
        # chrooted into the mail root: the path above it (pytest's 0700 temp dir) stays closed
        # to `nobody`, but chroot() happens while still root.
        nobody = pwd.getpwnam("nobody")
        uid, gid = nobody.pw_uid, nobody.pw_gid
        os.chown(server.maildir.parent, uid, gid)
        internal, group, login = "root", "root", "nobody"
        home = f"{mail_root}/./%u"
    else:
        me = pwd.getpwuid(os.geteuid())
        uid, gid = me.pw_uid, me.pw_gid
        internal = login = me.pw_name
        group = grp.getgrgid(me.pw_gid).gr_name
        home = f"{mail_root}/%u"
    config = root / "dovecot.conf"
    config.write_text(
        DOVECOT_CONFIG.format(
            base_dir=base_dir,
            state_dir=root / "state",
            log_path=server.log_path,
            users=users,
            mail_root=mail_root,
            home=home,
            uid=uid,
            gid=gid,
            internal_user=internal,
            internal_group=group,
            login_user=login,
            port=server.port,
        ),
        encoding="utf-8",
    )
    return config


DOVECOT_CONFIG = """\
# Throwaway configuration written by tests/support/mail.py.
protocols = imap
listen = 127.0.0.1
base_dir = {base_dir}
state_dir = {state_dir}
instance_name = dovecot-test-{port}
log_path = {log_path}
info_log_path = {log_path}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
# A wrong password is answered at once, not after the default 2 s.
auth_failure_delay = 0
default_internal_user = {internal_user}
default_internal_group = {internal_group}
default_login_user = {login_user}
first_valid_uid = 1
valid_chroot_dirs = {mail_root}
mail_location = maildir:~/Maildir
# Without inotify Dovecot looks for new mail this often while a client IDLEs.
mailbox_idle_check_interval = 1 secs
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {users}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={home}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""


def _wait_until_serving(
    process: subprocess.Popen[bytes], server: DovecotServer, root: Path
) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with server._session() as imap:
                imap.select("INBOX")
            return
        except (OSError, imaplib.IMAP4.error) as error:
            last_error = error
            time.sleep(0.05)
    raise MailServerError(
        f"Dovecot did not start serving IMAP on {server.host}:{server.port} "
        f"(exit code {process.poll()}, last error {last_error!r}).\n"
        f"--- dovecot output ---\n{_tail(root / 'dovecot.out', 30)}\n"
        f"--- dovecot log ---\n{_tail(server.log_path, 30)}"
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _tail(path: Path, lines: int) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --- SMTP ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedMail:
    """One message the SMTP server accepted."""

    envelope_from: str
    envelope_to: tuple[str, ...]
    raw: bytes
    message: EmailMessage


@dataclass
class SmtpCapture:
    """An SMTP server on loopback that keeps every message it accepts."""

    host: str
    port: int
    received: list[ReceivedMail] = field(default_factory=list)
    _condition: threading.Condition = field(default_factory=threading.Condition)

    def add(self, mail: ReceivedMail) -> None:
        """Keep a received message (called from the server's thread)."""
        with self._condition:
            self.received.append(mail)
            self._condition.notify_all()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedMail]:
        """The first `count` messages, waiting up to `timeout` seconds for them."""
        with self._condition:
            if not self._condition.wait_for(lambda: len(self.received) >= count, timeout):
                raise AssertionError(
                    f"expected {count} message(s) within {timeout}s, got {len(self.received)}"
                )
            return list(self.received[:count])


class _CaptureHandler:
    def __init__(self, capture: SmtpCapture, refuse: Collection[str]) -> None:
        self._capture = capture
        self._refuse = {address.lower() for address in refuse}

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address.lower() in self._refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        data = raw if isinstance(raw, bytes) else raw.encode("utf-8")
        message = email.message_from_bytes(data, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self._capture.add(
            ReceivedMail(
                envelope_from=envelope.mail_from or "",
                envelope_to=tuple(envelope.rcpt_tos),
                raw=data,
                message=message,
            )
        )
        return "250 Message accepted for delivery"


@contextlib.contextmanager
def smtp_server(
    *, credentials: tuple[str, str] | None = None, refuse: Collection[str] = ()
) -> Iterator[SmtpCapture]:
    """aiosmtpd on 127.0.0.1:<free port>; `refuse` recipients get a 550; with `credentials`
    (user, password) it offers AUTH PLAIN/LOGIN without TLS and checks them (AUTH stays
    optional: aiosmtpd warns about required AUTH without TLS)."""
    capture = SmtpCapture(host="127.0.0.1", port=free_port())
    options: dict[str, Any] = {}
    if credentials is not None:
        options = {"authenticator": _authenticator(credentials), "auth_require_tls": False}
    controller = Controller(
        _CaptureHandler(capture, refuse), hostname=capture.host, port=capture.port, **options
    )
    controller.start()
    try:
        yield capture
    finally:
        controller.stop()


def _authenticator(credentials: tuple[str, str]) -> Any:
    expected = (credentials[0].encode(), credentials[1].encode())

    def authenticate(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            expected
        )
        return AuthResult(success=ok, handled=False)

    return authenticate
