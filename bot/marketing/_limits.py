"""Who may be sent a marketing message now: a recorded opt-in on the channel, outside quiet
hours in the customer's time zone, under the frequency caps. One place for the rule."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.marketing._errors import InvalidMarketingRequest

Refusal = Literal["no_consent", "quiet_hours", "frequency_cap"]
CHANNEL = re.compile(r"[a-z0-9_-]{1,32}")
CUSTOMER_ID = re.compile(r"[^\x00-\x1f\x7f]{1,128}")
CAMPAIGN = re.compile(r"[A-Za-z0-9_.-]{1,64}")


@dataclass(frozen=True)
class ContactPolicy:
    """Frequency caps (rolling windows) and quiet hours (in the customer's own time zone)."""

    max_per_day: int = 1
    max_per_week: int = 3
    quiet_start: time = time(21, 0)
    quiet_end: time = time(9, 0)
    default_timezone: str = "Asia/Shanghai"

    def __post_init__(self) -> None:
        if self.max_per_day < 0 or self.max_per_week < 0:
            raise InvalidMarketingRequest("frequency caps cannot be negative")
        zone(self.default_timezone)

    def quiet_at(self, moment: datetime, timezone: str) -> bool:
        """Whether ``moment`` falls in the quiet hours where the customer lives."""
        local = moment.astimezone(zone(timezone or self.default_timezone, self.default_timezone))
        clock = local.time().replace(tzinfo=None)
        if self.quiet_start == self.quiet_end:
            return False
        if self.quiet_start < self.quiet_end:
            return self.quiet_start <= clock < self.quiet_end
        return clock >= self.quiet_start or clock < self.quiet_end

    def over_cap(self, earlier: list[datetime], moment: datetime) -> bool:
        """Whether one more send at ``moment`` would break a cap, given the earlier sends."""
        day = sum(1 for at in earlier if moment - timedelta(days=1) < at <= moment)
        week = sum(1 for at in earlier if moment - timedelta(days=7) < at <= moment)
        return day >= self.max_per_day or week >= self.max_per_week


def zone(name: str, fallback: str | None = None) -> ZoneInfo:
    """The IANA time zone ``name``; ``fallback`` when given and ``name`` is unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        if fallback is not None:
            return ZoneInfo(fallback)
        raise InvalidMarketingRequest(
            f"unknown time zone {name!r}; use an IANA name such as 'Asia/Shanghai'"
        ) from exc


def check_ids(customer_id: str, channel: str) -> None:
    """Refuse ids that could not be a customer or a channel, saying which and why."""
    problems = []
    if not CUSTOMER_ID.fullmatch(customer_id or "") or not customer_id.strip():
        problems.append("customer_id must be 1 to 128 visible characters")
    if not CHANNEL.fullmatch(channel or ""):
        problems.append(
            f"channel must be 1 to 32 lower-case letters, digits, '-' or '_', not {channel!r}"
        )
    if problems:
        raise InvalidMarketingRequest("; ".join(problems))


@dataclass(frozen=True)
class Admission:
    """The answer to "may this customer get this campaign's message now?"."""

    customer_id: str
    channel: str
    campaign: str
    at: datetime
    refused: Refusal | None = None
    # The send recorded for the caps when admitted (a reservation until the courier is done:
    # ``MarketingService.release`` takes it back when the delivery fails).
    send_id: int | None = None

    @property
    def admitted(self) -> bool:
        return self.refused is None


# Whole-message opt-out words: "STOP" is an opt-out, "don't stop my order" is not.
OPT_OUT_WORDS = frozenset(
    {"退订", "取消订阅", "退订营销", "td", "t", "stop", "unsubscribe", "stop all", "opt out"}
)
_PUNCTUATION = re.compile(r"[\s\W_]+", re.UNICODE)


def is_opt_out(text: str) -> bool:
    """Whether the whole message asks to stop marketing (退订, STOP, unsubscribe...)."""
    folded = unicodedata.normalize("NFKC", text or "").casefold()
    words = _PUNCTUATION.sub(" ", folded).strip()
    return words in OPT_OUT_WORDS


OPT_OUT_CONFIRMATION = {
    "zh": "已为您退订营销消息，之后不会再向您发送推广内容。如需重新订阅，请告诉我们。",
    "en": "You are unsubscribed: we will send you no more marketing messages. "
    "Tell us if you want them back.",
}
