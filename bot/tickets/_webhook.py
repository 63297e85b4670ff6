"""The shop's optional webhook: JSON bodies signed with HMAC-SHA256."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import timedelta

SIGNATURE_HEADER = "X-Ticket-Signature"


@dataclass(frozen=True)
class WebhookConfig:
    """Where ticket events are posted and the shared secret that signs them."""

    url: str
    secret: str = field(repr=False)
    timeout: timedelta = timedelta(seconds=5)
    first_retry: timedelta = timedelta(seconds=30)  # doubles with each failure…
    max_retry: timedelta = timedelta(hours=1)  # …up to this; a post is never given up

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"webhook URL {self.url!r} must start with http:// or https://")
        if len(self.secret) < 16:
            raise ValueError("webhook secret must be at least 16 characters long")

    def retry_after(self, attempts: int) -> timedelta:
        """How long to wait after the ``attempts``-th failure."""
        return min(self.max_retry, self.first_retry * (1 << min(attempts - 1, 20)))


def sign(secret: str, body: bytes) -> str:
    """The signature header value of ``body``: ``sha256=<hex HMAC-SHA256>``."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: str, body: bytes, header: str) -> bool:
    """Whether ``header`` is the signature of ``body`` (constant-time comparison)."""
    return hmac.compare_digest(sign(secret, body), header)
