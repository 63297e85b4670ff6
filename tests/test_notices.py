from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.conversations._notices import csat_score, is_cancel, queue_notice

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_queue_notice_counts_people_ahead_and_minutes() -> None:
    text = queue_notice("zh", 3, timedelta(minutes=7, seconds=40), None, "09:00-21:00", SHANGHAI)
    assert "还有 2 位" in text
    assert "8 分钟" in text
    english = queue_notice("en", 2, timedelta(seconds=20), None, "09:00-21:00", SHANGHAI)
    assert "1 ahead of you, about 1 min" in english


def test_next_in_line_is_told_so() -> None:
    assert "马上就好" in queue_notice("zh", 1, timedelta(0), None, "09:00-21:00", SHANGHAI)


def test_after_hours_notice_says_when_agents_are_back() -> None:
    opens = datetime(2026, 11, 29, 1, 0, tzinfo=UTC)
    text = queue_notice("en", 1, timedelta(0), opens, "09:00-21:00", SHANGHAI)
    assert "back at 09:00" in text
    assert "Leave a message" in text
    assert "将于 09:00 上线" in queue_notice("zh", 1, timedelta(0), opens, "09:00-21:00", SHANGHAI)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("取消", True),
        ("Cancel", True),
        ("never mind.", True),
        ("算了！", True),
        ("/cancel_handoff", True),
        ("取消订单", False),
        ("cancel my order", False),
        ("hello", False),
    ],
)
def test_cancel_words(text: str, expected: bool) -> None:
    assert is_cancel(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5", 5),
        (" 1 ", 1),
        ("4分", 4),
        ('/csat{"score": 3}', 3),
        ("★★", 2),
        ("6", None),
        ("0", None),
        ("five", None),
        ("45", None),
    ],
)
def test_csat_scores(text: str, expected: int | None) -> None:
    assert csat_score(text) == expected
