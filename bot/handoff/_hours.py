"""When human agents work: daily opening hours in the business's time zone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_SPEC = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


class InvalidBusinessHours(ValueError):
    """The business hours setting cannot be read."""


@dataclass(frozen=True)
class BusinessHours:
    """Agents work daily from ``opens`` to ``closes``, local time; a shift may pass midnight."""

    opens: time
    closes: time
    zone: ZoneInfo

    @classmethod
    def parse(cls, spec: str, zone: str) -> BusinessHours:
        """From "09:00-21:00" and an IANA zone name such as "Asia/Shanghai"."""
        match = _SPEC.match(spec)
        if not match:
            raise InvalidBusinessHours(f"business hours {spec!r} are not like '09:00-21:00'")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
            raise InvalidBusinessHours(f"business hours {spec!r} hold an impossible time")
        try:
            tz = ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise InvalidBusinessHours(f"unknown time zone {zone!r}") from exc
        closes = time(0, 0) if h2 == 24 else time(h2, m2)
        return cls(time(h1, m1), closes, tz)

    @property
    def always_open(self) -> bool:
        return self.opens == self.closes

    def is_open(self, moment: datetime) -> bool:
        """Whether agents are working at ``moment`` (timezone-aware)."""
        if self.always_open:
            return True
        local = moment.astimezone(self.zone).time()
        if self.opens < self.closes:
            return self.opens <= local < self.closes
        return local >= self.opens or local < self.closes  # the shift passes midnight

    def next_opening(self, moment: datetime) -> datetime:
        """The next time agents start working after ``moment`` (``moment`` itself if open)."""
        if self.is_open(moment):
            return moment
        local = moment.astimezone(self.zone)
        today = datetime.combine(local.date(), self.opens, tzinfo=self.zone)
        return today if today > local else today + timedelta(days=1)
