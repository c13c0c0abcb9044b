"""Codes reach the phone or mailbox on the record; on the embedded demo with no provider
configured they go to the local outbox, and with real business systems they are never
written anywhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.code_sender import ChannelCodeSender, CodeNotSent
from bot.core.settings import Settings
from tests.support.mail import smtp_server


async def test_the_demo_outbox_holds_codes_when_no_provider_is_configured(tmp_path: Path) -> None:
    sender = ChannelCodeSender(Settings(var_dir=tmp_path))
    await sender.send_email("Alice.Morgan@example.com", "Your code", "Your code is 123456.")
    await sender.send_sms("+447700900001", "Your code is 654321.")
    mail = tmp_path / "outbox" / "email-alice.morgan@example.com.txt"
    sms = tmp_path / "outbox" / "sms-+447700900001.txt"
    assert "123456" in mail.read_text() and "654321" in sms.read_text()
    assert mail.stat().st_mode & 0o777 == 0o600


async def test_nothing_is_written_for_real_business_systems(tmp_path: Path) -> None:
    settings = Settings(
        var_dir=tmp_path, business_backend="http", business_api_url="http://127.0.0.1:9"
    )
    with pytest.raises(CodeNotSent):
        await ChannelCodeSender(settings).send_sms("+447700900001", "Your code is 123456.")
    assert not (tmp_path / "outbox").exists()


async def test_a_code_mail_goes_through_smtp(tmp_path: Path) -> None:
    with smtp_server() as smtp:
        settings = Settings(
            var_dir=tmp_path,
            smtp_host=smtp.host,
            smtp_port=smtp.port,
            smtp_security="none",
            email_from_address="support@shop.example",
        )
        await ChannelCodeSender(settings).send_email(
            "alice.morgan@example.com", "Your verification code", "Your code is 123456."
        )
        (mail,) = smtp.wait_for(1)
    assert mail.message["To"] == "alice.morgan@example.com"
    assert mail.message["Auto-Submitted"] == "auto-generated"
    assert "123456" in mail.message.get_content()
    assert not (tmp_path / "outbox").exists()
