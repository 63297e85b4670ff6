"""Identified web-chat customers (identity verification, as Intercom and Chatwoot do it).

The shop's own site, where the customer is logged in, renders the widget with the customer's id
and ``HMAC-SHA256(secret, id)`` computed on its server; the browser never sees the secret, so
it cannot name another customer. The hub accepts the id only when the hash matches; otherwise
the session stays anonymous and the widget is told why (never a silent identity).

Without an expiry the hash is a bearer credential of one customer for as long as the secret
stands: it proves the shop's server rendered it, not when (rotating
``BOT_WEBCHAT_IDENTITY_SECRET`` voids every hash). The shop may sign an expiry in too: the
widget sends ``customer_expires`` (unix seconds) and the hash is
``HMAC-SHA256(secret, "<id>:<expires>")`` (an id cannot hold ':', so the two forms never read as
each other); ``BOT_WEBCHAT_IDENTITY_MAX_AGE_S`` makes the expiry required and bounds how far
ahead it may lie. The expiry is checked when the widget connects (and on each reconnect).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

# The shop's customer ids this channel accepts: what order stores and CRMs use, and nothing a
# page or a log could read as markup or as another sender's form.
CUSTOMER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
CUSTOMER_HASH = re.compile(r"[0-9a-fA-F]{64}")
# The keys of socket.io's connect ``auth`` object (the widget's ``data-customer-id`` and
# ``data-customer-hash``).
ID_KEY = "customer_id"
HASH_KEY = "customer_hash"
EXPIRES_KEY = "customer_expires"  # the widget's ``data-customer-expires``
EXPIRES = re.compile(r"[0-9]{1,12}")  # whole unix seconds, as a number or its digits
# Without a max age, an expiry further ahead than this is a mistake (milliseconds for seconds).
MAX_EXPIRY_S = 366 * 24 * 3600
# How far the shop's clock may run ahead of the hub's when it stamps the longest allowed expiry.
CLOCK_SKEW_S = 60


class IdentityRefused(Exception):
    """A customer id the hub does not accept; ``reason`` names why for the widget."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def customer_hash(secret: str, customer_id: str, expires: int | None = None) -> str:
    """What the shop's server computes: hex ``HMAC-SHA256(secret, customer_id)``, or with an
    expiry (unix seconds) ``HMAC-SHA256(secret, f"{customer_id}:{expires}")``."""
    signed = customer_id if expires is None else f"{customer_id}:{expires}"
    return hmac.new(secret.encode(), signed.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class CustomerIdentity:
    """Checks the id, hash and expiry a widget presents; ``secret`` None: identification is off.
    ``max_age_s`` above 0 requires an expiry at most that far ahead; 0 takes hashes without one.
    """

    secret: str | None
    max_age_s: int = 0
    clock: Callable[[], float] = field(default=time.time)

    def claimed(self, auth: Any) -> bool:
        """Whether the client presents an identity at all (an anonymous widget does not)."""
        return isinstance(auth, dict) and any(
            auth.get(key) is not None for key in (ID_KEY, HASH_KEY, EXPIRES_KEY)
        )

    def verify(self, auth: Any) -> str:
        """The verified customer id, or ``IdentityRefused`` saying what is wrong."""
        request = auth if isinstance(auth, dict) else {}
        given_id, given_hash = request.get(ID_KEY), request.get(HASH_KEY)
        if self.secret is None:
            raise IdentityRefused(
                "identity_off",
                "this hub does not identify web-chat customers (BOT_WEBCHAT_IDENTITY_SECRET is "
                "unset); the chat stays anonymous",
            )
        if not isinstance(given_id, str) or not CUSTOMER_ID.fullmatch(given_id):
            raise IdentityRefused(
                "bad_customer_id",
                "customer_id must be 1 to 64 letters, digits, '_', '.', '@' or '-', starting "
                "with a letter or digit",
            )
        if not isinstance(given_hash, str) or not CUSTOMER_HASH.fullmatch(given_hash):
            raise IdentityRefused(
                "bad_customer_hash",
                "customer_hash must be the 64 hex digits of HMAC-SHA256(secret, customer_id), "
                "computed by the shop's server",
            )
        expires = self._expires(request.get(EXPIRES_KEY))
        expected = customer_hash(self.secret, given_id, expires)
        if not hmac.compare_digest(expected, given_hash.lower()):
            signed = "customer_id" if expires is None else "customer_id:customer_expires"
            raise IdentityRefused(
                "wrong_customer_hash",
                f"customer_hash does not match {signed}; the chat stays anonymous",
            )
        if expires is not None:
            self._check_expiry(expires)
        return given_id

    def _expires(self, given: Any) -> int | None:
        """The expiry the widget sent (None: none), or why it cannot be one."""
        if given is None or given == "":
            if self.max_age_s > 0:
                raise IdentityRefused(
                    "bad_customer_expires",
                    "this hub requires customer_expires (BOT_WEBCHAT_IDENTITY_MAX_AGE_S is set): "
                    "the shop's server signs HMAC-SHA256(secret, customer_id + ':' + expires)",
                )
            return None
        text = str(given) if isinstance(given, int) and not isinstance(given, bool) else given
        if not isinstance(text, str) or not EXPIRES.fullmatch(text):
            raise IdentityRefused(
                "bad_customer_expires",
                "customer_expires must be whole unix seconds (digits), like 1767225600",
            )
        return int(text)

    def _check_expiry(self, expires: int) -> None:
        """An expiry in the past, or further ahead than this hub allows, is refused."""
        now = self.clock()
        if expires <= now:
            raise IdentityRefused(
                "expired_customer_hash",
                "customer_expires has passed: the shop's page must render a fresh "
                "customer_hash; the chat stays anonymous",
            )
        limit = self.max_age_s if self.max_age_s > 0 else MAX_EXPIRY_S
        if expires > now + limit + CLOCK_SKEW_S:
            raise IdentityRefused(
                "bad_customer_expires",
                f"customer_expires lies more than {limit} seconds ahead (unix seconds, not "
                "milliseconds; BOT_WEBCHAT_IDENTITY_MAX_AGE_S bounds it)",
            )


def identity_outcome(customer_id: str | None, refused: IdentityRefused | None) -> dict[str, Any]:
    """The ``identity`` event the widget gets after ``session_confirm``."""
    if refused is not None:
        return {
            "verified": False,
            "customer_id": None,
            "error": {"reason": refused.reason, "detail": str(refused)},
        }
    return {"verified": True, "customer_id": customer_id}
