"""Pure rules of the ticketing module: status transitions, priority rules, business hours with
weekdays and holidays, and SLA arithmetic across nights, weekends, holidays and DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

import bot.tickets
from bot.handoff import BusinessHours, InvalidBusinessHours
from bot.tickets import (
    STATUSES,
    TRANSITIONS,
    InvalidStatusChange,
    InvalidTicket,
    PriorityDecision,
    PriorityRules,
    SlaPolicy,
    SlaTarget,
    TicketError,
    add_business_time,
    business_time_between,
    check_transition,
    decide_priority,
    due_times,
    raise_priority,
    sign,
    verify,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(day: int, hour: int, minute: int = 0, month: int = 12) -> datetime:
    """A moment in Shanghai in 2026 (2026-12-02 is a Wednesday)."""
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


@pytest.fixture
def office() -> BusinessHours:
    return BusinessHours.parse("09:00-18:00", "Asia/Shanghai", "mon-fri", ["2026-12-07"])


# ---- transitions ---------------------------------------------------------------------------


def test_transition_table_is_the_whole_lifecycle() -> None:
    assert dict(TRANSITIONS) == {
        "new": {"open", "pending_customer", "resolved", "closed"},
        "open": {"pending_customer", "resolved", "closed"},
        "pending_customer": {"open", "resolved", "closed"},
        "resolved": {"reopened", "closed"},
        "reopened": {"open", "pending_customer", "resolved", "closed"},
        "closed": set(),
    }


@pytest.mark.parametrize(
    ("current", "wanted"),
    [(c, w) for c in STATUSES for w in STATUSES if w in TRANSITIONS[c]],
)
def test_allowed_transitions_pass(current: str, wanted: str) -> None:
    check_transition("T-20261202-0001", current, wanted)


@pytest.mark.parametrize(
    ("current", "wanted", "message"),
    [
        (
            "new",
            "reopened",
            "cannot go from new to reopened; from new it can go to closed, open, pending_customer, resolved",
        ),
        ("open", "new", "cannot go from open to new"),
        ("resolved", "open", "from resolved it can go to closed, reopened"),
        ("closed", "reopened", "from closed it can go to nothing: it is final"),
        ("open", "open", "is open already"),
    ],
)
def test_invalid_transitions_say_what_is_possible(current: str, wanted: str, message: str) -> None:
    with pytest.raises(InvalidStatusChange, match=message):
        check_transition("T-20261202-0001", current, wanted)


def test_unknown_status_is_a_bad_value() -> None:
    with pytest.raises(InvalidTicket, match="status 'done' is unknown; use one of new, open"):
        check_transition("T-20261202-0001", "open", "done")


def test_every_public_error_is_exported_and_a_ticket_error() -> None:
    errors = [
        getattr(bot.tickets, name)
        for name in bot.tickets.__all__
        if isinstance(getattr(bot.tickets, name), type)
        and issubclass(getattr(bot.tickets, name), Exception)
    ]
    assert {e.__name__ for e in errors} == {
        "TicketError",
        "InvalidTicket",
        "TicketNotFound",
        "InvalidStatusChange",
        "StaleTicket",
        "IdempotencyConflict",
    }
    assert all(issubclass(e, TicketError) and e.__doc__ for e in errors)


# ---- priority ------------------------------------------------------------------------------

RULES = PriorityRules()


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        (
            {"category": "product", "text": "What colours does it come in?"},
            PriorityDecision("P4", ("category product: P4",)),
        ),
        (
            {"category": "payment", "text": "payment failed"},
            PriorityDecision("P2", ("category payment: P2",)),
        ),
        (
            {"category": "order", "text": "我被重复扣款了"},
            PriorityDecision("P2", ("category order: P3", "keyword '重复扣款': at least P2")),
        ),
        (
            {"category": "other", "text": "I will call my LAWYER today"},
            PriorityDecision("P1", ("category other: P4", "keyword 'lawyer': at least P1")),
        ),
        (
            # "sue" is a whole word only: "issue" must not match.
            {"category": "other", "text": "there is an issue with the app"},
            PriorityDecision("P4", ("category other: P4",)),
        ),
        (
            {"category": "delivery", "text": "still nothing", "angry": True},
            PriorityDecision("P1", ("category delivery: P3", "angry customer: at least P1")),
        ),
        (
            {"category": "delivery", "text": "still nothing", "sentiment": -0.8},
            PriorityDecision(
                "P2", ("category delivery: P3", "negative sentiment -0.80: one step up")
            ),
        ),
        (
            {"category": "delivery", "text": "still nothing", "sentiment": -0.2},
            PriorityDecision("P3", ("category delivery: P3",)),
        ),
        (
            {"category": "product", "text": "size?", "vip_tier": "Platinum"},
            PriorityDecision("P2", ("category product: P4", "VIP tier Platinum: 2 step(s) up")),
        ),
        (
            {"category": "complaint", "text": "要去12315投诉", "angry": True, "vip_tier": "gold"},
            PriorityDecision("P1", ("category complaint: P2", "keyword '12315': at least P1")),
        ),
    ],
)
def test_priority_rules(kwargs: dict[str, object], expected: PriorityDecision) -> None:
    assert decide_priority(RULES, **kwargs) == expected  # type: ignore[arg-type]


def test_priority_rules_are_configurable() -> None:
    rules = PriorityRules(
        by_category={**dict(RULES.by_category), "product": "P3"},
        keywords={"P2": ("broken",)},
        angry_floor="P2",
    )
    assert decide_priority(rules, category="product", text="It arrived broken", angry=True) == (
        PriorityDecision("P2", ("category product: P3", "keyword 'broken': at least P2"))
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"by_category": {"order": "P0"}},
            r"by_category\['order'\] is 'P0'; use one of P1, P2, P3, P4",
        ),
        ({"by_category": {"order": "P1"}}, "by_category lacks a priority for account, complaint"),
        ({"keywords": {"urgent": ("x",)}}, "a keywords key is 'urgent'"),
        ({"angry_floor": "high"}, "angry_floor is 'high'"),
    ],
)
def test_bad_priority_rules(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PriorityRules(**kwargs)  # type: ignore[arg-type]


def test_raise_priority_stops_at_p1() -> None:
    assert [raise_priority(p) for p in ("P4", "P3", "P2", "P1")] == ["P3", "P2", "P1", "P1"]


# ---- business hours ------------------------------------------------------------------------


def test_existing_business_hours_keep_working_every_day() -> None:
    daily = BusinessHours.parse("09:00-21:00", "Asia/Shanghai")
    assert daily.weekdays == frozenset(range(7))
    assert daily.holidays == frozenset()
    assert daily.is_open(local(5, 10))  # a Saturday
    assert daily.next_opening(local(5, 22)) == local(6, 9)


def test_weekdays_and_holidays(office: BusinessHours) -> None:
    assert office.weekdays == frozenset({0, 1, 2, 3, 4})
    assert office.holidays == frozenset({date(2026, 12, 7)})
    assert office.is_open(local(4, 17, 59))  # Friday
    assert not office.is_open(local(4, 18))
    assert not office.is_open(local(5, 10))  # Saturday
    assert not office.is_open(local(7, 10))  # Monday, a holiday
    assert office.next_opening(local(4, 18, 30)) == local(8, 9)  # Tuesday


def test_overnight_shift_belongs_to_the_day_it_starts() -> None:
    nights = BusinessHours.parse("22:00-06:00", "Asia/Shanghai", "mon-fri")
    assert nights.is_open(local(5, 1))  # Saturday 01:00: Friday's shift
    assert not nights.is_open(local(6, 1))  # Sunday 01:00: Saturday has no shift
    assert not nights.is_open(local(5, 23))
    assert nights.next_opening(local(5, 12)) == local(7, 22)  # Monday night


def test_round_the_clock_on_weekdays() -> None:
    weekdays = BusinessHours.parse("00:00-24:00", "UTC", "mon-fri")
    assert weekdays.always_open
    assert weekdays.is_open(datetime(2026, 12, 4, 23, 59, tzinfo=UTC))
    assert not weekdays.is_open(datetime(2026, 12, 5, 0, 0, tzinfo=UTC))
    assert weekdays.next_opening(datetime(2026, 12, 5, 12, tzinfo=UTC)) == datetime(
        2026, 12, 7, 0, 0, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("weekdays", "holidays", "message"),
    [
        ("weekdays", (), "working weekdays 'weekdays' are not like 'mon-fri'"),
        ("fri-mon", (), "working weekdays 'fri-mon' run backwards"),
        ("mon-fri", ("2026-13-01",), "holiday '2026-13-01' is not a date like '2026-10-01'"),
    ],
)
def test_bad_weekdays_and_holidays(weekdays: str, holidays: tuple[str, ...], message: str) -> None:
    with pytest.raises(InvalidBusinessHours, match=message):
        BusinessHours.parse("09:00-18:00", "UTC", weekdays, holidays)


def test_no_working_weekday_is_refused() -> None:
    with pytest.raises(InvalidBusinessHours, match="at least one working weekday"):
        BusinessHours(time(9), time(18), ZoneInfo("UTC"), frozenset())


# ---- SLA arithmetic ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "duration", "due"),
    [
        (local(2, 10), timedelta(hours=1), local(2, 11)),  # inside a day
        (local(2, 17), timedelta(hours=2), local(3, 10)),  # across the night
        (local(2, 22), timedelta(hours=1), local(3, 10)),  # opened at night
        (local(2, 9), timedelta(hours=24), local(4, 15)),  # several days
        (local(4, 17, 30), timedelta(hours=1), local(8, 9, 30)),  # weekend, then Monday's holiday
        (local(5, 12), timedelta(hours=8), local(8, 17)),  # opened on Saturday
        (local(4, 18), timedelta(hours=9), local(8, 18)),  # ends exactly at closing
    ],
)
def test_add_business_time(
    office: BusinessHours, start: datetime, duration: timedelta, due: datetime
) -> None:
    assert add_business_time(office, start, duration) == due


@pytest.mark.parametrize(
    ("start", "end", "worked"),
    [
        (local(2, 10), local(2, 12), timedelta(hours=2)),
        (local(4, 17), local(8, 10), timedelta(hours=2)),  # Friday evening to Tuesday morning
        (local(5, 8), local(6, 20), timedelta(0)),  # the whole weekend
        (local(3, 12), local(2, 12), timedelta(0)),  # backwards
        (local(2, 0), local(3, 0), timedelta(hours=9)),
    ],
)
def test_business_time_between(
    office: BusinessHours, start: datetime, end: datetime, worked: timedelta
) -> None:
    assert business_time_between(office, start, end) == worked


def test_business_time_across_a_daylight_saving_change() -> None:
    new_york = BusinessHours.parse("09:00-17:00", "America/New_York", "mon-fri")
    zone = ZoneInfo("America/New_York")
    # Clocks go forward on Sunday 2026-03-08; working hours stay 09:00-17:00 local.
    friday = datetime(2026, 3, 6, 16, 0, tzinfo=zone)
    assert add_business_time(new_york, friday, timedelta(hours=2)) == datetime(
        2026, 3, 9, 10, 0, tzinfo=zone
    )


def test_due_times_move_by_the_paused_time(office: BusinessHours) -> None:
    target = SlaTarget(timedelta(hours=1), timedelta(hours=8))
    assert due_times(office, target, local(2, 10), timedelta(0)) == (local(2, 11), local(2, 18))
    # Nine business hours waiting on the customer: resolution moves a full working day.
    assert due_times(office, target, local(2, 10), timedelta(hours=9)) == (
        local(3, 11),
        local(3, 18),
    )


@pytest.mark.parametrize(
    ("targets", "message"),
    [
        ({"P1": SlaTarget(timedelta(hours=1), timedelta(hours=2))}, "SLA targets lack P2, P3, P4"),
        (
            {
                p: SlaTarget(timedelta(hours=2), timedelta(hours=1))
                for p in ("P1", "P2", "P3", "P4")
            },
            "resolution no shorter than it",
        ),
    ],
)
def test_bad_sla_policy(targets: dict[str, SlaTarget], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SlaPolicy(targets=targets)


def test_webhook_signature() -> None:
    body = b'{"ticket":"T-20261202-0001"}'
    signature = sign("a-secret-of-16-chars", body)
    assert (
        signature
        == "sha256=" + __import__("hmac").new(b"a-secret-of-16-chars", body, "sha256").hexdigest()
    )
    assert verify("a-secret-of-16-chars", body, signature)
    assert not verify("a-secret-of-16-chars", body + b" ", signature)
