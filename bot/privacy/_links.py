"""The link a customer downloads their export from, after asking for it in the chat.

The token names the customer (channel and sender) and when it expires, encrypted and signed
with the hub's secret (Fernet: AES-CBC with an HMAC-SHA256 over it), so it cannot be forged,
altered or made to name someone else. Encrypted, not only signed: a web-chat sender is the
session id, which reopens the session's history, and a link's path ends up in proxies' access
logs; a signed-only token (itsdangerous) would show it to whoever reads them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from cryptography.fernet import Fernet, InvalidToken

from bot.privacy._errors import ExportLinkExpired, ExportLinkInvalid, InvalidPrivacyRequest
from bot.privacy._rights import Subject
from bot.storage import utcnow

EXPORT_LINK_TTL = timedelta(minutes=15)
DOWNLOAD_PATH = "/privacy/download/"
TOKEN_FORMAT = 1
WEB_CHAT = "webchat"  # the one channel whose client resolves a relative link
# The secret may sign other things too (or be reused by an operator): the key is derived per use.
_KEY_LABEL = b"privacy-export-link"
_INVALID = "this download link is not valid: it was changed, cut short or made by another hub"


class ExportLinks:
    """Makes and reads the expiring links to a customer's export (``/privacy/download/<token>``):
    absolute on ``base_url`` when the hub has a public address; else relative in web chat, whose
    widget resolves it against the hub it talks to, and on ``fallback_url`` (the hub's own
    address) in the messaging apps, where a relative link leads nowhere."""

    def __init__(
        self,
        secret: str,
        base_url: str | None = None,
        *,
        fallback_url: str | None = None,
        ttl: timedelta = EXPORT_LINK_TTL,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if len(secret) < 16:
            raise InvalidPrivacyRequest("the export link secret must be at least 16 characters")
        derived = hmac.new(secret.encode(), _KEY_LABEL, hashlib.sha256).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))
        self._base_url = (base_url or "").rstrip("/")
        self._fallback_url = (fallback_url or "").rstrip("/")
        self.ttl = ttl
        self.clock = clock  # the time now; tests move it

    def token(self, subject: Subject) -> tuple[str, datetime]:
        """A token for ``subject``'s export, and when it expires."""
        expires = int((self.clock() + self.ttl).timestamp())
        claims = {"v": TOKEN_FORMAT, "c": subject.channel, "s": subject.sender, "e": expires}
        token = self._fernet.encrypt(json.dumps(claims, separators=(",", ":")).encode())
        return token.decode("ascii"), datetime.fromtimestamp(expires, UTC)

    def link(self, subject: Subject) -> tuple[str, datetime]:
        """The download link for ``subject``'s export, and when it expires."""
        token, expires = self.token(subject)
        base = self._base_url
        if not base and subject.channel != WEB_CHAT:
            base = self._fallback_url
        return f"{base}{DOWNLOAD_PATH}{token}", expires

    def subject(self, token: str) -> Subject:
        """Whose export ``token`` opens; ``ExportLinkInvalid`` when it is not one of this
        hub's tokens, ``ExportLinkExpired`` when its time is up."""
        try:
            claims = json.loads(self._fernet.decrypt(token.encode("ascii")))
        except (InvalidToken, UnicodeEncodeError, binascii.Error, ValueError) as exc:
            raise ExportLinkInvalid(_INVALID) from exc
        if not isinstance(claims, dict) or claims.get("v") != TOKEN_FORMAT:
            raise ExportLinkInvalid(_INVALID)
        channel, sender, expires = claims.get("c"), claims.get("s"), claims.get("e")
        if not isinstance(channel, str) or not isinstance(sender, str):
            raise ExportLinkInvalid(_INVALID)
        if not isinstance(expires, int) or isinstance(expires, bool):
            raise ExportLinkInvalid(_INVALID)
        if self.clock() >= datetime.fromtimestamp(expires, UTC):
            minutes = int(self.ttl.total_seconds() // 60)
            raise ExportLinkExpired(
                f"this download link has expired (links last {minutes} minutes); ask for your "
                "data again in the chat: 导出我的数据 / export my data"
            )
        try:
            return Subject(channel, sender)
        except InvalidPrivacyRequest as exc:
            raise ExportLinkInvalid(_INVALID) from exc
