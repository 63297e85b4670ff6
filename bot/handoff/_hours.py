"""When human agents work: daily opening hours in the business's time zone, on working weekdays,
except holidays."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_SPEC = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
EVERY_DAY = frozenset(range(7))
# A search for the next working time gives up after this many days (a setting with no working day
# left would otherwise loop forever).
_HORIZON_DAYS = 3660


class InvalidBusinessHours(ValueError):
    """The business hours setting cannot be read."""


@dataclass(frozen=True)
class BusinessHours:
    """Agents work from ``opens`` to ``closes``, local time, on ``weekdays`` (Monday is 0) that are
    not ``holidays``; a shift may pass midnight and then belongs to the day it started on."""

    opens: time
    closes: time
    zone: ZoneInfo
    weekdays: frozenset[int] = EVERY_DAY
    holidays: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if not self.weekdays:
            raise InvalidBusinessHours("business hours need at least one working weekday")
        if not self.weekdays <= EVERY_DAY:
            raise InvalidBusinessHours(
                f"working weekdays are 0 (Monday) to 6 (Sunday), not {sorted(self.weekdays)}"
            )

    @classmethod
    def parse(
        cls,
        spec: str,
        zone: str,
        weekdays: str | None = None,
        holidays: Iterable[str | date] = (),
    ) -> BusinessHours:
        """From "09:00-21:00", an IANA zone name such as "Asia/Shanghai", optionally working
        weekdays such as "mon-fri" or "mon-fri,sun" and holiday dates such as "2026-10-01"."""
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
        days = EVERY_DAY if weekdays is None else parse_weekdays(weekdays)
        return cls(time(h1, m1), closes, tz, days, frozenset(_holiday(h) for h in holidays))

    @property
    def always_open(self) -> bool:
        """Open around the clock on working days."""
        return self.opens == self.closes

    def is_working_day(self, day: date) -> bool:
        """Whether a shift starts on ``day`` (a working weekday and not a holiday)."""
        return day.weekday() in self.weekdays and day not in self.holidays

    def is_open(self, moment: datetime) -> bool:
        """Whether agents are working at ``moment`` (timezone-aware)."""
        local = moment.astimezone(self.zone)
        today, now = local.date(), local.time()
        if self.always_open:
            return self.is_working_day(today)
        if self.opens < self.closes:
            return self.is_working_day(today) and self.opens <= now < self.closes
        # The shift passes midnight: its early hours belong to the previous day's shift.
        return (now >= self.opens and self.is_working_day(today)) or (
            now < self.closes and self.is_working_day(today - timedelta(days=1))
        )

    def next_opening(self, moment: datetime) -> datetime:
        """The next time agents start working after ``moment`` (``moment`` itself if open)."""
        if self.is_open(moment):
            return moment
        return next(self.intervals(moment))[0].astimezone(self.zone)

    def intervals(self, start: datetime) -> Iterator[tuple[datetime, datetime]]:
        """The working periods from ``start`` on, in order, as UTC ``(begin, end)`` pairs; the
        first is cut at ``start`` when ``start`` falls inside it. Endless: stop when you have
        enough."""
        start = start.astimezone(UTC)
        day = start.astimezone(self.zone).date() - timedelta(days=1)
        idle_days = 0
        while idle_days < _HORIZON_DAYS:
            shift = self._shift(day)
            day += timedelta(days=1)
            if shift is None or shift[1] <= start:
                idle_days += 1
                continue
            idle_days = 0
            yield max(shift[0], start), shift[1]
        raise InvalidBusinessHours(f"no working day within {_HORIZON_DAYS} days of {start}")

    def _shift(self, day: date) -> tuple[datetime, datetime] | None:
        if not self.is_working_day(day):
            return None
        begin = datetime.combine(day, self.opens, tzinfo=self.zone)
        ends_next_day = self.always_open or self.closes <= self.opens
        end_day = day + timedelta(days=1) if ends_next_day else day
        end = datetime.combine(end_day, self.closes, tzinfo=self.zone)
        return begin.astimezone(UTC), end.astimezone(UTC)


def parse_weekdays(spec: str) -> frozenset[int]:
    """Working weekdays from "mon-fri", "mon,wed,fri" or "mon-fri,sun" (Monday is 0)."""
    days: set[int] = set()
    for part in spec.lower().replace(" ", "").split(","):
        first, _, last = part.partition("-")
        if first not in WEEKDAY_NAMES or (last and last not in WEEKDAY_NAMES):
            raise InvalidBusinessHours(
                f"working weekdays {spec!r} are not like 'mon-fri' or 'mon,wed,fri' "
                f"(days: {', '.join(WEEKDAY_NAMES)})"
            )
        begin = WEEKDAY_NAMES.index(first)
        end = WEEKDAY_NAMES.index(last) if last else begin
        if end < begin:
            raise InvalidBusinessHours(f"working weekdays {part!r} run backwards; write 'mon-fri'")
        days.update(range(begin, end + 1))
    return frozenset(days)


def _holiday(value: str | date) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value.strip())
    except ValueError as exc:
        raise InvalidBusinessHours(f"holiday {value!r} is not a date like '2026-10-01'") from exc
