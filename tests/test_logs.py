from __future__ import annotations

import logging

import pytest

from bot.privacy import RedactingFilter, redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("call me at 13812345678", "call me at <phone>"),
        ("call +86 138-1234-5678 now", "call <phone> now"),
        ("mail zhang.san@example.com.cn", "mail <email>"),
        ("id 11010519491231002X ok", "id <id-number> ok"),
        ("card 6222021234567890123", "card <card-number>"),
        ("order 20261128001 is late", "order 20261128001 is late"),
        ("nothing personal", "nothing personal"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_filter_redacts_arguments_and_tracebacks() -> None:
    record = logging.LogRecord(
        "x", logging.ERROR, __file__, 1, "customer %s wrote", ("13812345678",), None
    )
    try:
        raise ValueError("bad phone 13912345678")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    assert RedactingFilter().filter(record) is True
    assert record.getMessage() == "customer <phone> wrote"
    assert record.exc_text is not None
    assert "13912345678" not in record.exc_text
    assert "bad phone <phone>" in record.exc_text
