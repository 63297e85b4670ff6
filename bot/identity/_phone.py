"""A phone number as one comparable form, its keyed hash, and the words that ask to link.

Hand-written normalisation rather than ``phonenumbers``: the apps hand over numbers they have
verified themselves, in E.164 (``+8613800138000``) or the mainland's national form
(``13800138000``); only equality between two apps' forms matters here, never validity or display.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from bot.identity._errors import InvalidPhone

MIN_DIGITS, MAX_DIGITS = 7, 15  # E.164 allows at most 15 digits
CHINA = "86"
_SEPARATORS = re.compile(r"[\s\-().]")
# What a customer writes to link this app to their other apps (compared whole, case-folded).
LINK_WORDS = frozenset(
    {"/link", "link", "link my phone", "link my account", "绑定", "绑定手机", "绑定手机号"}
)


def normalize_phone(raw: str) -> str:
    """``+<country><number>``; a mainland number without a country code gets +86."""
    text = _SEPARATORS.sub("", raw.strip())
    if text.startswith("00"):
        text = "+" + text[2:]
    digits = text.removeprefix("+")
    if not digits.isdigit() or not MIN_DIGITS <= len(digits) <= MAX_DIGITS:
        raise InvalidPhone(
            f"a phone number must be {MIN_DIGITS} to {MAX_DIGITS} digits, optionally after '+'"
        )
    if not text.startswith("+") and len(digits) == 11 and digits.startswith("1"):
        digits = CHINA + digits  # the mainland's national mobile form
    return "+" + digits


class PhoneHasher:
    """HMAC-SHA256 of the normalized number under the hub's secret: equal numbers give equal
    hashes, and the number cannot be read back or guessed without the secret (PIPL art. 6)."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the phone-hash key must be at least 16 bytes")
        self._key = key

    def __call__(self, phone: str) -> str:
        return hmac.new(self._key, normalize_phone(phone).encode(), hashlib.sha256).hexdigest()


def is_link_request(text: str) -> bool:
    """Whether a message asks to link this app to the customer's other apps."""
    return text.strip().casefold() in LINK_WORDS
