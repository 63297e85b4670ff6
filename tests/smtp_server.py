"""A real SMTP server (aiosmtpd) on a free port, recording what it accepted."""

from __future__ import annotations

import email
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller

from tests.launch import free_port


@dataclass
class Mailbox:
    """What the SMTP server accepted; recipients with "bounce" in the address are refused."""

    port: int = field(default_factory=free_port)
    messages: list[Message] = field(default_factory=list)

    # aiosmtpd's hook names
    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if "bounce" in address:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 Message accepted"


def body_of(mail: Message) -> str:
    """The decoded text of a plain-text message."""
    payload = mail.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


@contextmanager
def smtp_server() -> Iterator[Mailbox]:
    """Serve a Mailbox on 127.0.0.1 until the block ends."""
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=mailbox.port)
    controller.start()
    try:
        yield mailbox
    finally:
        controller.stop()
