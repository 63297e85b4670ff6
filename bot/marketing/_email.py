"""Campaign e-mail over SMTP with ``aiosmtplib`` (to the shop's own mail server or relay)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Literal

import aiosmtplib

from bot.marketing._campaigns import CampaignMessage
from bot.marketing._delivery import Handover
from bot.marketing._errors import DeliveryFailed, InvalidMarketingRequest

logger = logging.getLogger(__name__)

Security = Literal["none", "starttls", "tls"]
SUBJECT_CHARS = 60
# E-mail cannot be answered with "退订" into a conversation: each message carries a link.
FOOTER = {
    "zh": "不想再收到此类邮件？退订：{link}",
    "en": "No more of these e-mails? Unsubscribe: {link}",
}


@dataclass(frozen=True)
class SmtpConfig:
    """Where campaign e-mail goes out, and as whom."""

    host: str
    sender: str
    port: int = 587
    security: Security = "starttls"
    username: str | None = None
    password: str | None = None
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if self.security not in ("none", "starttls", "tls"):
            raise InvalidMarketingRequest("SMTP security must be 'none', 'starttls' or 'tls'")
        if "@" not in self.sender:
            raise InvalidMarketingRequest(
                "the SMTP sender must be an address like shop@example.com"
            )


class EmailCourier:
    """Delivers campaign messages on the ``email`` channel as plain-text e-mail."""

    def __init__(self, config: SmtpConfig) -> None:
        self._config = config

    def compose(self, message: CampaignMessage) -> EmailMessage:
        """The e-mail: its subject is the copy's first line, its body the copy and a footer."""
        if not message.address:
            raise DeliveryFailed("the contact has no e-mail address")
        first_line = message.text.strip().splitlines()[0] if message.text.strip() else ""
        subject = first_line[:SUBJECT_CHARS] + ("…" if len(first_line) > SUBJECT_CHARS else "")
        email = EmailMessage()
        email["From"] = self._config.sender
        email["To"] = message.address
        email["Subject"] = subject
        # RFC 8058 one-click unsubscribe: mail providers show a button that POSTs to the link.
        email["List-Unsubscribe"] = f"<{message.unsubscribe}>"
        email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        footer = FOOTER["en" if message.language == "en" else "zh"].format(link=message.unsubscribe)
        email.set_content(f"{message.text}\n\n--\n{footer}\n")
        return email

    async def deliver(self, message: CampaignMessage) -> Handover:
        """Hand the e-mail to the SMTP server: "sent" once it accepted it (a bounce later
        is the mailbox's, not read here)."""
        email = self.compose(message)
        config = self._config
        try:
            await aiosmtplib.send(
                email,
                hostname=config.host,
                port=config.port,
                username=config.username,
                password=config.password,
                use_tls=config.security == "tls",
                start_tls=config.security == "starttls",
                timeout=config.timeout_s,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            # The server's answer says what is wrong (unknown recipient, relay refused, down).
            raise DeliveryFailed(f"the SMTP server did not take the e-mail: {exc}") from exc
        return Handover("sent")
