"""Identified web-chat customers (identity verification, as Intercom and Chatwoot do it).

The shop's own site, where the customer is logged in, renders the widget with the customer's id
and ``HMAC-SHA256(secret, id)`` computed on its server; the browser never sees the secret, so
it cannot name another customer. The hub accepts the id only when the hash matches; otherwise
the session stays anonymous and the widget is told why (never a silent identity).

The hash is a bearer credential of one customer for as long as the secret stands: it proves the
shop's server rendered it, not when. Rotating ``BOT_WEBCHAT_IDENTITY_SECRET`` voids every hash.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from dataclasses import dataclass
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


class IdentityRefused(Exception):
    """A customer id the hub does not accept; ``reason`` names why for the widget."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def customer_hash(secret: str, customer_id: str) -> str:
    """What the shop's server computes: hex ``HMAC-SHA256(secret, customer_id)``."""
    return hmac.new(secret.encode(), customer_id.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class CustomerIdentity:
    """Checks the id and hash a widget presents; ``secret`` None: identification is off."""

    secret: str | None

    def claimed(self, auth: Any) -> bool:
        """Whether the client presents an identity at all (an anonymous widget does not)."""
        return isinstance(auth, dict) and (
            auth.get(ID_KEY) is not None or auth.get(HASH_KEY) is not None
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
        expected = customer_hash(self.secret, given_id)
        if not hmac.compare_digest(expected, given_hash.lower()):
            raise IdentityRefused(
                "wrong_customer_hash",
                "customer_hash does not match customer_id; the chat stays anonymous",
            )
        return given_id


def identity_outcome(customer_id: str | None, refused: IdentityRefused | None) -> dict[str, Any]:
    """The ``identity`` event the widget gets after ``session_confirm``."""
    if refused is not None:
        return {
            "verified": False,
            "customer_id": None,
            "error": {"reason": refused.reason, "detail": str(refused)},
        }
    return {"verified": True, "customer_id": customer_id}
