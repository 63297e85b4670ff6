"""SLA arithmetic: due times counted in business hours (weekdays and holidays included), with the
time a ticket waits on the customer left out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType

from bot.handoff import BusinessHours
from bot.tickets._model import PRIORITIES


@dataclass(frozen=True)
class SlaTarget:
    """How much business time a priority allows before the first reply and before resolution."""

    first_response: timedelta
    resolution: timedelta


DEFAULT_TARGETS = MappingProxyType(
    {
        "P1": SlaTarget(timedelta(hours=1), timedelta(hours=8)),
        "P2": SlaTarget(timedelta(hours=4), timedelta(hours=24)),
        "P3": SlaTarget(timedelta(hours=8), timedelta(hours=48)),
        "P4": SlaTarget(timedelta(hours=24), timedelta(hours=96)),
    }
)


@dataclass(frozen=True)
class SlaPolicy:
    """SLA targets per priority, and what the SLA job does."""

    targets: Mapping[str, SlaTarget] = field(default_factory=lambda: DEFAULT_TARGETS)
    due_soon: timedelta = timedelta(hours=1)  # "due soon" this long before a due time
    raise_priority_on_breach: bool = True  # a missed resolution makes the ticket one step higher
    close_resolved_after: timedelta = timedelta(days=4)  # resolved tickets close by themselves

    def __post_init__(self) -> None:
        missing = set(PRIORITIES) - set(self.targets)
        if missing:
            raise ValueError(f"SLA targets lack {', '.join(sorted(missing))}")
        for priority, target in self.targets.items():
            if target.first_response <= timedelta(0) or target.resolution < target.first_response:
                raise ValueError(
                    f"SLA target of {priority}: first response must be positive and resolution "
                    "no shorter than it"
                )


def add_business_time(hours: BusinessHours, start: datetime, duration: timedelta) -> datetime:
    """The moment ``duration`` of working time after ``start`` has passed."""
    remaining = duration
    for begin, end in hours.intervals(start):
        if remaining <= end - begin:
            return begin + remaining
        remaining -= end - begin
    raise AssertionError("BusinessHours.intervals is endless")  # pragma: no cover


def business_time_between(hours: BusinessHours, start: datetime, end: datetime) -> timedelta:
    """How much working time lies between ``start`` and ``end``."""
    total = timedelta(0)
    if end <= start:
        return total
    for begin, finish in hours.intervals(start):
        if begin >= end:
            break
        total += min(finish, end) - begin
    return total


def due_times(
    hours: BusinessHours,
    target: SlaTarget,
    started_at: datetime,
    paused: timedelta,
) -> tuple[datetime, datetime]:
    """First-response and resolution due times of a clock started at ``started_at`` that stood
    still for ``paused`` of business time."""
    return (
        add_business_time(hours, started_at, target.first_response + paused),
        add_business_time(hours, started_at, target.resolution + paused),
    )
